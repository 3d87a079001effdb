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
import { evaluate } from '../eval/metrics.js';
import { headForward, withTemperature, type HeadWeights } from '../classifier/head.js';
import { fitTemperature } from '../solvers/temperature.js';
import { fitUnknownOnTrain, splitsUsed } from '../classifier/splits-used.js';
import { Classifier } from '../classifier/classifier.js';
import { newBundleStamp, type BackboneRef } from '../classifier/bundle.js';
import type { TailSnapshot } from '../backbone/runtimes/types.js';
import { extractLabelled, type LabelledFeatures } from './labelled-features.js';
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
  /** Frees what the rung opened (the extractor, a trainable tail) when the run throws. */
  dispose(): Promise<void>;
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
    const { counts, warnings } = ctx.reportUsed(train.labels, val.labels);

    const tTrain = Date.now();
    const fit = await rung.train(train, val);
    const trainSeconds = (Date.now() - tTrain) / 1000;

    const { backbone, tail } = await fit.classifierBackbone();
    const trainF = await fit.features(train);
    const fitted = fit.head(trainF);
    const heldOut = await fit.heldOut?.(fitted, trainF);
    const temperature = heldOut && fitTemperature(heldOut.logits, heldOut.labels, K, heldOut.weights);
    const head = temperature ? withTemperature(fitted, temperature.temperature) : fitted;
    if (temperature) emit({ type: 'temperature', ...temperature });
    const decisions = temperature
      ? { ...fit.decisions, decided: [...fit.decisions.decided, 'probability temperature'] }
      : fit.decisions;
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
    const config = {
      data: dataset.root,
      split: dataset.splitSource,
      model: rung.backboneRef.id,
      seed: opts.seed ?? 0,
      ...fit.recipe,
      ...(temperature ? { temperature: temperature.temperature } : {}),
      trainImages: train.features.length,
      valImages: val.features.length,
      evaluatedOn: val.features.length ? ('val' as const) : ('train (no validation images)' as const),
      splits: splitsUsed(metrics, val.features.length, decisions, unknownFit),
    } satisfies TrainConfig;
    const classifier = Classifier.fromParts(
      {
        backbone: rung.backboneRef,
        labels: dataset.classes,
        head,
        unknown: unknownFit.unknown,
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
      counts,
      warnings,
      timings: { extractSeconds, trainSeconds, totalSeconds },
      config,
    };
  } catch (err) {
    await rung.dispose();
    throw err;
  }
}
