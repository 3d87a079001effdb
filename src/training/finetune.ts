// Rungs 2 and 3: fine-tune the top blocks (or the whole network) on activations cached at the cut.
// 1. The frozen part runs once per image; its output at the cut is cached (float16) in the feature store.
// 2. The tail (pretrained blocks after the cut, or new 1x1-conv units with `replace`) maps the cached activation to
//    pooled features; a softmax is solved on them by L-BFGS first (the rung-1 head, same CV for L2).
// 3. Then tail + softmax train together with Adam on minibatches: a lower rate for the pretrained blocks than for the
//    head, BatchNorm on its frozen statistics, early stopping on the accuracy of an inner validation split carved
//    from train (classifier/inner-split.ts), the best epoch kept. Seeded. The reported val split is read once, at the
//    end, for the metrics: no decision depends on it.
import type * as tfjs from '@tensorflow/tfjs';
import type { LabeledImage } from '../data/dataset.js';
import { findModel } from '../backbone/registry.js';
import { DEFAULT_MODEL_ID } from '../backbone/zoo.js';
import { FeatureStore } from '../features/store.js';
import { fitStandardizer, applyStandardizerAll } from '../solvers/standardize.js';
import { trainSoftmax } from '../solvers/softmax-regression.js';
import type { L2Selection } from '../solvers/select-l2.js';
import { evaluate } from '../eval/metrics.js';
import { headForward, type HeadWeights } from '../classifier/head.js';
import { fitSoftmaxHead, sampleWeightsFor } from '../classifier/head-policy.js';
import { fitUnknownOnTrain, splitsUsed } from '../classifier/splits-used.js';
import { innerSplit, pickRows } from '../classifier/inner-split.js';
import { Classifier } from '../classifier/classifier.js';
import { newBundleStamp } from '../classifier/bundle.js';
import type {
  FinetuneConfig,
  FinetuneTrainOptions,
  TrainEvent,
  TrainResult,
  HistoryPoint,
  RungContext,
} from './types.js';
import { TlError } from '../util/errors.js';
import { argmax } from '../util/math.js';
import { extractLabelled } from './labelled-features.js';
import { throwIfInterrupted, yieldToEventLoop } from './interrupted.js';
import { serialStep } from '../finetune/step.js';
import { passSizes, stepBytesPerImage, stepMemoryBudget } from '../finetune/step-memory.js';
import { Rng } from '../util/random.js';
import { augmentImage, augmentedCut, AUGMENT_VERSION } from '../finetune/augment.js';
import {
  loadNetwork,
  resolveFreeze,
  openCutBackbone,
  buildTrainableTail,
  trainingTf,
  snapshotTail,
  assignTail,
  type Network,
  type TrainableTail,
} from '../finetune/network.js';
import { FinetunedBackbone, tailFeatures as tailFeaturesBatched } from '../finetune/finetuned-backbone.js';
import { pickNativeSize } from '../finetune/native-size.js';
import { checkDomain, type DomainCheck } from '../plan/domain.js';
import { rateFactor, type RateSchedule } from '../finetune/schedule.js';
import {
  runKey,
  loadCheckpoint,
  saveCheckpoint,
  removeCheckpoint,
  optimizerState,
  restoreOptimizer,
  checkpointDir,
} from '../finetune/checkpoint.js';

type TF = typeof tfjs;

export interface FinetuneSettings {
  strategy: 'partial' | 'full';
  freeze?: number;
  trainLast?: number;
  /** Drop the unfrozen blocks: new hidden units (1x1 conv + ReLU each) + global average pool + softmax. */
  replace?: number[];
  epochs: number;
  batchSize: number;
  /** Adam learning rate of the softmax. */
  lr: number;
  /** Adam learning rate of the unfrozen pretrained blocks (discriminative: lower than the head's). */
  tailLr: number;
  patience: number;
  /** Image size for the frozen part (TF.js backbones; the int8 ONNX model is fixed at 224 unless everything trains). */
  size?: number;
  /** Augment the training images (see augment.ts for what it costs per rung). */
  augment: boolean;
  /** partial + augment: cache this many augmented copies per image; epochs cycle through them. */
  augmentCopies?: number;
  /** After the first epoch's warm-up: the full rates (rung 2) or a cosine decay over the epochs (rung 3). */
  schedule: RateSchedule;
  /** Decoupled weight decay (step.ts); 0: none. */
  weightDecay: number;
}

/**
 * Rung 3's default backbone is the default backbone (MobileNetV2): with data-parallel steps over worker threads and
 * micro-batches (the optimizer step keeps the requested batch, 32 by default) it trains fast enough, and at the
 * images' native size when they are small. mobilenet-v1-0.25 stays available via --model for speed. --model wins.
 */
export const FULL_DEFAULT_MODEL = DEFAULT_MODEL_ID;

/**
 * Rung 3's rate for the pretrained layers, as a divisor of the head's. Far from ImageNet (EuroSAT) the features must
 * move: at a fifth EuroSAT reached 0.965, at a tenth it still underfit after 2 epochs (train accuracy 91%). On photos
 * the features are already right and a fifth wrecks them: cats/dogs' inner val fell from 0.993 (the head) to 0.897
 * after the first full-rate epoch, and the run ended 0.3 below the head. There the usual fine-tuning rates apply:
 * Keras' transfer-learning guide unfreezes everything at 1e-5, fastai's fine_tune spreads 1e-5..1e-4 over the body
 * (head at 1e-3); a fiftieth of ours (2e-5) sits in that range. Unknown domain (no ImageNet head to ask): a fifth.
 */
export const FULL_TAIL_DIVISOR = { far: 5, photo: 50 } as const;

export function fullTailDivisor(domain: DomainCheck | undefined): number {
  return domain && !domain.far ? FULL_TAIL_DIVISOR.photo : FULL_TAIL_DIVISOR.far;
}

export function finetuneDefaults(opts: FinetuneTrainOptions, domain?: DomainCheck): FinetuneSettings {
  const strategy = opts.strategy === 'full' ? 'full' : 'partial';
  const replace = opts.replace;
  // Measured on EuroSAT: new --replace units learn best at 1e-4 (at 1e-3 they drift below their epoch-0 accuracy);
  // reused pretrained blocks get a tenth of the head's rate (discriminative rates).
  const lr = opts.lr ?? (replace ? 1e-4 : 1e-3);
  return {
    strategy,
    freeze: strategy === 'full' ? 0 : opts.freeze,
    trainLast: strategy === 'full' ? undefined : opts.trainLast,
    replace,
    epochs: opts.epochs ?? (strategy === 'full' ? 6 : 8),
    batchSize: opts.finetuneBatchSize ?? 32,
    lr,
    // Rung 3: by domain (fullTailDivisor), under a cosine decay.
    tailLr: opts.tailLr ?? (replace ? lr : strategy === 'full' ? lr / fullTailDivisor(domain) : lr / 10),
    patience: opts.patience ?? 3,
    size: opts.size,
    // Rung 3 augments by default (fresh draws each epoch cost no extra forward there; --no-augment turns it off).
    augment: opts.augment ?? (strategy === 'full' || opts.augmentCopies !== undefined),
    augmentCopies: strategy === 'full' ? undefined : opts.augmentCopies,
    schedule: strategy === 'full' ? 'cosine' : 'constant',
    // No default decay: no measured run has shown one helps yet (AdamW-style, see step.ts).
    weightDecay: opts.weightDecay ?? 0,
  };
}

/** What rung 3's rates are and why, for the run's log. */
function fullRatesWhy(s: FinetuneSettings, domain: DomainCheck | undefined): string {
  const rates = `rates: head ${s.lr.toExponential(0)}, pretrained layers ${s.tailLr.toExponential(0)}`;
  if (!domain) return `${rates}${s.tailLr === s.lr / FULL_TAIL_DIVISOR.far ? " (the head's / 5)" : ''}`;
  const seen = `the ImageNet head is ${domain.meanTop1.toFixed(2)} confident on ${domain.images} training images`;
  return domain.far
    ? `${rates}: far from ImageNet (${seen}), so the pretrained features must move (the head's / ${FULL_TAIL_DIVISOR.far})`
    : `${rates}: photos close to ImageNet (${seen}), so its features move little (the head's / ${FULL_TAIL_DIVISOR.photo}; far sets get / ${FULL_TAIL_DIVISOR.far})`;
}

interface ActSet {
  acts: Float32Array[];
  labels: Int32Array;
  paths: string[];
}

/** Rungs 2-3 end to end; trainClassifier (classifier/train.ts) dispatches here for strategy 'partial' and 'full'. */
export async function finetuneClassifier(opts: FinetuneTrainOptions, ctx: RungContext): Promise<TrainResult> {
  const { dataset, emit, t0 } = ctx;
  const full = opts.strategy === 'full';
  const seed = opts.seed ?? 0;
  const K = dataset.classes.length;
  const entry = findModel(opts.model ?? (full ? FULL_DEFAULT_MODEL : DEFAULT_MODEL_ID));
  // First: a backbone that cannot be fine-tuned (fused, no graph) is refused before any other work.
  const net = await loadNetwork(entry, { path: opts.modelPath });
  // Rung 3's pretrained-layer rate depends on how close the images are to ImageNet (the backbone's own head says;
  // auto's plan already asked it: the same sample and backbone, since rung 3's default backbone is the plan's).
  const domain =
    full && opts.tailLr === undefined && !opts.replace
      ? (ctx.domain ?? (await checkDomain(dataset, { model: entry.id, modelPath: opts.modelPath })))
      : undefined;
  const s = finetuneDefaults(opts, domain);
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
  emit({
    type: 'finetune-setup',
    cut,
    trainable: trainable.map((u) => u.label),
    backend,
    device: frozen.engine ? `${device}; frozen part: ${frozen.engine}` : device,
    note,
    replace: s.replace,
    size: picked?.why,
    rates: full ? fullRatesWhy(s, domain) : undefined,
  });

  // The frozen part's outputs on augmentation `copy` of each image of `set`, all of them or a clear error.
  const augmentedActs = async (into: FeatureStore, set: ActSet, copy: number, lost: string): Promise<ActSet> => {
    const items = set.paths.map((path, i) => ({ path, label: dataset.classes[set.labels[i]] }));
    const c = await actsFor(augmentedCut(frozen, { seed, copy }), into, items, dataset.classes, 'train', emit, opts);
    if (c.acts.length !== set.acts.length) throw new TlError(lost, 'Run again.');
    return c;
  };
  const ownStore = !opts.store;
  const store = opts.store ?? FeatureStore.open();
  const tExtract = Date.now();
  let train: ActSet;
  let val: ActSet;
  const copies: ActSet[] = [];
  try {
    train = await actsFor(frozen, store, dataset.train, dataset.classes, 'train', emit, opts);
    val = await actsFor(frozen, store, dataset.val, dataset.classes, 'val', emit, opts);
    // Cached augmented copies (partial): K frozen forwards per image, once; later runs read them from the store.
    for (let k = 0; s.augment && s.augmentCopies && k < s.augmentCopies; k++)
      copies.push(
        await augmentedActs(store, train, k, 'an image became unreadable while caching its augmented copies'),
      );
  } finally {
    if (ownStore) store.close();
  }
  const extractSeconds = (Date.now() - tExtract) / 1000;
  let used: ReturnType<RungContext['reportUsed']>;
  try {
    // Stopped while extracting: what was extracted is cached, nothing is trained on a part of the images.
    throwIfInterrupted(opts.signal);
    used = ctx.reportUsed(train.labels, val.labels);
  } catch (err) {
    await frozen.dispose();
    throw err;
  }
  const { counts, warnings } = used;

  const tTrain = Date.now();
  const tail = await buildTrainableTail(tf, net, cut, frozen.cutShape, { replace: s.replace, seed });
  // The best epoch and early stopping are decided on an inner validation split carved from train (stratified,
  // seeded); the tail and head train on the rest. The reported val split is not read until the metrics.
  const inner = innerSplit(train.labels, K, seed);
  const fitSet = pickRows(train, 'acts', inner.fit);
  const checkSet = pickRows(train, 'acts', inner.check);
  // Training set of each epoch (1-based): the cached activations, or augmented ones (see augment.ts).
  let epochTrain: ((epoch: number) => Promise<ActSet>) | undefined;
  if (s.augment && s.strategy === 'full') {
    // Freeze nothing: the cached activation is the preprocessed image (NHWC), augmented afresh each epoch.
    const spec = frozen.input;
    epochTrain = async (epoch) => ({
      ...fitSet,
      acts: fitSet.acts.map((x) => augmentImage(x, spec, spec.size, 'NHWC', { seed, copy: epoch })),
    });
  } else if (copies.length) {
    const fitCopies = copies.map((c) => pickRows(c, 'acts', inner.fit));
    epochTrain = async (epoch) => fitCopies[(epoch - 1) % fitCopies.length];
  } else if (s.augment) {
    // No cached copies: decode and run the frozen part on fresh augmentations every epoch (memory store only).
    epochTrain = async (epoch) => {
      const mem = FeatureStore.open(':memory:');
      try {
        return await augmentedActs(mem, fitSet, 1_000_000 + epoch, 'an image became unreadable during training');
      } finally {
        mem.close();
      }
    };
  }
  // Everything that determines the run keys its per-epoch checkpoint: a re-run of the same command resumes.
  const checkpointKey = runKey(
    {
      v: 1,
      settings: s,
      model: entry.id,
      weightsHash: frozen.weightsHash,
      cut,
      seed,
      l2: opts.l2 ?? null,
      classWeights: opts.classWeights ?? null,
      restoreBest: opts.restoreBest ?? true,
      classes: dataset.classes,
      threads: (await import('../finetune/parallel.js')).defaultTrainThreads(),
      stepMemory: stepMemoryBudget(),
    },
    [...fitSet.acts, fitSet.labels, ...checkSet.acts, checkSet.labels],
  );
  let fit: FinetuneFit;
  try {
    fit = await finetune({
      tf,
      tail,
      train: fitSet,
      check: checkSet,
      K,
      settings: s,
      opts: { ...opts, seed },
      emit,
      epochTrain,
      checkpointKey,
    });
  } catch (err) {
    tail.dispose();
    await frozen.dispose();
    throw err;
  }
  const trainSeconds = (Date.now() - tTrain) / 1000;

  const snapshot = await snapshotTail(tail, frozen.input.size);
  const backbone = FinetunedBackbone.create(tf, frozen, tail, snapshot);
  const { inferBatch } = passSizes(1, fit.stepBytesPerImage);
  const trainF = await tailFeaturesBatched(tf, tail, train.acts, inferBatch);
  // Epoch 0 kept (the pretrained tail): the head it stands for is refitted on the whole training split at the chosen
  // L2, so a run that gains nothing ends as rung 1 would, not on 85% of the images.
  const head =
    fit.bestEpoch === 0 && inner.check.length
      ? refitHead(trainF, train.labels, K, fit.l2, opts.classWeights)
      : fit.head;
  // Only now is the reported val split read: once, for the metrics and the unknown flag's measured rate.
  const valF = await tailFeaturesBatched(tf, tail, val.acts, inferBatch);
  const evalSet = valF.length
    ? { f: valF, y: val.labels, paths: val.paths }
    : { f: trainF, y: train.labels, paths: train.paths };
  const metrics = evaluate(
    evalSet.y,
    evalSet.f.map((f) => headForward(head, f)),
    dataset.classes,
    evalSet.paths,
  );
  const unknownFit = fitUnknownOnTrain(trainF, train.labels, K, valF);
  const unknown = unknownFit.unknown;
  const decided = [
    'best epoch',
    ...(fit.l2SelectedBy === 'cv5-on-train' ? ['L2 strength (by CV within the rest of train)'] : []),
  ];
  const config: FinetuneConfig = {
    data: dataset.root,
    split: dataset.splitSource,
    model: entry.id,
    seed,
    strategy: s.strategy,
    cut,
    trainable: trainable.map((u) => u.label),
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
    trainImages: train.acts.length,
    valImages: val.acts.length,
    evaluatedOn: val.acts.length ? 'val' : 'train (no validation images)',
    splits: splitsUsed(
      metrics,
      val.acts.length,
      inner.check.length
        ? { split: 'inner-val', decided, images: inner.check.length, accuracy: fit.bestCheckAcc }
        : { split: 'none', decided: [], images: 0 },
      unknownFit,
    ),
  };
  const classifier = Classifier.fromParts(
    {
      backbone: { id: entry.id, weightsHash: frozen.weightsHash, input: entry.input, feature: entry.feature },
      labels: dataset.classes,
      head,
      unknown,
      metrics: { ...metrics, splits: config.splits },
      config,
      tail: snapshot,
      ...newBundleStamp(),
    },
    backbone,
  );
  // Finished (not interrupted): the checkpoint has served its purpose.
  if (!opts.signal?.aborted) removeCheckpoint(checkpointKey);
  const totalSeconds = (Date.now() - t0) / 1000;
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
  return {
    kind: 'linear',
    mean: standardizer.mean,
    std: standardizer.std,
    layers: [{ W: model.W, b: model.b, inputs: model.dim, outputs: K, activation: 'softmax' }],
  };
}

async function actsFor(
  frozen: Parameters<typeof extractLabelled>[0],
  store: FeatureStore,
  items: LabeledImage[],
  classes: string[],
  split: 'train' | 'val',
  emit: (e: TrainEvent) => void,
  opts: FinetuneTrainOptions,
): Promise<ActSet> {
  const r = await extractLabelled(frozen, store, items, classes, split, emit, opts);
  return { acts: r.features, labels: r.labels, paths: r.paths };
}

export interface FinetuneFit {
  head: HeadWeights;
  l2: number;
  l2SelectedBy: FinetuneConfig['l2SelectedBy'];
  selection?: L2Selection;
  history: HistoryPoint[];
  bestEpoch: number;
  /** Accuracy on the held-out check set (inner val) of epoch 0 and of the kept epoch. */
  headOnlyCheckAcc: number;
  bestCheckAcc: number;
  /** The minibatch size used (the requested one, capped to fit the wasm heap). */
  batchSize: number;
  /** Measured bytes of one image in a training step. */
  stepBytesPerImage: number;
}

export interface EpochMemory {
  epoch: number;
  numTensors: number;
  numBytes: number;
}

export interface FinetuneInput {
  tf: TF;
  tail: TrainableTail;
  train: ActSet;
  /** Held out of `train` for the best epoch and early stopping (the inner val split); empty: decide on train. */
  check: ActSet;
  /** Number of classes. */
  K: number;
  settings: FinetuneSettings;
  opts: FinetuneTrainOptions;
  emit: (e: TrainEvent) => void;
  /** The training set of each epoch (1-based) when it changes (augmentation); default: `train` every epoch. */
  epochTrain?: (epoch: number) => Promise<ActSet>;
  /** Checkpoint after every finished epoch under this key (checkpoint.ts), and resume from one found there. */
  checkpointKey?: string;
}

/** Head first (L-BFGS on the tail's initial features), then tail + head with Adam. Restores the best epoch. */
export async function finetune(input: FinetuneInput): Promise<FinetuneFit> {
  const { tf, tail, train, check, K, settings: s, opts, emit, epochTrain, checkpointKey } = input;
  const seed = opts.seed ?? 0;
  const history: HistoryPoint[] = [];
  const perImage = await stepBytesPerImage(tf, tail);
  // The optimizer step keeps the requested batch; what the heap bounds is one forward/backward pass (micro-batches,
  // gradients summed: see step.ts), and with data-parallel steps each thread's own heap holds its shard's passes.
  const batchSize = s.batchSize;
  const { microBatch, inferBatch } = passSizes(s.batchSize, perImage);
  const tailFeatures = (tf: TF, t: TrainableTail, acts: Float32Array[]) => tailFeaturesBatched(tf, t, acts, inferBatch);
  if (microBatch < s.batchSize)
    emit({ type: 'finetune-batch', requested: s.batchSize, used: microBatch, bytesPerImage: perImage });
  // Head first: the rung-1 softmax on the tail's initial pooled features (standardized; the standardizer stays fixed).
  const F0 = await tailFeatures(tf, tail, train.acts);
  const standardizer = fitStandardizer(F0);
  const X0 = applyStandardizerAll(F0, standardizer);
  const {
    model: init,
    l2,
    selection,
    selectedBy: l2SelectedBy,
    sampleWeights: sw,
  } = await fitSoftmaxHead(X0, train.labels, K, {
    l2: opts.l2,
    seed,
    classWeights: opts.classWeights,
    onSelected: (sel, seconds) => emit({ type: 'select-l2', selection: sel, seconds }),
  });
  const D = tail.featureDim;
  const head = (W: Float32Array, b: Float32Array): HeadWeights => ({
    kind: 'linear',
    mean: standardizer.mean,
    std: standardizer.std,
    layers: [{ W, b, inputs: D, outputs: K, activation: 'softmax' }],
  });
  // F: the set's tail features when already computed (the tail forward is the cost of scoring).
  const score = async (W: Float32Array, b: Float32Array, set: ActSet, F?: Float32Array[]) => {
    F ??= await tailFeatures(tf, tail, set.acts);
    const h = head(W, b);
    let loss = 0;
    let ok = 0;
    F.forEach((f, i) => {
      const p = headForward(h, f);
      loss -= Math.log(Math.max(1e-12, p[set.labels[i]]));
      if (argmax(p) === set.labels[i]) ok++;
    });
    return { loss: loss / Math.max(1, F.length), acc: ok / Math.max(1, F.length) };
  };
  const useCheck = check.acts.length > 0;
  const evalSet = useCheck ? check : train;
  const s0 = await score(init.W, init.b, evalSet, useCheck ? undefined : F0);
  const tr0 = useCheck ? await score(init.W, init.b, train, F0) : s0;
  const p0: HistoryPoint = {
    step: 0,
    trainLoss: tr0.loss,
    trainAcc: tr0.acc,
    ...(useCheck ? { innerValLoss: s0.loss, innerValAcc: s0.acc } : {}),
  };
  history.push(p0);
  emit({ type: 'progress', point: p0, of: s.epochs });

  // Joint training.
  const Wv = tf.variable(tf.tensor2d(init.W, [K, D]), true, `tl_ft_head_W_${seed}_${Date.now()}`);
  const bv = tf.variable(tf.tensor1d(init.b), true, `tl_ft_head_b_${seed}_${Date.now()}`);
  const meanT = tf.tensor1d(standardizer.mean);
  const stdT = tf.tensor1d(standardizer.std);
  const swT = sw ? tf.tensor1d(Float32Array.from(sw)) : undefined;
  const tailVars = [...tail.variables.values()];
  const optHead = tf.train.adam(s.lr);
  const optTail = tf.train.adam(s.tailLr);
  // Warm-up over the first epoch, then the settings' schedule (schedule.ts).
  const warmupSteps = Math.ceil(train.acts.length / batchSize);
  const totalSteps = warmupSteps * s.epochs;
  let stepIndex = 0;
  const setRates = (f: number) => {
    // tfjs reads learningRate on every applyGradients; it has no schedule API.
    (optHead as unknown as { learningRate: number }).learningRate = s.lr * f;
    (optTail as unknown as { learningRate: number }).learningRate = s.tailLr * f;
  };
  const [h, w, c] = tail.inputShape;
  const per = h * w * c;
  const rng = new Rng(seed + 104729);
  const order = Int32Array.from(train.acts.map((_, i) => i));
  let best = {
    epoch: 0,
    acc: s0.acc,
    loss: s0.loss,
    W: init.W,
    b: init.b,
    tail: await readAll(tailVars),
  };
  let sinceBest = 0;
  let startEpoch = 1;
  // The last epoch whose checkpoint is on disk: what an interrupted run leaves for its re-run.
  let kept = 0;
  const saved = checkpointKey ? loadCheckpoint(checkpointKey) : undefined;
  if (saved) {
    // Resume after the last finished epoch: weights, optimizers, counters; the shuffles are replayed from the seed.
    const [W1, b1] = [tf.tensor2d(saved.W, [K, D]), tf.tensor1d(saved.b)];
    Wv.assign(W1);
    bv.assign(b1);
    tf.dispose([W1, b1]);
    assignTail(
      tf,
      tail,
      [...tail.variables.keys()].map((name, i) => ({ name, data: saved.tail[i] })),
    );
    await restoreOptimizer(tf, optHead, saved.optHead);
    await restoreOptimizer(tf, optTail, saved.optTail);
    stepIndex = saved.stepIndex;
    sinceBest = saved.sinceBest;
    best = saved.best;
    history.splice(0, history.length, ...saved.history);
    for (let e = 1; e <= saved.epoch; e++) rng.shuffle(order);
    startEpoch = saved.epoch + 1;
    kept = saved.epoch;
    emit({ type: 'finetune-resume', epoch: saved.epoch, of: saved.of, dir: checkpointDir(saved.key) });
  }
  let canCheckpoint = !!checkpointKey;
  // Data-parallel steps over worker threads (src/finetune/parallel.ts); undefined = the serial step.
  const par = await (
    await import('../finetune/parallel.js')
  ).startParallelSteps(
    { tf, tail, K, l2, Wv, bv, meanT, stdT, swT, optHead, optTail, microBatch, weightDecay: s.weightDecay },
    {
      model: opts.model ?? (s.strategy === 'full' ? FULL_DEFAULT_MODEL : DEFAULT_MODEL_ID),
      modelPath: opts.modelPath,
      seed,
      images: train.acts.length,
      batchSize,
    },
  );
  try {
    for (let epoch = startEpoch; epoch <= s.epochs; epoch++) {
      // (a resumed run whose last checkpoint already ran out of patience)
      if (opts.signal?.aborted || (opts.restoreBest !== false && sinceBest >= s.patience)) break;
      const tEpoch = Date.now();
      rng.shuffle(order);
      const epochSet = epochTrain ? await epochTrain(epoch) : train;
      let lossSum = 0;
      let okSum = 0;
      for (let i = 0; i < order.length; i += batchSize) {
        // Between steps: let a signal handler run (one thread never yields otherwise) and stop when it aborted.
        await yieldToEventLoop();
        if (opts.signal?.aborted) break;
        if (stepIndex < warmupSteps || s.schedule !== 'constant')
          setRates(rateFactor(s.schedule, stepIndex, warmupSteps, totalSteps));
        stepIndex++;
        const n = Math.min(batchSize, order.length - i);
        const data = new Float32Array(n * per);
        const ys = new Int32Array(n);
        for (let j = 0; j < n; j++) {
          data.set(epochSet.acts[order[i + j]], j * per);
          ys[j] = epochSet.labels[order[i + j]];
        }
        const { loss, correct } = par
          ? await par.step(data, ys, n)
          : await serialStep(
              { tf, tail, tailVars, Wv, bv, meanT, stdT, swT, K, microBatch, weightDecay: s.weightDecay },
              optHead,
              optTail,
              data,
              ys,
              n,
              l2,
            );
        lossSum += (await loss.data())[0];
        okSum += (await correct.data())[0];
        loss.dispose();
        correct.dispose();
        // Within-epoch progress: a rung-3 epoch can take minutes.
        emit({ type: 'finetune-step', epoch, of: s.epochs, done: i + n, total: order.length });
      }
      // A stopped epoch is neither scored nor kept.
      if (opts.signal?.aborted) break;
      const [Wn, bn] = await readAll([Wv, bv]);
      const sv = await score(Wn, bn, evalSet);
      const p: HistoryPoint = {
        step: epoch,
        trainLoss: lossSum / order.length,
        trainAcc: okSum / order.length,
        ...(useCheck ? { innerValLoss: sv.loss, innerValAcc: sv.acc } : {}),
      };
      history.push(p);
      const mem = tf.memory();
      emit({ type: 'progress', point: p, of: s.epochs });
      emit({
        type: 'finetune-epoch',
        epoch,
        seconds: (Date.now() - tEpoch) / 1000,
        images: order.length,
        memory: { numTensors: mem.numTensors, numBytes: mem.numBytes, numDataIds: tf.engine().backend.numDataIds() },
      });
      if (opts.restoreBest === false || sv.acc > best.acc || (sv.acc === best.acc && sv.loss < best.loss)) {
        best = {
          epoch,
          acc: sv.acc,
          loss: sv.loss,
          W: Wn,
          b: bn,
          tail: await readAll(tailVars),
        };
        sinceBest = 0;
      } else sinceBest++;
      if (checkpointKey && canCheckpoint && !opts.signal?.aborted) {
        try {
          saveCheckpoint({
            key: checkpointKey,
            epoch,
            of: s.epochs,
            stepIndex,
            sinceBest,
            history,
            W: Wn,
            b: bn,
            tail: await readAll(tailVars),
            best,
            optHead: await optimizerState(optHead),
            optTail: await optimizerState(optTail),
          });
          kept = epoch;
        } catch {
          // A cache that cannot take the checkpoint (full, read-only) costs only the resume, not the run.
          canCheckpoint = false;
        }
      }
      if (opts.restoreBest !== false && sinceBest >= s.patience) break;
    }
  } finally {
    await par?.close();
    optHead.dispose();
    optTail.dispose();
    tf.dispose([Wv, bv, meanT, stdT]);
    swT?.dispose();
  }
  throwIfInterrupted(opts.signal, {
    epoch: kept,
    of: s.epochs,
    checkpointDir: checkpointKey && kept ? checkpointDir(checkpointKey) : undefined,
  });
  // Keep the best epoch (epoch 0 = the L-BFGS head on the pretrained tail).
  assignTail(
    tf,
    tail,
    [...tail.variables.keys()].map((name, i) => ({ name, data: best.tail[i] })),
  );
  return {
    head: head(best.W, best.b),
    l2,
    l2SelectedBy,
    selection,
    history,
    bestEpoch: best.epoch,
    headOnlyCheckAcc: s0.acc,
    bestCheckAcc: best.acc,
    batchSize,
    stepBytesPerImage: perImage,
  };
}

/** Copies of tensors' values, read asynchronously (a webgpu tensor cannot be read synchronously under Node). */
async function readAll(ts: tfjs.Tensor[]): Promise<Float32Array<ArrayBuffer>[]> {
  const out: Float32Array<ArrayBuffer>[] = [];
  for (const t of ts) out.push(Float32Array.from((await t.data()) as Float32Array));
  return out;
}

export type { Network };
