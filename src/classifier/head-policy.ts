// How a softmax head is fitted on feature rows, the one policy for rung 1 (frozen backbone features) and for the
// head that fine-tuning starts from (the tail's initial features): class weights, CV folds, L2 strength, L-BFGS.
import { classWeights, type SoftmaxFit, type SoftmaxOptions } from '../solvers/softmax-regression.js';
import { selectL2, type L2Selection } from '../solvers/select-l2.js';
import { trainSoftmaxFast } from '../solvers/wasm-objective.js';

export type ClassWeightMode = 'auto' | 'balanced' | 'none';

/** 'auto' reweights classes when the largest has at least this many times the smallest's training images. */
export const IMBALANCE_RATIO = 1.5;
/** Folds of the L2 search: 5 (the standard linear-probe protocol), fewer when a class has fewer images. */
export const MAX_FOLDS = 5;
/** L2 when some class has under 2 images, so no CV is possible: a strong, safe default. */
export const L2_WITHOUT_CV = 1;

export type L2Source = 'user' | 'cv5-on-train' | 'default';

export function classCountsOf(labels: Int32Array, K: number): number[] {
  const c = new Array<number>(K).fill(0);
  for (const y of labels) c[y]++;
  return c;
}

/** Inverse-frequency sample weights when `mode` asks for them ('auto': only when the classes are imbalanced). */
export function sampleWeightsFor(
  labels: Int32Array,
  K: number,
  mode: ClassWeightMode = 'auto',
): Float64Array | undefined {
  const counts = classCountsOf(labels, K);
  const imbalanced = Math.max(...counts) / Math.max(1, Math.min(...counts)) >= IMBALANCE_RATIO;
  return mode === 'balanced' || (mode === 'auto' && imbalanced) ? classWeights(labels, K) : undefined;
}

export interface L2Choice {
  l2: number;
  selection?: L2Selection;
  selectedBy: L2Source;
}

/** The user's L2, else stratified k-fold CV on the training rows, else (too few images) L2_WITHOUT_CV. */
export async function chooseL2(
  X: Float32Array[],
  labels: Int32Array,
  K: number,
  opts: {
    l2?: number;
    seed: number;
    sampleWeights?: Float64Array;
    onSelected?: (selection: L2Selection, seconds: number) => void;
  },
): Promise<L2Choice> {
  if (opts.l2 !== undefined) return { l2: opts.l2, selectedBy: 'user' };
  const folds = Math.min(MAX_FOLDS, Math.min(...classCountsOf(labels, K)));
  if (folds < 2) return { l2: L2_WITHOUT_CV, selectedBy: 'default' };
  const t0 = Date.now();
  const selection = await selectL2(X, labels, K, { seed: opts.seed, folds, sampleWeights: opts.sampleWeights });
  opts.onSelected?.(selection, (Date.now() - t0) / 1000);
  return { l2: selection.best, selection, selectedBy: 'cv5-on-train' };
}

export interface SoftmaxHeadFit extends L2Choice {
  model: SoftmaxFit;
  sampleWeights?: Float64Array;
}

/** Class weights → L2 → L-BFGS softmax on standardized rows, in that order (so a seed gives the same weights). */
export async function fitSoftmaxHead(
  X: Float32Array[],
  labels: Int32Array,
  K: number,
  opts: {
    l2?: number;
    seed: number;
    classWeights?: ClassWeightMode;
    onSelected?: (selection: L2Selection, seconds: number) => void;
    onIteration?: SoftmaxOptions['onIteration'];
  },
): Promise<SoftmaxHeadFit> {
  const sampleWeights = sampleWeightsFor(labels, K, opts.classWeights);
  const choice = await chooseL2(X, labels, K, {
    l2: opts.l2,
    seed: opts.seed,
    sampleWeights,
    onSelected: opts.onSelected,
  });
  // Warm-started from the CV folds' mean solution at the chosen l2: most of the way to the optimum already.
  const model = await trainSoftmaxFast(X, labels, K, {
    l2: choice.l2,
    sampleWeights,
    init: choice.selection?.warmStart,
    onIteration: opts.onIteration,
  });
  return { ...choice, model, sampleWeights };
}
