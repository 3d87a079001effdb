/**
 * How long rung 1's head fit will take here (the L2 search plus the final fit), for `tl plan` and `--strategy auto`:
 * the cost of one gradient evaluation is measured now on this machine (a probe of a few milliseconds on synthetic rows
 * of the real width), then multiplied by the evaluation counts the search and the final fit measured on real
 * features (EuroSAT, hymenoptera; see bench/head-train.ts).
 */
import { availableParallelism } from 'node:os';
import { flattenRows, softmaxObjective } from './softmax-regression.js';

/**
 * Gradient evaluations per fold over the whole coarse-to-fine walk, on 1000 training rows: measured on real
 * mobilenet-v2 features (imagewoof 1000 rows: 115; EuroSAT 5000 rows: ~350, the weak-l2 fits needing more
 * iterations as the rows grow), hence the growth as rows^0.7.
 */
export const CV_EVALUATIONS_PER_FOLD_AT_1000 = 115;
/**
 * Final fit from the folds' mean solution, on 1000 rows (imagewoof 29, imagenette 23; EuroSAT's 5000 rows at l2 0.01
 * took 147: weaker chosen l2 on bigger sets), never under 20 (hymenoptera 21).
 */
export const FINAL_EVALUATIONS_AT_1000 = 25;
/** Worker start-up and the fold bookkeeping, seconds. */
const FIXED_SECONDS = 0.5;

/** Seconds of one gradient evaluation per row x class x feature, on `probeRows` synthetic rows (best of 3). */
export function measureEvaluationCost(dim: number, classes: number, probeRows = 256): number {
  const rows = Array.from({ length: probeRows }, (_, i) => Float32Array.from({ length: dim }, (_, j) => Math.sin(i * 7.1 + j * 0.37)));
  const y = Int32Array.from({ length: probeRows }, (_, i) => i % classes);
  const f = softmaxObjective(flattenRows(rows), y, classes, 1);
  const theta = Float64Array.from({ length: classes * dim + classes }, (_, i) => 1e-3 * Math.cos(i));
  const grad = new Float64Array(theta.length);
  f(theta, grad); // warm-up: lets V8 optimize the kernel before it is timed
  let best = Infinity;
  for (let rep = 0; rep < 3; rep++) {
    const t0 = performance.now();
    f(theta, grad);
    best = Math.min(best, (performance.now() - t0) / 1000);
  }
  return best / (probeRows * classes * dim);
}

export interface HeadFitShape {
  trainRows: number;
  valRows: number;
  dim: number;
  classes: number;
  folds?: number;
  threads?: number;
}

/** Estimated wall seconds of the L2 search plus the final fit. */
export function estimateHeadFitSeconds(shape: HeadFitShape, costPerUnit = measureEvaluationCost(shape.dim, shape.classes)): number {
  const folds = shape.folds ?? 5;
  const threads = Math.max(1, Math.min(folds, shape.threads ?? availableParallelism()));
  const unit = costPerUnit * shape.classes * shape.dim;
  // Folds run in waves of `threads`: 5 folds on 2 threads take 3 waves.
  const perFold = CV_EVALUATIONS_PER_FOLD_AT_1000 * (shape.trainRows / 1000) ** 0.7;
  const cv = Math.ceil(folds / threads) * perFold * unit * shape.trainRows * (1 - 1 / folds);
  const finalEvaluations = Math.max(20, FINAL_EVALUATIONS_AT_1000 * (shape.trainRows / 1000) ** 1.1);
  // Each final iteration also scores train and val for the progress curve: about half an evaluation over those rows.
  const final = finalEvaluations * unit * (shape.trainRows + 0.5 * (shape.trainRows + shape.valRows));
  return FIXED_SECONDS + cv + final;
}
