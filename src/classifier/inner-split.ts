// The inner validation split: held-out images carved from the TRAINING split for every decision a run makes (best
// epoch and early stopping of fine-tuning, early stopping of the MLP head). The reported validation split is read
// once, for the report, so its accuracy is not chosen on itself (issue 13: a kept epoch at 97.3% between neighbours
// at 96.0% was the val maximum, reported on val).
import { Rng } from '../util/random.js';

/** Share of each class's training images held out for decisions. */
export const INNER_VAL_FRACTION = 0.15;
/** A class needs this many training images before any is held out (the rest are too few to train on). */
export const INNER_VAL_MIN_CLASS = 4;
/** Added to the run's seed, so the inner split does not reuse the CV folds' or the shuffling's stream. */
const INNER_SPLIT_SEED_OFFSET = 7_919;

export interface InnerSplit {
  /** Rows (indices into the training split) the model is fitted on. */
  fit: number[];
  /** Rows held out for decisions; empty when every class is too small. */
  check: number[];
}

/**
 * Stratified and seeded: each class's rows are shuffled and round(fraction x count) of them (at least one) are held
 * out, when the class has INNER_VAL_MIN_CLASS rows or more. Depends on the training labels and the seed only.
 */
export function innerSplit(
  labels: ArrayLike<number>,
  numClasses: number,
  seed: number,
  fraction = INNER_VAL_FRACTION,
): InnerSplit {
  const rng = new Rng(seed + INNER_SPLIT_SEED_OFFSET);
  const byClass: number[][] = Array.from({ length: numClasses }, () => []);
  for (let i = 0; i < labels.length; i++) byClass[labels[i]].push(i);
  const held = new Uint8Array(labels.length);
  for (const rows of byClass) {
    if (rows.length < INNER_VAL_MIN_CLASS) continue;
    rng.shuffle(rows);
    const n = Math.max(1, Math.round(fraction * rows.length));
    for (const r of rows.slice(0, n)) held[r] = 1;
  }
  const fit: number[] = [];
  const check: number[] = [];
  for (let i = 0; i < labels.length; i++) (held[i] ? check : fit).push(i);
  return { fit, check };
}

/** The rows `index` of parallel arrays (features/activations, labels, paths). */
export function pickRows<T extends { labels: Int32Array; paths: string[] }>(
  set: T,
  rowsKey: keyof T,
  index: number[],
): T {
  const rows = set[rowsKey] as unknown as readonly unknown[];
  return {
    ...set,
    [rowsKey]: index.map((i) => rows[i]),
    labels: Int32Array.from(index, (i) => set.labels[i]),
    paths: index.map((i) => set.paths[i]),
  };
}
