/**
 * How long rung 1's head fit will take here (the L2 search plus the final fit), for `tl plan` and `--strategy auto`:
 * the cost of one gradient evaluation is measured now on this machine (probes of a few milliseconds on synthetic rows
 * of the real width: the wasm kernel of the fits, the JavaScript kernel of small sets and their progress curve), then
 * multiplied by the evaluation counts the search and the final fit measured on real features (EuroSAT, imagewoof,
 * imagenette, hymenoptera; see bench/head-train.ts).
 */
import { availableParallelism } from 'node:os';
import { flattenRows, softmaxObjective } from './softmax-regression.js';
import { wasmBackend, wasmPays, wasmSoftmaxObjective } from './wasm-objective.js';
import { curvePoints } from './curve-scorer.js';

/**
 * Gradient evaluations per fold over the whole coarse-to-fine walk, on 1000 training rows: measured on real
 * mobilenet-v2 features with the search's 1e-4 tolerance floor (imagewoof 1000 rows: ~95; EuroSAT 5000 rows: ~195,
 * the weak-l2 fits needing more iterations as the rows grow), hence the growth as rows^0.45.
 */
export const CV_EVALUATIONS_PER_FOLD_AT_1000 = 95;
const CV_EVALUATIONS_GROWTH = 0.45;
/**
 * Final fit from the folds' mean solution at the one-standard-error pick, on 1000 rows (imagewoof 30 iterations at
 * l2 3.16, imagenette 26 at 10); EuroSAT's 5000 rows took 88 at 0.032 (weaker picks on bigger sets), hence the growth
 * as rows^0.7; never under 20 (hymenoptera 12).
 */
export const FINAL_EVALUATIONS_AT_1000 = 28;
const FINAL_EVALUATIONS_GROWTH = 0.7;
/**
 * Worker start-up, JIT warm-up and the many tiny fits of a small set (hymenoptera's whole search: 1.4-2.2 s wall, of
 * which ~0.2 s is the fits' arithmetic), plus the command's own start and the bundle it writes, which no other stage of
 * the plan counts, seconds; plus starting TF.js on wasm. Measured on a quiet 2-core machine (hymenoptera, features
 * cached: \`tl train --strategy head\` 2.8 s wall); on a busy one (load 4) the same command took 5.7 s, which no
 * constant can cover for both.
 */
const FIXED_SECONDS = 2;
const WASM_START_SECONDS = 1.5;

function probeRows(dim: number, classes: number, rows: number) {
  const X = Array.from({ length: rows }, (_, i) =>
    Float32Array.from({ length: dim }, (_, j) => Math.sin(i * 7.1 + j * 0.37)),
  );
  const y = Int32Array.from({ length: rows }, (_, i) => i % classes);
  const theta = Float64Array.from({ length: classes * dim + classes }, (_, i) => 1e-3 * Math.cos(i));
  return { X, y, theta, grad: new Float64Array(theta.length) };
}

/**
 * Best of 5 calls after 3 warm-up calls (V8 optimizing the kernel; the wasm backend's first calls set up its
 * operators), in CPU seconds of this process: on a machine busy with other work, wall time would time the others.
 */
function bestOf5(f: () => void): number {
  for (let rep = 0; rep < 3; rep++) f();
  let best = Infinity;
  for (let rep = 0; rep < 5; rep++) {
    const t0 = process.cpuUsage();
    f();
    const used = process.cpuUsage(t0);
    best = Math.min(best, (used.user + used.system) / 1e6);
  }
  return best;
}

/** Seconds of one gradient evaluation per row x class x feature on the Float64 JavaScript kernel (`probeRows` rows). */
export function measureEvaluationCost(dim: number, classes: number, rows = 256): number {
  const p = probeRows(dim, classes, rows);
  const f = softmaxObjective(flattenRows(p.X), p.y, classes, 1);
  return bestOf5(() => f(p.theta, p.grad)) / (rows * classes * dim);
}

/**
 * The same on the wasm GEMM kernel the search and the final fit use (wasm-objective.ts), on 1024 rows (its fixed
 * cost per call is amortized over the rows as in a real fit); the JavaScript kernel's cost when wasm cannot start.
 */
export async function measureWasmEvaluationCost(dim: number, classes: number, rows = 1024): Promise<number> {
  const tf = await wasmBackend();
  if (!tf) return measureEvaluationCost(dim, classes);
  const p = probeRows(dim, classes, rows);
  const kernel = wasmSoftmaxObjective(tf, flattenRows(p.X), p.y, classes);
  try {
    const f = kernel.objective(1);
    return bestOf5(() => f(p.theta, p.grad)) / (rows * classes * dim);
  } finally {
    kernel.dispose();
  }
}

/** Per row x class x feature: `search` on the kernel the fits use, `scoring` the JavaScript progress scoring. */
export interface EvaluationCosts {
  search: number;
  scoring: number;
}

export async function measureEvaluationCosts(
  dim: number,
  classes: number,
  trainRows = Infinity,
): Promise<EvaluationCosts> {
  const scoring = measureEvaluationCost(dim, classes);
  return {
    search: wasmPays(trainRows, dim, classes) ? await measureWasmEvaluationCost(dim, classes) : scoring,
    scoring,
  };
}

export interface HeadFitShape {
  trainRows: number;
  valRows: number;
  dim: number;
  classes: number;
  folds?: number;
  threads?: number;
}

/** Estimated wall seconds of the L2 search plus the final fit, from costs measured now (measureEvaluationCosts). */
/**
 * Real fits' CPU time over the probe's price of their evaluations: the line search's extra evaluations, the softmax
 * and the transposes in JavaScript around each product, the held-out scoring and the jobs' set-up. Measured with
 * process.cpuUsage on EuroSAT (5000 rows, mobilenet-v2): search 23.7 CPU-s for 972 fold iterations priced at 11.5 by
 * the probe (2.1x); final fit 3.2 CPU-s for 88 iterations and 41 curve points priced at 1.7 (1.9x).
 */
const EVALUATION_OVERHEAD = 2;

export async function estimateHeadFitSeconds(shape: HeadFitShape, costs?: EvaluationCosts): Promise<number> {
  const { search, scoring } = costs ?? (await measureEvaluationCosts(shape.dim, shape.classes, shape.trainRows));
  const folds = shape.folds ?? 5;
  const wasm = wasmPays(shape.trainRows, shape.dim, shape.classes);
  const threads = Math.max(1, Math.min(folds, shape.threads ?? availableParallelism()));
  const unit = search * shape.classes * shape.dim;
  const scoringUnit = scoring * shape.classes * shape.dim;
  // The folds' fits share the threads without waiting for each other (select-l2.ts walks them ahead), so the search
  // takes folds / threads fold-walks of wall time.
  const perFold = CV_EVALUATIONS_PER_FOLD_AT_1000 * (shape.trainRows / 1000) ** CV_EVALUATIONS_GROWTH;
  const cv = (folds / threads) * perFold * unit * shape.trainRows * (1 - 1 / folds);
  const finalEvaluations = Math.max(
    20,
    FINAL_EVALUATIONS_AT_1000 * (shape.trainRows / 1000) ** FINAL_EVALUATIONS_GROWTH,
  );
  // The curve scores train and val at some iterations (curve-scorer.ts): one product, about half an evaluation, on the
  // fits' kernel (wasm) for big sets, in JavaScript for small ones.
  const pointUnit = wasm ? unit : scoringUnit;
  const final =
    finalEvaluations * unit * shape.trainRows +
    curvePoints(Math.round(finalEvaluations)) * pointUnit * 0.5 * (shape.trainRows + shape.valRows);
  const start = FIXED_SECONDS + (wasm ? WASM_START_SECONDS : 0);
  return start + EVALUATION_OVERHEAD * (cv + final);
}
