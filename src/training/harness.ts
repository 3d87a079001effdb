// The rung harness: what every rung does around its own training, written once (the model: Transformers.js' Pipeline
// base class with one subclass per task). It extracts both splits through the feature store (and closes a store it
// opened), stops there when the run was aborted, reports the images used, frees the rung's resources when anything
// throws, then reads the val split once: the metrics of the trained head (on train when there is no val), the unknown
// flag calibrated on train and its rate on val, the record of which split decided what; it builds the classifier and
// emits 'done'. Every rung's probabilities are calibrated the same way: a temperature fitted by log loss on rows the
// final head did not train on (the rung says which: CV out-of-fold logits, or the inner val split) is folded into the
// head (solvers/temperature.ts); the argmax, so accuracy, is unchanged. A rung (head.ts: rung 1; finetune.ts: rungs 2-3) brings its extractor, its training step and its
// recipe (its part of the config).
import type { Backbone } from '../backbone/types.js';
import { FeatureStore } from '../features/store.js';
import type { L2Selection } from '../solvers/select-l2.js';
import { evaluate, MetricsAccumulator, type Metrics } from '../eval/metrics.js';
import { headForward, withTemperature, type HeadWeights } from '../classifier/head.js';
import { fitTemperature } from '../solvers/temperature.js';
import { fitUnknownOnTrain, splitsUsed, type UnknownFit } from '../classifier/splits-used.js';
import { fitUnknownDetectorCounted, unknownDistance, unknownTrainingRows } from '../classifier/unknown.js';
import { Classifier } from '../classifier/classifier.js';
import { newBundleStamp, type BackboneRef } from '../classifier/bundle.js';
import type { TailSnapshot } from '../backbone/runtimes/types.js';
import {
  extractLabelled,
  extractLabelledStored,
  type LabelledFeatures,
  type StoredFeatures,
} from './labelled-features.js';
import { throwIfInterrupted } from './interrupted.js';
import type {
  CommonTrainOptions,
  FinetuneConfig,
  HeadConfig,
  HistoryPoint,
  RungContext,
  SplitsUsed,
  TrainConfig,
  TrainResult,
} from './types.js';

/** The config fields the harness records for every rung: first the run's inputs, last its counts and splits. */
type HarnessFields = 'data' | 'split' | 'model' | 'seed' | 'trainImages' | 'valImages' | 'evaluatedOn' | 'splits';
/** A rung's own part of its config (recorded between the harness's fields). */
export type RecipeOf<C extends TrainConfig> = Omit<C, HarnessFields>;
export type Recipe = RecipeOf<HeadConfig> | RecipeOf<FinetuneConfig>;

/** One rung, ready to run: its backbone opened, its settings decided. */
export interface Rung {
  /** Images → what the rung trains on: pooled features (rung 1), activations at the cut (rungs 2-3). */
  extractor: Backbone;
  /** The bundle's record of the pretrained backbone. */
  backboneRef: BackboneRef;
  /** More extraction while the store is open, after train and val (rung 2's cached augmented copies). */
  extractMore?(store: FeatureStore, train: LabelledFeatures): Promise<void>;
  /** The training step. `val` only draws rung 1's curve: no decision reads it (test/faults/honest-val.test.ts). */
  train(train: LabelledFeatures, val: LabelledFeatures): Promise<RungFit>;
  /** Rung 1's linear head over its memory budget: the run keeps its vectors in the store (runBounded). */
  bounded?: BoundedRung;
  /** Frees what the rung opened (the extractor, a trainable tail) when the run throws. */
  dispose(): Promise<void>;
}

/** A rung that can train on splits left in the feature store (its head reads no row given to head() or heldOut()). */
export interface BoundedRung {
  /** Whether a run of this many training images takes the bounded path. */
  applies(trainImages: number): boolean;
  train(train: StoredFeatures, val: StoredFeatures): Promise<RungFit>;
}

/** What a rung's training step hands back. */
export interface RungFit {
  history: HistoryPoint[];
  selection?: L2Selection;
  /** The held-out part of train that made the run's decisions (the splits record). */
  decisions: SplitsUsed['decisions'];
  recipe: Recipe;
  /** The features the head reads, for a split's extracted rows (rungs 2-3: through the trained tail). */
  features(set: LabelledFeatures): Promise<Float32Array[]>;
  /** The final head, given the training split's features (rungs 2-3 refit epoch 0's head on all of train). */
  head(trainFeatures: Float32Array[]): HeadWeights;
  /**
   * Logits of training rows the final head (or a head fitted the same way) did not train on, to fit its temperature:
   * the L2 search's out-of-fold logits, or the inner val split's. Undefined: nothing was held out (no temperature).
   */
  heldOut?(head: HeadWeights, trainFeatures: Float32Array[]): Promise<HeldOutLogits | undefined>;
  /** The classifier's backbone: the extractor (rung 1), or the frozen part + the trained tail and its snapshot. */
  classifierBackbone(): Promise<{ backbone: Backbone; tail?: TailSnapshot }>;
  /** Called once the classifier is built (rungs 2-3: the run finished, its checkpoint goes). */
  finished?(): void;
}

/** n x K logits (row-major) of held-out training rows, their labels and (class-weighted runs) their weights. */
export interface HeldOutLogits {
  logits: Float64Array;
  labels: Int32Array;
  weights?: Float64Array;
}

export async function runRung(ctx: RungContext, opts: CommonTrainOptions, rung: Rung): Promise<TrainResult> {
  const { dataset, emit } = ctx;
  const K = dataset.classes.length;
  try {
    const ownStore = !opts.store;
    const store = opts.store ?? FeatureStore.open();
    // Over rung 1's memory budget (and with a store to read back from) the whole run is bounded (runBounded).
    if (rung.bounded?.applies(dataset.train.length) && store.access === 'read-write')
      return await runBounded(ctx, opts, rung, rung.bounded, store, ownStore);
    const tExtract = Date.now();
    let train: LabelledFeatures;
    let val: LabelledFeatures;
    try {
      train = await extractLabelled(rung.extractor, store, dataset.train, dataset.classes, 'train', emit, opts);
      val = await extractLabelled(rung.extractor, store, dataset.val, dataset.classes, 'val', emit, opts);
      await rung.extractMore?.(store, train);
    } finally {
      if (ownStore) store.close();
    }
    const extractSeconds = (Date.now() - tExtract) / 1000;
    // Stopped while extracting: what was extracted is cached, nothing is trained on a part of the images.
    throwIfInterrupted(opts.signal);
    const used = ctx.reportUsed(train.labels, val.labels);

    const tTrain = Date.now();
    const fit = await rung.train(train, val);
    const trainSeconds = (Date.now() - tTrain) / 1000;

    const trainF = await fit.features(train);
    const { head, temperature, decisions } = await finalHead(fit, trainF, K, emit);
    // Only now is the reported val split read: once, for the metrics and the unknown flag's measured rate.
    const valF = await fit.features(val);
    const evalSet = valF.length ? { f: valF, set: val } : { f: trainF, set: train };
    const metrics = evaluate(
      evalSet.set.labels,
      evalSet.f.map((f) => headForward(head, f)),
      dataset.classes,
      evalSet.set.paths,
    );
    const unknownFit = fitUnknownOnTrain(trainF, train.labels, K, valF);
    return await finish(ctx, rung, fit, {
      ...{ head, temperature, decisions, metrics, unknownFit, used, extractSeconds, trainSeconds },
      seed: opts.seed ?? 0,
      trainImages: train.labels.length,
      valImages: val.labels.length,
    });
  } catch (err) {
    await rung.dispose();
    throw err;
  }
}

/** Rows per chunk of the bounded path's val pass (metrics and the unknown flag's rate). */
const EVAL_CHUNK_ROWS = 1024;

/**
 * The run over rung 1's memory budget: the vectors go to the feature store and stay there (extractLabelledStored); the
 * rung streams its training rows out of it, the val metrics are scored a chunk at a time (MetricsAccumulator) and the
 * unknown detector reads only the training rows it keeps or scores (unknownTrainingRows). Held: labels, paths, hashes
 * and those bounded samples, so memory does not grow with the number of images.
 */
async function runBounded(
  ctx: RungContext,
  opts: CommonTrainOptions,
  rung: Rung,
  bounded: BoundedRung,
  store: FeatureStore,
  ownStore: boolean,
): Promise<TrainResult> {
  const { dataset, emit } = ctx;
  const K = dataset.classes.length;
  try {
    const tExtract = Date.now();
    const train = await extractLabelledStored(
      rung.extractor,
      store,
      dataset.train,
      dataset.classes,
      'train',
      emit,
      opts,
    );
    const val = await extractLabelledStored(rung.extractor, store, dataset.val, dataset.classes, 'val', emit, opts);
    const extractSeconds = (Date.now() - tExtract) / 1000;
    throwIfInterrupted(opts.signal);
    const used = ctx.reportUsed(train.labels, val.labels);

    const tTrain = Date.now();
    const fit = await bounded.train(train, val);
    const trainSeconds = (Date.now() - tTrain) / 1000;

    const { head, temperature, decisions } = await finalHead(fit, [], K, emit);
    const evalSet = val.labels.length ? val : train;
    const scored = new MetricsAccumulator(dataset.classes);
    forEachStoredChunk(evalSet, (rows, first) =>
      rows.forEach((f, i) => scored.add(evalSet.labels[first + i], headForward(head, f), evalSet.paths[first + i])),
    );
    const metrics = scored.result();
    const unknownFit = fitUnknownOnStored(train, K, val);
    return await finish(ctx, rung, fit, {
      ...{ head, temperature, decisions, metrics, unknownFit, used, extractSeconds, trainSeconds },
      seed: opts.seed ?? 0,
      trainImages: train.labels.length,
      valImages: val.labels.length,
    });
  } finally {
    if (ownStore) store.close();
  }
}

/** Calls visit(rows, first) for every EVAL_CHUNK_ROWS rows of a stored split, in order. */
function forEachStoredChunk(set: StoredFeatures, visit: (rows: Float32Array[], first: number) => void): void {
  for (let first = 0; first < set.labels.length; first += EVAL_CHUNK_ROWS) {
    const end = Math.min(set.labels.length, first + EVAL_CHUNK_ROWS);
    visit(set.gather(Int32Array.from({ length: end - first }, (_, i) => first + i)), first);
  }
}

/** fitUnknownOnTrain on stored splits: only the training rows the detector reads are read; val is read a chunk at a time. */
function fitUnknownOnStored(train: StoredFeatures, K: number, val: StoredFeatures): UnknownFit {
  const { references, heldOut } = unknownTrainingRows(train.labels, K);
  const needed = [...references, ...heldOut];
  // A sparse array: fitUnknownDetectorCounted reads exactly these rows (row 0 is always a reference).
  const sparse: Float32Array[] = new Array<Float32Array>(train.labels.length);
  train.gather(needed).forEach((f, i) => (sparse[needed[i]] = f));
  const { detector: unknown, calibrated } = fitUnknownDetectorCounted(sparse, train.labels, K);
  if (!val.labels.length) return { unknown, calibrated };
  let flagged = 0;
  forEachStoredChunk(val, (rows) => {
    for (const f of rows) if (unknownDistance(unknown, f) > unknown.threshold) flagged++;
  });
  return { unknown, calibrated, flagRateOnVal: flagged / val.labels.length };
}

/** The final head, its temperature fitted on held-out logits (folded in), and the decisions record that says so. */
async function finalHead(fit: RungFit, trainF: Float32Array[], K: number, emit: RungContext['emit']) {
  const fitted = fit.head(trainF);
  const heldOut = await fit.heldOut?.(fitted, trainF);
  const temperature = heldOut && fitTemperature(heldOut.logits, heldOut.labels, K, heldOut.weights);
  const head = temperature ? withTemperature(fitted, temperature.temperature) : fitted;
  if (temperature) emit({ type: 'temperature', ...temperature });
  const decisions = temperature
    ? { ...fit.decisions, decided: [...fit.decisions.decided, 'probability temperature'] }
    : fit.decisions;
  return { head, temperature, decisions };
}

/** What both paths measured, for the config, the classifier and the result. */
interface Measured {
  head: HeadWeights;
  temperature: ReturnType<typeof fitTemperature> | undefined;
  decisions: SplitsUsed['decisions'];
  metrics: Metrics;
  unknownFit: UnknownFit;
  used: ReturnType<RungContext['reportUsed']>;
  seed: number;
  trainImages: number;
  valImages: number;
  extractSeconds: number;
  trainSeconds: number;
}

/** The config record, the classifier, the 'done' event and the result. */
async function finish(ctx: RungContext, rung: Rung, fit: RungFit, m: Measured): Promise<TrainResult> {
  const { dataset, emit } = ctx;
  const { head, temperature, metrics, valImages } = m;
  const { backbone, tail } = await fit.classifierBackbone();
  const config = {
    data: dataset.root,
    split: dataset.splitSource,
    model: rung.backboneRef.id,
    seed: m.seed,
    ...fit.recipe,
    ...(temperature ? { temperature: temperature.temperature } : {}),
    trainImages: m.trainImages,
    valImages,
    evaluatedOn: valImages ? ('val' as const) : ('train (no validation images)' as const),
    splits: splitsUsed(metrics, valImages, m.decisions, m.unknownFit),
  } satisfies TrainConfig;
  const classifier = Classifier.fromParts(
    {
      backbone: rung.backboneRef,
      labels: dataset.classes,
      head,
      unknown: m.unknownFit.unknown,
      metrics: { ...metrics, splits: config.splits },
      config,
      ...(tail ? { tail } : {}),
      ...newBundleStamp(),
    },
    backbone,
  );
  fit.finished?.();
  const totalSeconds = (Date.now() - ctx.t0) / 1000;
  emit({ type: 'done', metrics, seconds: totalSeconds });
  return {
    classifier,
    metrics,
    history: fit.history,
    selection: fit.selection,
    dataset,
    counts: m.used.counts,
    warnings: m.used.warnings,
    timings: { extractSeconds: m.extractSeconds, trainSeconds: m.trainSeconds, totalSeconds },
    config,
  };
}
