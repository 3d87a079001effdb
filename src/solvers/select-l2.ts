/**
 * Choosing the L2 strength of the softmax head: stratified, seeded k-fold cross-validation on the training split
 * (or scoring on a given validation set), over a log-spaced grid, walking each fold's path from strong to weak.
 *
 * Default grid: 11 values, half a decade apart, from l2 = 1e-4 to 10 (the objective is the MEAN cross-entropy, so
 * sklearn's C = 1 / (l2 * n): for n = 1000 this spans C = 1e-4 .. 10). On standardized 1280-d MobileNetV2 features
 * the best values sit at the strong end (1..10); the weak end is there for low-dimensional backbones and clean data.
 *
 * Selection: the one-standard-error rule on CV accuracy. Find the highest CV accuracy (ties go to the stronger l2),
 * then take the STRONGEST l2 whose CV accuracy trails it by at most one standard error of the difference, paired row
 * by row over the same held-out rows (sqrt(sum w^2 (d - mean)^2) / sum w, d = 1 where only one of the two is right:
 * about sqrt(disagreements) / n). A gap smaller than that is within the noise of which rows fell in which fold and
 * of where a search fit stopped, and the stronger value gives smaller weights and better-calibrated probabilities.
 * (imagewoof, 1000 rows: l2 1 led 3.16 by 2 rows in 1000 after a change of solver tolerance; such a near-tie no longer
 * decides.) Exact ties are the case of a zero gap. Accuracy is what we report; log-loss alone tends to pick a weaker
 * l2 that trades held-out accuracy for confidence on easy images. The CV log-loss is reported in the curve.
 *
 * Cost (`stop`): the folds walk the grid in lockstep, decade values first, and the walk stops once the CV accuracy
 * has stayed clearly below its best for two of them: weak-l2 fits are the slow ones (ill-conditioned, solved
 * tightly), and past the peak they cannot win. Then the half-decade values on either side of the best are fitted,
 * warm-started from it. The mean of the folds' solutions at the chosen l2 is returned as a warm start for the final
 * fit on all rows. `stop: false` fits every grid value in order (the reference walk).
 */
import { availableParallelism } from 'node:os';
import { Rng } from '../util/random.js';
import { env } from '../util/env.js';
import { runPath, type PathJob, type PathPointScore, type PathStep } from './l2-path.js';
import { PathPool } from './path-pool.js';
import { flattenRows, type FlatMatrix } from './softmax-regression.js';
import { wasmPays } from './wasm-objective.js';

/** n values evenly spaced in log10 from `from` to `to`, both included. */
export function logGrid(from: number, to: number, n: number): number[] {
  const a = Math.log10(from);
  const b = Math.log10(to);
  return Array.from({ length: n }, (_, i) => 10 ** (n === 1 ? a : a + ((b - a) * i) / (n - 1)));
}

export const DEFAULT_L2_GRID: readonly number[] = logGrid(1e-4, 10, 11);

export interface CvPoint {
  l2: number;
  /** Pooled over all folds (weighted by sampleWeights when given, i.e. balanced accuracy with class weights). */
  cvAccuracy: number;
  /** Mean held-out cross-entropy. */
  cvLoss: number;
  /** L-BFGS iterations summed over folds (warm-started). */
  iterations: number;
}

export interface L2Selection {
  best: number;
  /** Sorted from the strongest l2 to the weakest; only the values walked (the walk may stop past the peak). */
  curve: CvPoint[];
  /** Mean of the folds' solutions at `best`: a start for the final fit that saves most of its iterations. */
  warmStart?: { W: Float64Array; b: Float64Array };
  /**
   * Every training row's logits at `best` from the fold model that did not see it (n x K, rows in the input's order):
   * what a temperature is fitted on (temperature.ts). Only from the k-fold search.
   */
  heldOutLogits?: Float64Array;
}

/**
 * Coarse to fine: walk every `coarseStep`-th grid value toward weaker l2, stop once `patience` values in a row score
 * more than `drop` below the best CV accuracy, then fit the skipped values on either side of the best.
 */
export interface StopRule {
  coarseStep: number;
  patience: number;
  drop: number;
}

/** Decades first (half the fits), stopping two decades past a peak they trail by a point; then the half-decades. */
export const DEFAULT_STOP: StopRule = { coarseStep: 2, patience: 2, drop: 0.01 };

export interface SelectL2Options {
  grid?: readonly number[];
  folds?: number;
  seed?: number;
  sampleWeights?: Float64Array;
  /**
   * Largest gradient tolerance of the fits along the path (default 1e-3; each fit uses min(tol, max(tolFloor, 0.01*l2)),
   * so weak-l2 fits, whose optimum is far from where a loose tolerance stops, are still solved tightly). Looser than a
   * final fit's 1e-5: held-out argmaxes settle long before the last digits of the weights, and it halves the CV time.
   */
  tol?: number;
  /** Tightest tolerance of the weak-l2 fits (default 1e-4; see pathTolerance). */
  tolFloor?: number;
  maxIter?: number;
  /** Worker threads for the folds; 1 runs everything in this thread. The result is identical either way. */
  parallel?: number;
  /** When to stop walking the grid early; `false` fits every grid value. Default DEFAULT_STOP. */
  stop?: StopRule | false;
  /**
   * The folds' fits evaluate on the wasm GEMM kernel (wasm-objective.ts, ~3x faster, Float32 products) or the Float64
   * JavaScript kernel ('js'). Default: wasm when the problem is big enough to repay its start (wasmPays), unless
   * env.headKernel is 'js' (TL_HEAD_KERNEL=js). Either way the same seed gives the same bits.
   */
  kernel?: 'wasm' | 'js';
  /** Called after each l2 value, with the curve so far (progress). */
  onPoint?: (curve: readonly CvPoint[]) => void;
}

/**
 * Fold of every row: each class's rows are shuffled and dealt round-robin, continuing the dealing position from one
 * class to the next, so every fold gets each class in proportion and the folds' sizes differ by at most one.
 */
export function stratifiedFolds(y: Int32Array, numClasses: number, folds: number, rng: Rng): Int32Array {
  const fold = new Int32Array(y.length);
  const byClass: number[][] = Array.from({ length: numClasses }, () => []);
  y.forEach((label, i) => byClass[label].push(i));
  let next = 0;
  for (const rows of byClass) {
    rng.shuffle(rows);
    for (const row of rows) {
      fold[row] = next;
      next = (next + 1) % folds;
    }
  }
  return fold;
}

function checkGrid(grid: readonly number[]): number[] {
  if (grid.length === 0 || grid.some((v) => !(v >= 0 && Number.isFinite(v))))
    throw new Error('the l2 grid needs finite values >= 0');
  return [...grid].sort((a, b) => b - a); // strongest first: the easiest fit starts the warm-start chain
}

/** The highest CV accuracy; curve is strongest first, so '>' keeps the stronger value on ties. */
function highest(curve: readonly CvPoint[]): CvPoint {
  let best = curve[0];
  for (const point of curve) if (point.cvAccuracy > best.cvAccuracy + 1e-9) best = point;
  return best;
}

/**
 * Standard error of the difference in weighted accuracy between two fits scored on the same rows: a and b are 1 where
 * each is right, weights one per row (unit weights when absent).
 */
export function pairedStdErr(a: Uint8Array, b: Uint8Array, weights?: Float64Array): number {
  let sumW = 0;
  let sumWd = 0;
  for (let i = 0; i < a.length; i++) {
    const w = weights ? weights[i] : 1;
    sumW += w;
    sumWd += w * (a[i] - b[i]);
  }
  if (!(sumW > 0)) return 0;
  const mean = sumWd / sumW;
  let sq = 0;
  for (let i = 0; i < a.length; i++) {
    const w = weights ? weights[i] : 1;
    const d = a[i] - b[i] - mean;
    sq += w * w * d * d;
  }
  return Math.sqrt(sq) / sumW;
}

/**
 * The one-standard-error rule (see the top of the file): the strongest l2 within one paired standard error of the
 * highest CV accuracy. correct(l2) gives the pooled held-out rows' correctness at l2 (same row order for every l2),
 * weights their weights.
 */
export function chooseOneStdErr(
  curve: readonly CvPoint[],
  correct: (l2: number) => Uint8Array,
  weights?: Float64Array,
): number {
  const top = highest(curve);
  const topCorrect = correct(top.l2);
  for (const point of curve) {
    if (point.l2 <= top.l2) break; // strongest first: only stronger values than the top can replace it
    const gap = top.cvAccuracy - point.cvAccuracy;
    if (gap <= pairedStdErr(topCorrect, correct(point.l2), weights) + 1e-9) return point.l2;
  }
  return top.l2;
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function combine(grid: number[], perFold: PathPointScore[][]): CvPoint[] {
  return grid.map((l2, g) => {
    let correct = 0;
    let total = 0;
    let loss = 0;
    let iterations = 0;
    for (const scores of perFold) {
      correct += scores[g].correctWeight;
      total += scores[g].totalWeight;
      loss += scores[g].logLossSum;
      iterations += scores[g].iterations;
    }
    return { l2, cvAccuracy: correct / total, cvLoss: loss / total, iterations };
  });
}

function range(n: number): Int32Array {
  return Int32Array.from({ length: n }, (_, i) => i);
}

/** True when the last `patience` points of the curve all sit more than `drop` below its best accuracy. */
export function pastThePeak(curve: readonly CvPoint[], rule: StopRule): boolean {
  if (curve.length <= rule.patience) return false;
  const best = Math.max(...curve.map((p) => p.cvAccuracy));
  return curve.slice(-rule.patience).every((p) => p.cvAccuracy < best - rule.drop);
}

function meanTheta(thetas: Float64Array[], K: number, d: number): { W: Float64Array; b: Float64Array } {
  const mean = new Float64Array(K * d + K);
  for (const t of thetas) for (let i = 0; i < mean.length; i++) mean[i] += t[i] / thetas.length;
  return { W: mean.slice(0, K * d), b: mean.slice(K * d) };
}

/**
 * The coarse walk: every fold fits grid[positions[0]], then grid[positions[1]] warm-started from its own previous
 * solution, and so on. A fold that finishes a value may start its next one while other folds still fit this one (at
 * most one value ahead of the last complete one), so no core idles at the end of a value. `complete(k, steps)` gets
 * each value's steps (in fold order) as soon as all folds have it, in order, and returns whether to go on; after a
 * `false`, the fits already started past it are ignored and the queued ones dropped. Each fold's chain of fits is the
 * same whatever the timing, so the result is too.
 */
async function walk(
  pool: PathPool,
  positions: number[],
  folds: number,
  job: (g: number, f: number, from?: Float64Array) => PathJob,
  complete: (k: number, steps: PathStep[]) => boolean,
): Promise<void> {
  const done: PathStep[][] = positions.map(() => []);
  const next = new Array<number>(folds).fill(0); // next position each fold has not started
  let last = positions.length - 1; // the walk ends at this position (earlier once complete() says stop)
  let decided = -1; // positions 0..decided are complete
  // Run ahead only where another thread can use the time; in this thread it would only delay the walk.
  const ahead = pool.threads > 1 ? 2 : 1;
  await new Promise<void>((resolve, reject) => {
    const pump = () => {
      while (decided < last && done[decided + 1].filter(Boolean).length === folds) {
        decided++;
        if (!complete(decided, done[decided])) last = decided;
      }
      if (decided >= last) {
        pool.dropQueued();
        return resolve();
      }
      for (let f = 0; f < folds; f++) {
        const k = next[f];
        if (k > last || k > decided + ahead || (k > 0 && !done[k - 1][f])) continue;
        next[f]++;
        pool.submit(job(positions[k], f, k > 0 ? done[k - 1][f].theta : undefined)).then((s) => {
          if (k > last) return; // past where the walk stopped
          done[k][f] = s;
          pump();
        }, reject);
      }
    };
    pump();
  });
}

export async function selectL2(
  X: readonly Float32Array[],
  y: Int32Array,
  numClasses: number,
  opts: SelectL2Options = {},
): Promise<L2Selection> {
  const grid = checkGrid(opts.grid ?? DEFAULT_L2_GRID);
  const folds = opts.folds ?? 5;
  if (!(folds >= 2 && folds <= X.length))
    throw new Error(`folds must be between 2 and the number of rows (${X.length}), got ${folds}`);
  const stop = opts.stop ?? DEFAULT_STOP;
  const jsAsked = env.headKernel === 'js';
  const kernel = opts.kernel ?? (jsAsked || !wasmPays(X.length, X[0]?.length ?? 0, numClasses) ? 'js' : 'wasm');
  const parallel = opts.parallel ?? Math.min(folds, availableParallelism());
  const flat: FlatMatrix = flattenRows(X, parallel > 1);
  const fold = stratifiedFolds(y, numClasses, folds, new Rng(opts.seed ?? 0));
  const all = range(X.length);
  const trainIndex = Array.from({ length: folds }, (_, f) => all.filter((i) => fold[i] !== f));
  const heldOutIndex = Array.from({ length: folds }, (_, f) => all.filter((i) => fold[i] === f));
  // Grid index -> each fold's score and solution there.
  const fitted = new Map<number, { scores: PathPointScore[]; thetas: Float64Array[] }>();
  const curve = () =>
    [...fitted.keys()]
      .sort((a, b) => a - b)
      .map(
        (g) =>
          combine(
            [grid[g]],
            fitted.get(g)!.scores.map((s) => [s]),
          )[0],
      );
  const pool = PathPool.start(Math.min(parallel, folds));
  /** Fold f's fit at grid index g, warm-started from `from` (a solution of the same fold). */
  const job = (g: number, f: number, from?: Float64Array): PathJob => ({
    X: flat,
    y,
    numClasses,
    trainIndex: trainIndex[f],
    heldOutIndex: heldOutIndex[f],
    grid: [grid[g]],
    sampleWeights: opts.sampleWeights,
    tol: opts.tol ?? 1e-3,
    tolFloor: opts.tolFloor,
    maxIter: opts.maxIter ?? 500,
    init: from,
    wasm: kernel === 'wasm',
  });
  const record = (g: number, steps: PathStep[]) => {
    fitted.set(g, { scores: steps.map((s) => s.scores[0]), thetas: steps.map((s) => s.theta) });
    opts.onPoint?.(curve());
  };
  /** Fits every fold at each grid index, warm-started from the given solutions (all queued at once). */
  const fit = async (points: { g: number; from?: Float64Array[] }[]) => {
    const steps = await pool.run(points.flatMap(({ g, from }) => trainIndex.map((_, f) => job(g, f, from?.[f]))));
    points.forEach(({ g }, p) => record(g, steps.slice(p * folds, (p + 1) * folds)));
  };
  try {
    // Coarse walk, strong to weak, each value warm-started from the one before, until clearly past the peak.
    const step = stop ? stop.coarseStep : 1;
    const coarse = Array.from({ length: Math.ceil(grid.length / step) }, (_, k) => k * step);
    await walk(pool, coarse, folds, job, (k, steps) => {
      record(coarse[k], steps);
      return !(stop && pastThePeak(curve(), stop));
    });
    // Fine: the values skipped on either side of the coarse peak, warm-started from it.
    const coarseBest = grid.indexOf(highest(curve()).l2);
    const from = fitted.get(coarseBest)!.thetas;
    await fit(
      [coarseBest - 1, coarseBest + 1]
        .filter((g) => g >= 0 && g < grid.length && !fitted.has(g))
        .map((g) => ({ g, from })),
    );
  } finally {
    await pool.close();
  }
  const final = curve();
  // Held-out rows pooled fold after fold, in the same order at every l2.
  const pooledWeights =
    opts.sampleWeights &&
    Float64Array.from(
      heldOutIndex.flatMap((rows) => [...rows]),
      (i) => opts.sampleWeights![i],
    );
  const correctAt = (l2: number) => concat(fitted.get(grid.indexOf(l2))!.scores.map((s) => s.correct));
  const best = chooseOneStdErr(final, correctAt, pooledWeights);
  const thetas = fitted.get(grid.indexOf(best))!.thetas;
  return {
    best,
    curve: final,
    warmStart: meanTheta(thetas, numClasses, flat.cols),
    heldOutLogits: outOfFoldLogits(flat, heldOutIndex, thetas, numClasses),
  };
}

/** Each row's logits from the fold model that held it out, theta = [W (K x d), b (K)] per fold. */
function outOfFoldLogits(X: FlatMatrix, heldOut: Int32Array[], thetas: Float64Array[], K: number): Float64Array {
  const { data, cols: d, rows } = X;
  const out = new Float64Array(rows * K);
  heldOut.forEach((index, f) => {
    const theta = thetas[f];
    for (const i of index)
      for (let k = 0; k < K; k++) {
        let z = theta[K * d + k];
        for (let j = 0; j < d; j++) z += theta[k * d + j] * data[i * d + j];
        out[i * K + k] = z;
      }
  });
  return out;
}

/** Same path and rule, scored on a given validation set (cvAccuracy/cvLoss then mean validation accuracy/loss). */
export function selectL2OnValidation(
  Xtrain: readonly Float32Array[],
  yTrain: Int32Array,
  Xval: readonly Float32Array[],
  yVal: Int32Array,
  numClasses: number,
  opts: Pick<SelectL2Options, 'grid' | 'sampleWeights' | 'tol' | 'maxIter'> & { valWeights?: Float64Array } = {},
): L2Selection {
  const grid = checkGrid(opts.grid ?? DEFAULT_L2_GRID);
  const flat = flattenRows([...Xtrain, ...Xval]);
  const n = Xtrain.length;
  const y = new Int32Array(n + yVal.length);
  y.set(yTrain);
  y.set(yVal, n);
  let weights: Float64Array | undefined;
  if (opts.sampleWeights || opts.valWeights) {
    weights = new Float64Array(y.length).fill(1);
    if (opts.sampleWeights) weights.set(opts.sampleWeights);
    if (opts.valWeights) weights.set(opts.valWeights, n);
  }
  const { scores } = runPath({
    X: flat,
    y,
    numClasses,
    trainIndex: range(n),
    heldOutIndex: Int32Array.from({ length: yVal.length }, (_, i) => n + i),
    grid,
    sampleWeights: weights,
    tol: opts.tol ?? 1e-3,
    maxIter: opts.maxIter ?? 500,
  });
  const curve = combine(grid, [scores]);
  const best = chooseOneStdErr(curve, (l2) => scores[grid.indexOf(l2)].correct, opts.valWeights);
  return { best, curve };
}
