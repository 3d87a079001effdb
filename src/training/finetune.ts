// Rungs 2 and 3: fine-tune the top blocks (or the whole network) on activations cached at the cut.
// 1. The frozen part runs once per image; its output at the cut is cached (float16) in the feature store (the harness
//    extracts it, harness.ts).
// 2. The tail (pretrained blocks after the cut, or new 1x1-conv units with `replace`) maps the cached activation to
//    pooled features; a softmax is solved on them by L-BFGS first (the rung-1 head, same CV for L2).
// 3. Then tail + softmax train together (finetune-epochs.ts), with early stopping on an inner validation split carved
//    from train (classifier/inner-split.ts), the best epoch kept. Seeded. The reported val split is read once, at the
//    end, for the metrics: no decision depends on it. The recipe (rates, epochs, why) is finetune-recipe.ts.
import { findModel } from '../backbone/registry.js';
import type { ModelEntry } from '../backbone/types.js';
import { fitStandardizer, applyStandardizerAll } from '../solvers/standardize.js';
import { trainSoftmax } from '../solvers/softmax-regression.js';
import { linearHead, logitRows, type HeadWeights } from '../classifier/head.js';
import { sampleWeightsFor } from '../classifier/head-policy.js';
import { innerSplit, pickRows } from '../classifier/inner-split.js';
import { TlError } from '../util/errors.js';
import { passSizes, stepMemoryBudget } from '../finetune/step-memory.js';
import { AUGMENT_VERSION } from '../finetune/augment.js';
import {
  loadNetwork,
  resolveFreeze,
  openCutBackbone,
  buildTrainableTail,
  trainingTf,
  snapshotTail,
  type CutBackbone,
  type Network,
  type TrainableTail,
} from '../finetune/network.js';
import { FinetunedBackbone, tailFeatures } from '../finetune/finetuned-backbone.js';
import { pickNativeSize } from '../finetune/native-size.js';
import { runKey, removeCheckpoint } from '../finetune/checkpoint.js';
import { checkDomain } from '../plan/domain.js';
import { finetuneDefaults, finetuneModel, fullRatesWhy, type FinetuneSettings } from './finetune-recipe.js';
import { finetune, type ActSet, type FinetuneFit } from './finetune-epochs.js';
import { actSet, augmentedActs, epochSets, type AugmentRun } from './finetune-sets.js';
import { runRung, type HeldOutLogits, type RecipeOf, type RungFit } from './harness.js';
import type { FinetuneConfig, FinetuneTrainOptions, RungContext, TrainResult } from './types.js';

/** Rungs 2-3 end to end; trainClassifier (train.ts) dispatches here for strategy 'partial' and 'full'. */
export async function finetuneClassifier(opts: FinetuneTrainOptions, ctx: RungContext): Promise<TrainResult> {
  const { dataset, emit } = ctx;
  const seed = opts.seed ?? 0;
  const K = dataset.classes.length;
  const setup = await openFinetune(opts, ctx);
  const { entry, s, tf, frozen } = setup;
  const run: AugmentRun = { frozen, classes: dataset.classes, seed, emit, opts };
  const copies: ActSet[] = [];
  let tail: TrainableTail | undefined;
  return runRung(ctx, opts, {
    extractor: frozen,
    backboneRef: { id: entry.id, weightsHash: frozen.weightsHash, input: entry.input, feature: entry.feature },
    extractMore: async (store, rows) => {
      // Cached augmented copies (partial): K frozen forwards per image, once; later runs read them from the store.
      for (let k = 0; s.augment && s.augmentCopies && k < s.augmentCopies; k++)
        copies.push(
          await augmentedActs(
            run,
            store,
            actSet(rows),
            k,
            'an image became unreadable while caching its augmented copies',
          ),
        );
    },
    train: async (rows) => {
      const train = actSet(rows);
      const t = (tail = await buildTrainableTail(tf, setup.net, setup.cut, frozen.cutShape, {
        replace: s.replace,
        seed,
      }));
      // The best epoch and early stopping are decided on an inner validation split carved from train (stratified,
      // seeded); the tail and head train on the rest. The reported val split is not read until the metrics.
      const inner = innerSplit(train.labels, K, seed);
      const fitSet = pickRows(train, 'acts', inner.fit);
      const checkSet = pickRows(train, 'acts', inner.check);
      const checkpointKey = await runIdentity(setup, opts, dataset.classes, fitSet, checkSet);
      const fit = await finetune({
        tf,
        tail: t,
        train: fitSet,
        check: checkSet,
        K,
        settings: s,
        opts: { ...opts, seed },
        emit,
        epochTrain: epochSets(run, s, fitSet, copies, (c) => pickRows(c, 'acts', inner.fit)),
        checkpointKey,
        budget: ctx.budget,
      });
      const { inferBatch } = passSizes(1, fit.stepBytesPerImage);
      return {
        history: fit.history,
        selection: fit.selection,
        decisions: inner.check.length
          ? { split: 'inner-val', decided: decided(fit), images: inner.check.length, accuracy: fit.bestCheckAcc }
          : { split: 'none', decided: [], images: 0 },
        recipe: recipe(setup, fit),
        classifierBackbone: async () => {
          const snapshot = await snapshotTail(t, frozen.input.size);
          return { backbone: FinetunedBackbone.create(tf, frozen, t, snapshot), tail: snapshot };
        },
        features: (set) => tailFeatures(tf, t, set.features, inferBatch),
        // Epoch 0 kept (the pretrained tail): the head it stands for is refitted on the whole training split at the
        // chosen L2, so a run that gains nothing ends as rung 1 would, not on 85% of the images.
        head: (trainF) =>
          fit.bestEpoch === 0 && inner.check.length
            ? refitHead(trainF, train.labels, K, fit.l2, opts.classWeights)
            : fit.head,
        heldOut: async (head, trainF) =>
          heldOutRows(
            fit,
            head,
            fitSet,
            inner.check.length ? { set: checkSet, rows: inner.check } : undefined,
            trainF,
            K,
            opts,
          ),
        // Finished (not interrupted): the checkpoint has served its purpose.
        finished: () => {
          if (!opts.signal?.aborted) removeCheckpoint(checkpointKey);
        },
      } satisfies RungFit;
    },
    dispose: async () => {
      tail?.dispose();
      await frozen.dispose();
    },
  });
}

/** A fine-tuning run's backbone, settings and frozen part, decided before any image is extracted. */
interface FinetuneSetup {
  entry: ModelEntry;
  net: Network;
  s: FinetuneSettings;
  cut: string;
  trainable: string[];
  tf: Awaited<ReturnType<typeof trainingTf>>['tf'];
  backend: string;
  frozen: CutBackbone;
}

/** Loads the network, decides the settings and the cut, opens the frozen part and emits 'finetune-setup'. */
async function openFinetune(opts: FinetuneTrainOptions, ctx: RungContext): Promise<FinetuneSetup> {
  const { dataset } = ctx;
  const full = opts.strategy === 'full';
  const entry = findModel(finetuneModel(opts));
  // First: a backbone that cannot be fine-tuned (fused, no graph) is refused before any other work.
  const net = await loadNetwork(entry, { path: opts.modelPath });
  // Rung 3's pretrained-layer rate depends on how close the images are to ImageNet (the backbone's own head says;
  // auto's plan already asked it: the same sample and backbone, since rung 3's default backbone is the plan's).
  const domain =
    full && opts.tailLr === undefined && !opts.replace
      ? (ctx.domain ?? (await checkDomain(dataset, { model: entry.id, modelPath: opts.modelPath })))
      : undefined;
  const s = { ...finetuneDefaults(opts, domain), stopWhenBehind: !!ctx.autoTry };
  const { cut, trainable } = resolveFreeze(net, { freeze: s.freeze, trainLast: s.trainLast });
  if (!trainable.length && !s.replace)
    throw new TlError(
      'nothing to fine-tune: every block is frozen',
      'Use --strategy head for that, or --train-last 1 or more.',
    );
  const { tf, backend, note, device } = await trainingTf(opts.device);
  // Rung 3 trains at the images' own size when it is below the backbone's (native-size.ts); --size overrides.
  const picked =
    s.strategy === 'full' && s.size === undefined
      ? await pickNativeSize(
          dataset.train.map((i) => i.path),
          entry.input.size,
        )
      : undefined;
  if (picked) s.size = picked.size;
  const frozen = await openCutBackbone(net, cut, s.size);
  const labels = trainable.map((u) => u.label);
  ctx.emit({
    type: 'finetune-setup',
    cut,
    trainable: labels,
    backend,
    device: frozen.engine ? `${device}; frozen part: ${frozen.engine}` : device,
    note,
    replace: s.replace,
    size: picked?.why,
    rates: full ? fullRatesWhy(s, domain) : undefined,
  });
  return { entry, net, s, cut, trainable: labels, tf, backend, frozen };
}

/** Everything that determines the run keys its per-epoch checkpoint: a re-run of the same command resumes. */
async function runIdentity(
  { s, entry, frozen, cut }: FinetuneSetup,
  opts: FinetuneTrainOptions,
  classes: string[],
  fitSet: ActSet,
  checkSet: ActSet,
): Promise<string> {
  return runKey(
    {
      v: 1,
      settings: s,
      model: entry.id,
      weightsHash: frozen.weightsHash,
      cut,
      seed: opts.seed ?? 0,
      l2: opts.l2 ?? null,
      classWeights: opts.classWeights ?? null,
      restoreBest: opts.restoreBest ?? true,
      classes,
      threads: (await import('../finetune/parallel.js')).defaultTrainThreads(),
      stepMemory: stepMemoryBudget(),
    },
    [...fitSet.acts, fitSet.labels, ...checkSet.acts, checkSet.labels],
  );
}

/** What the inner validation split decided. */
function decided(fit: FinetuneFit): string[] {
  return [
    fit.verdict ? `best epoch (${fit.verdict.why})` : 'best epoch',
    ...(fit.l2SelectedBy === 'cv5-on-train' ? ['L2 strength (by CV within the rest of train)'] : []),
  ];
}

/** Rungs 2-3's part of classifier.json's config. */
function recipe({ s, cut, trainable, frozen, backend }: FinetuneSetup, fit: FinetuneFit): RecipeOf<FinetuneConfig> {
  return {
    strategy: s.strategy,
    cut,
    trainable,
    replace: s.replace ?? null,
    imageSize: frozen.input.size,
    head: { kind: 'linear' },
    l2: fit.l2,
    l2SelectedBy: fit.l2SelectedBy,
    epochs: s.epochs,
    bestEpoch: fit.bestEpoch,
    lr: s.lr,
    tailLr: s.tailLr,
    batchSize: fit.batchSize,
    requestedBatchSize: s.batchSize,
    augment: s.augment
      ? { recipe: AUGMENT_VERSION, copies: s.augmentCopies ?? null, fresh: s.strategy === 'full' || !s.augmentCopies }
      : null,
    backend,
    headOnlyInnerValAccuracy: fit.headOnlyCheckAcc,
  } satisfies Omit<
    FinetuneConfig,
    'data' | 'split' | 'model' | 'seed' | 'trainImages' | 'valImages' | 'evaluatedOn' | 'splits'
  >;
}

/**
 * The rows a fine-tuned head's temperature is fitted on: a kept epoch > 0 was chosen on the inner val split but never
 * trained on it; epoch 0's head is refitted on all of train, so its held-out rows are the L2 search's out-of-fold
 * logits (on the fit set).
 */
function heldOutRows(
  fit: FinetuneFit,
  head: HeadWeights,
  fitSet: ActSet,
  check: { set: ActSet; rows: Int32Array | number[] } | undefined,
  trainF: Float32Array[],
  K: number,
  opts: FinetuneTrainOptions,
): HeldOutLogits | undefined {
  const weights = (labels: Int32Array) => sampleWeightsFor(labels, K, opts.classWeights);
  if (fit.bestEpoch === 0 || !check) {
    const logits = fit.selection?.heldOutLogits;
    return logits && { logits, labels: fitSet.labels, weights: weights(fitSet.labels) };
  }
  // The check rows' features through the kept tail are already among the training split's (trainF).
  const f = Array.from(check.rows, (i) => trainF[i]);
  return { logits: logitRows(head, f), labels: check.set.labels, weights: weights(check.set.labels) };
}

/** The L-BFGS softmax on the pretrained tail's features of every training image, at an L2 chosen before. */
function refitHead(
  F: Float32Array[],
  labels: Int32Array,
  K: number,
  l2: number,
  classWeights: FinetuneTrainOptions['classWeights'],
): HeadWeights {
  const standardizer = fitStandardizer(F);
  const X = applyStandardizerAll(F, standardizer);
  const model = trainSoftmax(X, labels, K, { l2, sampleWeights: sampleWeightsFor(labels, K, classWeights) });
  return linearHead(standardizer, model.W, model.b);
}
