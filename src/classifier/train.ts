// trainClassifier: the one entry point for every rung. It loads the dataset, lets `auto` plan, and dispatches to rung 1
// (train-head.ts: a new head on frozen features) or to fine-tuning (finetune/train.ts: rungs 2 and 3). The two rungs
// are siblings: they share types (train-types.ts) and the head policy (head-policy.ts), never each other.
import { loadDataset, datasetWarnings, usedClassCounts, type Dataset } from '../data/dataset.js';
import { planTraining } from '../finetune/plan.js';
import { finetuneClassifier } from '../finetune/train.js';
import { trainHeadClassifier } from './train-head.js';
import { TlError } from '../util/errors.js';
import { isFusedSpec } from '../backbone/fused.js';
import {
  DEFAULT_STRATEGY,
  finetuneOptionsOf,
  headOptionsOf,
  type RungContext,
  type TrainOptions,
  type TrainResult,
} from './train-types.js';

export type {
  TrainOptions,
  HeadTrainOptions,
  FinetuneTrainOptions,
  AutoTrainOptions,
  CommonTrainOptions,
  TrainEvent,
  TrainResult,
  HistoryPoint,
  HeadSpec,
  Strategy,
  TrainConfig,
  HeadConfig,
  FinetuneConfig,
} from './train-types.js';
export { DEFAULT_STRATEGY } from './train-types.js';

export async function trainClassifier(data: string | Dataset, opts: TrainOptions = {}): Promise<TrainResult> {
  const t0 = Date.now();
  const emit = opts.onEvent ?? (() => {});
  const seed = opts.seed ?? 0;
  const dataset = typeof data === 'string' ? loadDataset(data, { valFraction: opts.val, seed }) : data;
  for (const s of dataset.skipped) emit({ type: 'skip', file: s });
  // Counts and "too few images" warnings describe the images used, so they wait until unreadable files are skipped.
  const reportUsed = (trainLabels: ArrayLike<number>, valLabels: ArrayLike<number>) => {
    const counts = usedClassCounts(dataset.classes, trainLabels, valLabels);
    const warnings = datasetWarnings(counts);
    emit({ type: 'dataset', dataset, counts, warnings });
    // One rule for every rung: a class whose images were all skipped cannot be learned.
    const used = new Set(Array.from(trainLabels));
    const empty = dataset.classes.findIndex((_, c) => !used.has(c));
    if (empty >= 0) {
      throw new TlError(
        `class "${dataset.classes[empty]}" has no usable training image (all were skipped)`,
        'Add readable photos to that class folder, or remove the folder.',
      );
    }
    return { counts, warnings };
  };
  const ctx: RungContext = { dataset, reportUsed, emit, t0 };

  let strategy = opts.strategy ?? DEFAULT_STRATEGY;
  // A fused model (--model a+b) has only rung 1: fine-tuning needs one backbone, so there is nothing to plan.
  if ((opts.strategy === undefined || opts.strategy === 'auto') && !isFusedSpec(opts.model)) {
    const plan = await planTraining(dataset, {
      model: opts.model,
      modelPath: opts.modelPath,
      timeBudget: opts.timeBudget,
      trainLast: opts.trainLast,
      freeze: opts.freeze,
      replace: opts.replace,
    });
    emit({ type: 'plan', plan });
    strategy = plan.choice;
    // Far from ImageNet: auto's partial rung uses new units on a mid-level cut (plan.recipe), unless blocks were given.
    if (strategy === 'partial' && plan.recipe)
      opts = { ...opts, trainLast: plan.recipe.trainLast, replace: plan.recipe.replace };
  }
  if (strategy === 'partial' || strategy === 'full') return finetuneClassifier(finetuneOptionsOf(opts, strategy), ctx);
  return trainHeadClassifier(headOptionsOf(opts), ctx);
}
