// Rung 1's softmax head when its training vectors do not fit its memory budget (env.headMemoryMB, TL_HEAD_MEMORY_MB):
// the vectors are written once to a float16 spill file (features/spill-file.ts) and every later pass reads it a chunk
// at a time, so the fit's memory is flat in the number of vectors:
//   1. the standardizer: two streaming passes (mean, then spread);
//   2. L2 by the same stratified 5-fold CV as in memory (head-policy.ts), on a stratified sample of the rows that fits
//      the budget (the standard way to tune a regularizer on a big set; the sample is every row when the set is small);
//   3. the final fit on ALL rows, streamed (one pass per L-BFGS evaluation), warm-started from the folds' mean;
//   4. the temperature on the sample's out-of-fold logits, as in memory.
// Under the budget head.ts keeps today's in-memory path, so small sets keep their exact answers and speed.
import { spillRows } from '../features/spill-file.js';
import { chooseL2, sampleWeightsFor, type ClassWeightMode, type L2Choice } from '../classifier/head-policy.js';
import type { L2Selection } from '../solvers/select-l2.js';
import type { SoftmaxOptions } from '../solvers/softmax-regression.js';
import type { Standardizer } from '../solvers/standardize.js';
import {
  fitStandardizerStreamed,
  gatherRows,
  stratifiedSample,
  trainSoftmaxStreamed,
  type StreamedFit,
} from '../solvers/streamed-softmax.js';
import { env } from '../util/env.js';

/**
 * Bytes the in-memory fit holds per feature value: the Float32 vectors, their standardized copy, the search's shared
 * flat copy and the folds' resident wasm copies, the final fit's and the training curve's copies (bench/head-train.ts:
 * 50,000 x 1,280 vectors peaked at 2.7 GB, ~42 bytes per value).
 */
export const IN_MEMORY_BYTES_PER_VALUE = 42;
/** The streamed L2 search never samples fewer rows than this (all of a smaller set), whatever the budget. */
export const MIN_SEARCH_ROWS = 4000;

export interface HeadMemoryPlan {
  /** True when the vectors go through a spill file. */
  stream: boolean;
  /** Rows the L2 search runs on (all rows when not streaming). */
  searchRows: number;
  /** Rows the budget holds in memory. */
  budgetRows: number;
}

/** Whether n vectors of d values fit the head's memory budget (MB; default env.headMemoryMB, 0 streams every set). */
export function headMemoryPlan(n: number, d: number, budgetMB = env.headMemoryMB): HeadMemoryPlan {
  const budgetRows = Math.floor((budgetMB * 2 ** 20) / (IN_MEMORY_BYTES_PER_VALUE * Math.max(1, d)));
  const stream = n > budgetRows;
  return { stream, searchRows: stream ? Math.min(n, Math.max(budgetRows, MIN_SEARCH_ROWS)) : n, budgetRows };
}

export interface StreamedHeadFit extends L2Choice {
  model: StreamedFit;
  standardizer: Standardizer;
  /** Sample weights of all rows (class-weighted runs). */
  sampleWeights?: Float64Array;
  /** The L2 search's rows: indices into the input, their labels and weights. */
  sample: { index: Int32Array; labels: Int32Array; weights?: Float64Array };
  /** Seconds of each stage: the spill file, the standardizer, the search (with its sample), the final fit. */
  seconds: { spill: number; standardize: number; search: number; final: number };
  /** Bytes of the spill file. */
  spillBytes: number;
}

/** A hook the caller gets once the sample is drawn (standardized rows and labels): the training curve's scorer. */
export type SampleHook = (
  rows: Float32Array[],
  labels: Int32Array,
  standardizer: Standardizer,
) => Promise<{ onIteration?: SoftmaxOptions['onIteration']; dispose(): void }>;

/**
 * Class weights → standardizer → L2 on a sample → streamed L-BFGS on all rows. `rows` is read once (it may be a
 * generator that makes them on the fly); `labels` holds one label per row.
 */
export async function fitSoftmaxHeadStreamed(
  rows: Iterable<ArrayLike<number>>,
  cols: number,
  labels: Int32Array,
  K: number,
  opts: {
    l2?: number;
    seed: number;
    classWeights?: ClassWeightMode;
    searchRows: number;
    /** Iterations of the final fit (default 500; the bench caps it to time a few passes over a big set). */
    maxIter?: number;
    onSelected?: (selection: L2Selection, seconds: number) => void;
    onSample?: SampleHook;
  },
): Promise<StreamedHeadFit> {
  const clock = () => performance.now() / 1000;
  let t = clock();
  const lap = () => {
    const now = clock();
    const s = now - t;
    t = now;
    return s;
  };
  const spill = spillRows(rows, cols);
  try {
    if (spill.rows !== labels.length) throw new Error(`${spill.rows} rows but ${labels.length} labels`);
    const spillSeconds = lap();
    const standardizer = fitStandardizerStreamed(spill);
    const standardizeSeconds = lap();
    const sampleWeights = sampleWeightsFor(labels, K, opts.classWeights);
    const index = stratifiedSample(labels, K, opts.searchRows, opts.seed);
    const sampleRows = gatherRows(spill, index, standardizer);
    const sampleLabels = Int32Array.from(index, (i) => labels[i]);
    const sampleWeightsOf = sampleWeights && Float64Array.from(index, (i) => sampleWeights[i]);
    const choice = await chooseL2(sampleRows, sampleLabels, K, {
      l2: opts.l2,
      seed: opts.seed,
      sampleWeights: sampleWeightsOf,
      onSelected: opts.onSelected,
    });
    const hook = await opts.onSample?.(sampleRows, sampleLabels, standardizer);
    const searchSeconds = lap();
    let model: StreamedFit;
    try {
      model = await trainSoftmaxStreamed(spill, labels, K, {
        l2: choice.l2,
        sampleWeights,
        init: choice.selection?.warmStart,
        standardizer,
        maxIter: opts.maxIter,
        onIteration: hook?.onIteration,
      });
    } finally {
      hook?.dispose();
    }
    return {
      ...choice,
      model,
      standardizer,
      sampleWeights,
      sample: { index, labels: sampleLabels, weights: sampleWeightsOf },
      seconds: { spill: spillSeconds, standardize: standardizeSeconds, search: searchSeconds, final: lap() },
      spillBytes: spill.bytes,
    };
  } finally {
    spill.dispose();
  }
}
