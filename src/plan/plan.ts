// `--strategy auto` and `tl plan`: which rung is worth its time. Every stage's time is estimated from a probe measured
// here and now (extraction of a few uncached images, the head's gradient evaluation, a few training steps of the
// partial tail and of the whole network at the size the run would use) and from what the feature cache already holds;
// each rung's gain over the head from measured priors (auto-rules.ts). The rule itself is auto-rules.ts's decideRung.
import type { Dataset } from '../data/dataset.js';
import { classCounts } from '../data/dataset.js';
import { findModel } from '../backbone/registry.js';
import { loadBackbone } from '../backbone/load.js';
import { DEFAULT_MODEL_ID } from '../backbone/zoo.js';
import type { ResolveOptions } from '../backbone/resolve.js';
import type { Backbone } from '../backbone/types.js';
import { preprocess } from '../data/image.js';
import { readImageBytes } from '../data/image-file.js';
import { extractFeatures } from '../features/extract.js';
import { FeatureStore, modelKeyFor } from '../features/store.js';
import { sha256 } from '../util/hash.js';
import { TlError } from '../util/errors.js';
import {
  loadNetwork,
  openCutBackbone,
  resolveFreeze,
  buildTrainableTail,
  trainingTf,
  type Network,
} from '../finetune/network.js';
import { checkDomain, type DomainCheck } from './domain.js';
import { pickNativeSize } from '../finetune/native-size.js';
import { defaultTrainThreads } from '../finetune/parallel.js';
import { probeFullEpoch, fullEpochCost, type FullEpochProbe } from './full-probe.js';
import { estimateHeadFitSeconds } from '../solvers/head-cost.js';
import {
  decideRung,
  expectedGain,
  expectsToTrainOn,
  formatSeconds,
  type Domain,
  type Rung,
  type RungOption,
} from './auto-rules.js';
import { calibratedStageSeconds } from './stage-calibration.js';
import {
  DEFAULT_TIME_BUDGET as TABLE_TIME_BUDGET,
  FINETUNE_BATCH_SIZE,
  FINETUNE_PATIENCE,
  FULL_EPOCHS as FULL_EPOCHS_DEFAULT,
  PARTIAL_EPOCHS as PARTIAL_EPOCHS_DEFAULT,
} from '../options/train-options.js';

export type { Rung } from './auto-rules.js';

/** The stages a run's time is made of (estimated by the plan, measured by the run: TrainResult.stages). */
export type StageName = 'plan' | 'extract' | 'head-fit' | 'epochs' | 'final';

export interface StageTime {
  stage: StageName;
  seconds: number;
  /** What the number covers, e.g. "1200 uncached images at 0.02 s" or "8 epochs x 21 s". */
  detail?: string;
}

export interface RungEstimate {
  rung: Rung;
  /** Estimated wall time of the whole run (sum of the stages), seconds. */
  seconds: number;
  stages: StageTime[];
  /** Expected val accuracy change vs the head, in points (measured priors, see auto-rules.ts); null: none measured. */
  expectedGain: number | null;
  detail: string;
  /** Fine-tuning: estimated seconds of one epoch, and how many epochs the estimate counts. */
  epochSeconds?: number;
  epochs?: number;
  /**
   * Fine-tuning: the run's seconds if early stopping ends it after the fewest epochs (patience's, nothing beats
   * epoch 0) and after all of them; `seconds` counts `epochs` (what the budget rule compares).
   */
  secondsRange?: [number, number];
  epochsRange?: [number, number];
}

export interface Plan {
  choice: Rung;
  /** What was chosen and why (and, when only the budget stops a better rung, the command that runs it). */
  reason: string;
  imagesPerClass: number;
  trainImages: number;
  timeBudget: number;
  throughput: { extract: number; partialTrain: number; fullTrain: number; measured: boolean };
  estimates: RungEstimate[];
  /** How ImageNet-like the training images look to the backbone's own head (when fine-tuning was considered). */
  domain?: DomainCheck;
  /** The partial recipe auto uses: set when the images are far from ImageNet and no blocks were asked for. */
  recipe?: PartialRecipe;
  /** A rung expected to gain more than the choice, left out only because of the time budget. */
  blockedByBudget?: { rung: Rung; seconds: number; gain: number; command: string };
  /** Rung 3's training size (the images' own when smaller than the backbone's). */
  fullSize?: number;
  /** Rung 3's measured epoch parts (when it was probed). */
  fullEpoch?: FullEpochProbe;
}

/** New units on the deepest cut at 1/16 of the input resolution (MobileNetV2: after block 13, 14x14x96). */
export interface PartialRecipe {
  trainLast: number;
  replace: number[];
}

/** Units of the far-from-ImageNet recipe; 1024 measured 0.943 on EuroSAT (512: 0.9395 at epoch 0, 2048: 0.944 untrained). */
export const FAR_RECIPE_UNITS = 1024;

export function farRecipe(net: Network): PartialRecipe | undefined {
  const size = net.entry.input.size;
  let idx = -1;
  net.units.forEach((u, i) => {
    if (u.shape[0] * 16 >= size) idx = i;
  });
  if (idx < 0 || idx >= net.units.length - 1) return undefined;
  return { trainLast: net.units.length - (idx + 1), replace: [FAR_RECIPE_UNITS] };
}

/** The CLI flags that ask for a recipe by hand. */
const recipeFlags = (r: PartialRecipe) => `--train-last ${r.trainLast} --replace hidden:${r.replace.join(',')}`;

/**
 * How long a user waits by default: 15 minutes. bench/auto.ts measured partial fine-tuning gaining ~+2 points on
 * far-from-ImageNet images in 5-10 min on 2 cores, worth a coffee break; whole-network runs (30-45 min) need asking.
 */
export const DEFAULT_TIME_BUDGET = TABLE_TIME_BUDGET;
/**
 * What the run will do, as the layers above decide it (this layer may not import them; test/unit/plan-rules.test.ts
 * checks these equal finetune/train.ts's defaults, classifier/inner-split.ts's fraction and unknown.ts's cap).
 */
export const RUN_SHAPE = {
  partialEpochs: PARTIAL_EPOCHS_DEFAULT,
  fullEpochs: FULL_EPOCHS_DEFAULT,
  patience: FINETUNE_PATIENCE,
  innerValFraction: 0.15,
  unknownReferences: 1000,
  fullBatchSize: FINETUNE_BATCH_SIZE,
};
const PARTIAL_EPOCHS = RUN_SHAPE.partialEpochs;
const FULL_EPOCHS = RUN_SHAPE.fullEpochs;
const PATIENCE = RUN_SHAPE.patience;
const INNER_VAL_FRACTION = RUN_SHAPE.innerValFraction;
const DEFAULT_MAX_REFERENCES = RUN_SHAPE.unknownReferences;
/** The scoring forward (no gradients) costs about a third of a training step per image. */
const INFER_COST = 1 / 3;

export interface PlanOptions extends ResolveOptions {
  model?: string;
  modelPath?: string;
  timeBudget?: number;
  freeze?: number;
  trainLast?: number;
  /** Skip the probes and use these throughputs (img/s); extraction then assumes nothing is cached. */
  throughput?: { extract: number; partialTrain: number; fullTrain: number };
  /** Probe rung 3 even when no prior says it gains (tl plan does). */
  alwaysMeasure?: boolean;
  /** The user's own --replace (then no recipe is picked for them). */
  replace?: number[];
  /** Skip the ImageNet-likeness check and use this one (tests). */
  domain?: DomainCheck | null;
  /** The cache the run will read (default: the user's). */
  store?: FeatureStore;
  /** The data argument as the user typed it (for the printed commands). */
  dataArg?: string;
}

export async function planTraining(dataset: Dataset, opts: PlanOptions = {}): Promise<Plan> {
  try {
    return await planAllRungs(dataset, opts);
  } catch (e) {
    // A network the fine-tuning engine cannot rebuild (e.g. an op it has no trainable version of) still has rung 1:
    // auto must not fail over rungs it would not be able to run.
    if (!(e instanceof TlError)) throw e;
    return await headOnlyPlan(dataset, opts, e.message);
  }
}

async function headOnlyPlan(dataset: Dataset, opts: PlanOptions, why: string): Promise<Plan> {
  const { K, perClass, N } = sizeOf(dataset);
  const entry = findModel(opts.model ?? DEFAULT_MODEL_ID);
  const seconds = await estimateHeadFitSeconds({
    trainRows: N,
    valRows: dataset.val.length,
    dim: entry.feature.dim,
    classes: K,
  });
  return {
    choice: 'head',
    reason: `head: fine-tuning is not available for ${entry.id} (${why}); rung 1 needs only its features`,
    imagesPerClass: perClass,
    trainImages: N,
    timeBudget: opts.timeBudget ?? DEFAULT_TIME_BUDGET,
    throughput: { extract: 0, partialTrain: 0, fullTrain: 0, measured: false },
    estimates: [
      {
        rung: 'head',
        seconds,
        stages: [{ stage: 'head-fit', seconds, detail: 'L2 search by 5-fold CV + final fit' }],
        expectedGain: 0,
        detail: 'new softmax on frozen features (L-BFGS, L2 by 5-fold CV)',
      },
    ],
  };
}

/** Classes, mean training images per class, training images. */
function sizeOf(dataset: Dataset) {
  const counts = classCounts(dataset);
  const K = Math.max(1, counts.length);
  return { K, perClass: Math.round(counts.reduce((a, c) => a + c.train, 0) / K), N: dataset.train.length };
}

async function planAllRungs(dataset: Dataset, opts: PlanOptions): Promise<Plan> {
  const { K, perClass, N } = sizeOf(dataset);
  const Nval = dataset.val.length;
  const budget = opts.timeBudget ?? DEFAULT_TIME_BUDGET;
  const entry = findModel(opts.model ?? DEFAULT_MODEL_ID);
  const userChoseBlocks = opts.freeze !== undefined || opts.trainLast !== undefined || opts.replace !== undefined;
  const net = await loadNetwork(entry, { path: opts.modelPath });
  let domain: DomainCheck | undefined;
  let recipe: PartialRecipe | undefined;
  if (!userChoseBlocks) {
    domain =
      opts.domain === undefined
        ? await checkDomain(dataset, { model: entry.id, modelPath: opts.modelPath })
        : (opts.domain ?? undefined);
    if (domain?.far) recipe = farRecipe(net);
  }
  const dom: Domain = domain?.far ? 'far' : 'photo';
  const partialReq = recipe ?? { freeze: opts.freeze, trainLast: opts.trainLast, replace: opts.replace };
  const gainPartial = expectedGain('partial', perClass, dom);
  const gainFull = expectedGain('full', perClass, dom);
  const paths = [...dataset.train, ...dataset.val].map((i) => i.path);
  const picked = await pickNativeSize(
    dataset.train.map((i) => i.path),
    entry.input.size,
  );
  const fullSize = picked?.size ?? entry.input.size;

  // Probes: what is cached, and how fast each stage runs here now.
  const partialCut = resolveFreeze(net, partialReq);
  const fullCut = resolveFreeze(net, { freeze: 0 });
  let tp: Plan['throughput'];
  let uncached = { features: paths.length, partial: paths.length, full: paths.length };
  let secondsPerImage = { embed: 0, decode: 0 };
  // Fixed costs the run pays again: reading + hashing every file, loading the backbone (measured here).
  const fixed = { hash: 0, load: 0 };
  let trainable = '';
  let partialTailDim = entry.feature.dim;
  let fullProbe: FullEpochProbe | undefined;
  const fitRows = Math.round(N * (1 - INNER_VAL_FRACTION));
  if (opts.throughput) {
    tp = { ...opts.throughput, measured: false };
    secondsPerImage = { embed: 1 / tp.extract, decode: 0.2 / tp.extract };
  } else {
    const tHash = performance.now();
    const hashes = await Promise.all(
      paths.map(async (p) => sha256(await readImageBytes(p).catch(() => Buffer.alloc(0)))),
    );
    fixed.hash = (performance.now() - tHash) / 1000;
    const store = opts.store ?? FeatureStore.open();
    try {
      const tLoad = performance.now();
      const backbone = await loadBackbone(entry, { path: opts.modelPath });
      fixed.load = (performance.now() - tLoad) / 1000;
      try {
        uncached.features = countUncached(store, backbone, hashes);
        secondsPerImage = await probeExtract(backbone, paths);
      } finally {
        await backbone.dispose();
      }
      const partialFrozen = await openCutBackbone(net, partialCut.cut);
      const fullFrozen = await openCutBackbone(net, fullCut.cut, fullSize);
      try {
        uncached = {
          ...uncached,
          partial: countUncached(store, partialFrozen, hashes),
          full: countUncached(store, fullFrozen, hashes),
        };
      } finally {
        await partialFrozen.dispose();
        await fullFrozen.dispose();
      }
    } finally {
      if (!opts.store) store.close();
    }
    const p = await probeSteps(net, partialReq, undefined, 16);
    trainable = p.trainable;
    partialTailDim = p.featureDim;
    const wantFull = opts.alwaysMeasure || (gainFull !== undefined && gainFull > 0);
    // Rung 3: the run's own step (threads, passes, Adam) and per-epoch extras, timed after warm-up (full-probe.ts).
    fullProbe = wantFull
      ? await probeFullEpoch(net, fullSize, { batchSize: RUN_SHAPE.fullBatchSize, classes: K, images: fitRows })
      : undefined;
    tp = {
      extract: 1 / secondsPerImage.embed,
      partialTrain: p.imagesPerSecond,
      fullTrain: fullProbe
        ? 1 / (fullProbe.trainSecondsPerImage + fullProbe.stepSeconds / fullProbe.batchSize)
        : p.imagesPerSecond / 12,
      measured: true,
    };
  }

  // Rung 1: extraction of what is not cached, then the L2 search + final fit.
  const extractStage = (n: number, perImage: number, what: string): StageTime => ({
    stage: 'extract',
    seconds: fixed.hash + fixed.load + n * perImage,
    detail: `${n} of ${paths.length} images not cached (${what}, ~${perImage.toFixed(3)} s each), + reading ${paths.length} files and loading the model`,
  });
  // After the fit: the unknown flag's leave-one-out nearest-neighbour distances over train (and val's), then metrics.
  const nnCost = measureDotCost();
  const refs = Math.min(N, DEFAULT_MAX_REFERENCES);
  const afterFit = (dim: number) => refs * (refs + Nval) * dim * nnCost;
  const headFit =
    (await estimateHeadFitSeconds({ trainRows: N, valRows: Nval, dim: entry.feature.dim, classes: K })) +
    afterFit(entry.feature.dim);
  const headStages: StageTime[] = [
    extractStage(uncached.features, secondsPerImage.embed, 'features'),
    { stage: 'head-fit', seconds: headFit, detail: 'L2 search by 5-fold CV + final fit' },
  ];
  // Rungs 2-3: activations at the cut, the L-BFGS head on the tail's features (85% of train), the epochs (training
  // steps on the fit rows + scoring the inner val rows), then the tail's features of train and val once for the report.
  // Cost: an epoch's seconds, one image's scoring forward, and the run's one-time warm-up of its first steps.
  const tuned = (extract: StageTime, cost: EpochCost, dim: number, epochs: number) => {
    const { epochSeconds, inferSecondsPerImage: infer, warmupSeconds } = cost;
    return {
      epochSeconds,
      stages: [
        extract,
        {
          stage: 'head-fit' as const,
          seconds: N * infer,
          detail: 'tail features + L-BFGS head (search included)',
        },
        {
          stage: 'epochs' as const,
          seconds: epochs * epochSeconds + warmupSeconds,
          detail: `${epochs} epochs (early stopping after ${PATIENCE} without gain)`,
        },
        {
          stage: 'final' as const,
          seconds: (N + Nval) * infer + afterFit(dim),
          detail: 'features of train + val, unknown flag, metrics',
        },
      ],
      dim,
    };
  };
  // From a training rate alone (img/s): scoring an image costs INFER_COST of a training step.
  const costAt = (imgPerSec: number): EpochCost => ({
    epochSeconds: fitRows / imgPerSec + (N - fitRows) / (imgPerSec / INFER_COST),
    inferSecondsPerImage: INFER_COST / imgPerSec,
    warmupSeconds: 0,
  });
  const partialEpochs = epochsExpected('partial', gainPartial, dom, perClass);
  const fullEpochs = epochsExpected('full', gainFull, dom, perClass);
  const partial = tuned(
    extractStage(uncached.partial, secondsPerImage.embed, 'activations at the cut'),
    costAt(tp.partialTrain),
    partialTailDim,
    partialEpochs.expected,
  );
  const full = tuned(
    extractStage(uncached.full, secondsPerImage.decode, `decoded at ${fullSize} px`),
    fullProbe
      ? {
          epochSeconds: fullEpochCost(fullProbe, { fit: fitRows, check: N - fitRows }),
          inferSecondsPerImage: fullProbe.scoreSecondsPerImage,
          warmupSeconds: fullProbe.warmupSeconds,
        }
      : costAt(tp.fullTrain),
    entry.feature.dim,
    fullEpochs.expected,
  );
  // The head fit inside fine-tuning runs the same L2 search on the tail's features.
  const tunedHead = (dim: number) =>
    estimateHeadFitSeconds({ trainRows: Math.round(N * (1 - INNER_VAL_FRACTION)), valRows: 0, dim, classes: K });
  partial.stages[1].seconds += await tunedHead(partial.dim);
  full.stages[1].seconds += await tunedHead(full.dim);
  // Each probe times the stage's kernel; the run adds what the probe leaves out (Adam, scoring, checkpoints, worker
  // hand-offs, reading the cache back): measured corrections per rung and stage (stage-calibration.ts).
  for (const [rung, stages] of [
    ['head', headStages],
    ['partial', partial.stages],
    ['full', full.stages],
  ] as const)
    for (const st of stages) st.seconds = calibratedStageSeconds(rung, st.stage, st.seconds, paths.length);
  partial.epochSeconds = calibratedStageSeconds('partial', 'epochs', partial.epochSeconds, paths.length);
  full.epochSeconds = calibratedStageSeconds('full', 'epochs', full.epochSeconds, paths.length);
  const sum = (s: StageTime[]) => s.reduce((a, x) => a + x.seconds, 0);
  // The epoch count is early stopping's: the estimate counts the expected one, the range the fewest and the most.
  const ranged = (e: EpochCount, stages: StageTime[], epochSeconds: number) => ({
    epochs: e.expected,
    epochsRange: [e.fewest, e.most] as [number, number],
    secondsRange: secondsRange(sum(stages), e, epochSeconds),
  });
  const partialRun = ranged(partialEpochs, partial.stages, partial.epochSeconds);
  const fullRun = ranged(fullEpochs, full.stages, full.epochSeconds);
  const epochsText = (r: ReturnType<typeof ranged>) =>
    `${r.epochs} of ${r.epochsRange[1]} epochs counted (early stopping: ${formatSeconds(r.secondsRange[0])} to ${formatSeconds(r.secondsRange[1])} in all)`;
  const estimates: RungEstimate[] = [
    {
      rung: 'head',
      seconds: sum(headStages),
      stages: headStages,
      expectedGain: 0,
      detail: 'new softmax on frozen features (L-BFGS, L2 by 5-fold CV)',
    },
    {
      rung: 'partial',
      seconds: sum(partial.stages),
      stages: partial.stages,
      expectedGain: gainPartial ?? null,
      epochSeconds: partial.epochSeconds,
      ...partialRun,
      detail: recipe
        ? `${recipe.replace.join(',')} new units in place of the last ${recipe.trainLast} blocks (${recipeFlags(recipe)}) + softmax on cached activations at ~${tp.partialTrain.toFixed(0)} img/s, ${epochsText(partialRun)}`
        : `last blocks${trainable ? ` (${trainable})` : ''} + softmax on cached activations at ~${tp.partialTrain.toFixed(0)} img/s, ${epochsText(partialRun)}`,
    },
    {
      rung: 'full',
      seconds: sum(full.stages),
      stages: full.stages,
      expectedGain: gainFull ?? null,
      epochSeconds: full.epochSeconds,
      ...fullRun,
      detail: `every layer at ${fullSize} px at ~${tp.fullTrain.toFixed(1)} img/s${fullProbe ? ` (${fullProbe.threads} thread${fullProbe.threads > 1 ? 's' : ''}, passes of ${fullProbe.microBatch})` : ''}, ${epochsText(fullRun)}`,
    },
  ];
  const data = opts.dataArg ?? dataset.root;
  const command = (rung: Rung) =>
    `tl train ${data} --strategy ${rung}${rung === 'partial' && recipe ? ` ${recipeFlags(recipe)}` : ''}`;
  const options: RungOption[] = estimates.map((e) => ({
    rung: e.rung,
    seconds: e.seconds,
    gain: e.expectedGain ?? undefined,
    command: command(e.rung),
  }));
  const decision = decideRung(options, { perClass, budget, domain: dom });
  let reason = decision.reason;
  if (decision.choice === 'partial' && recipe)
    reason += `; far from ImageNet (its head's mean top-1 confidence on ${domain!.images} training images is ${domain!.meanTop1.toFixed(2)}, photos score 0.5-0.8), so new units replace the last ${recipe.trainLast} blocks (${recipeFlags(recipe)})`;
  return {
    choice: decision.choice,
    reason,
    imagesPerClass: perClass,
    trainImages: N,
    timeBudget: budget,
    throughput: tp,
    estimates,
    domain,
    recipe,
    blockedByBudget: decision.blockedByBudget,
    fullSize,
    fullEpoch: fullProbe,
  };
}

/** A fine-tuning rung's per-epoch and per-image costs (seconds). */
interface EpochCost {
  epochSeconds: number;
  inferSecondsPerImage: number;
  /** Once per run, added to the epochs stage (the first steps' tier-up and worker start). */
  warmupSeconds: number;
}

/** How many of the images (by content hash) the store lacks for this backbone's vectors. */
function countUncached(store: FeatureStore, backbone: Backbone, hashes: string[]): number {
  const { key, dim } = modelKeyFor(backbone);
  return hashes.filter((h) => !store.get(key, h, dim)).length;
}

/**
 * Seconds per image of extraction (read, decode, backbone forward; the real pipeline on an in-memory store) and of
 * decoding alone (what rung 3 caches), on a few images after a warm-up batch.
 */
async function probeExtract(backbone: Backbone, paths: string[]): Promise<{ embed: number; decode: number }> {
  const sample = paths.filter((_, i) => i % Math.max(1, Math.floor(paths.length / 64)) === 0).slice(0, 64);
  // The warm-up batch has the timed batch's shape: a runtime plans its memory per input shape on the first call.
  const half = Math.max(1, Math.floor(sample.length / 2));
  const warm = sample.slice(0, half);
  const timed = sample.slice(half, 2 * half);
  const mem = FeatureStore.open(':memory:');
  try {
    await extractFeatures(backbone, warm, { store: mem, batchSize: half });
    const t0 = performance.now();
    await extractFeatures(backbone, timed, { store: mem, batchSize: half });
    const embed = (performance.now() - t0) / 1000 / Math.max(1, timed.length);
    const t1 = performance.now();
    for (const p of timed.slice(0, 16)) await preprocess(p, backbone.input).catch(() => undefined);
    const decode = (performance.now() - t1) / 1000 / Math.max(1, Math.min(16, timed.length));
    return { embed, decode };
  } finally {
    mem.close();
  }
}

/**
 * Training img/s of a tail (the partial rung's; rung 3 has its own probe, full-probe.ts) from a few steps on random
 * activations, single-threaded, scaled by the data-parallel speed-up the real run gets (PARALLEL_SPEEDUP).
 */
async function probeSteps(
  net: Network,
  req: { freeze?: number; trainLast?: number; replace?: number[] },
  size: number | undefined,
  B: number,
): Promise<{ imagesPerSecond: number; trainable: string; featureDim: number }> {
  const { tf } = await trainingTf();
  const { cut, trainable, lastFrozen } = resolveFreeze(net, req);
  const s = size ?? net.entry.input.size;
  const unitShape =
    lastFrozen >= 0
      ? scaleShape(net.units[lastFrozen].shape, s / net.entry.input.size)
      : ([s, s, 3] as [number, number, number]);
  const tail = await buildTrainableTail(tf, net, cut, unitShape, { replace: req.replace });
  const x = tf.randomNormal([B, ...unitShape]) as import('@tensorflow/tfjs').Tensor4D;
  const vars = [...tail.variables.values()];
  const step = () =>
    tf.tidy(() => {
      const { value, grads } = tf.variableGrads(
        () => tf.mean(tf.square(tail.apply(x))) as import('@tensorflow/tfjs').Scalar,
        vars,
      );
      value.dataSync();
      tf.dispose(Object.values(grads));
    });
  try {
    step(); // warm-up (kernel setup, allocations)
    const t0 = performance.now();
    const reps = 2;
    for (let i = 0; i < reps; i++) step();
    const single = (reps * B) / ((performance.now() - t0) / 1000);
    const threads = defaultTrainThreads();
    return {
      imagesPerSecond: threads > 1 ? single * PARALLEL_SPEEDUP : single,
      trainable: trainable.map((u) => u.label).join(', '),
      featureDim: tail.featureDim,
    };
  } finally {
    x.dispose();
    tail.dispose();
  }
}

/**
 * Epochs of a fine-tuning run as early stopping decides them: at least PATIENCE (nothing beats epoch 0), at most all.
 * The estimate counts all of them when a gain is expected (or a far domain is tried unmeasured, auto-rules.ts
 * triesUnmeasured), else PATIENCE's: on the 29 locked bench:auto runs this rule was within ±30% of the epochs run on
 * 19, the mean epochs run per rung/domain/size (leave-one-dataset-out) on 8: early stopping's count does not follow
 * the size or domain, so the plan gives the range too.
 */
export interface EpochCount {
  expected: number;
  fewest: number;
  most: number;
}

export function epochsExpected(rung: Rung, gain: number | undefined, domain: Domain, perClass: number): EpochCount {
  const most = rung === 'full' ? FULL_EPOCHS : PARTIAL_EPOCHS;
  const fewest = Math.min(most, PATIENCE);
  return { expected: expectsToTrainOn(rung, gain, domain, perClass) ? most : fewest, fewest, most };
}

/** A run's seconds if it stops after the fewest epochs and after the most, from its estimate counting `expected`. */
export function secondsRange(total: number, e: EpochCount, epochSeconds: number): [number, number] {
  return [total - (e.expected - e.fewest) * epochSeconds, total + (e.most - e.expected) * epochSeconds];
}

/** Measured speed-up of data-parallel steps on 2 threads over the single-thread probe (bench/auto.ts). */
export const PARALLEL_SPEEDUP = 1;

/** Seconds per multiply-add of a float32 dot product in JavaScript (the unknown flag's distances), best of 3. */
function measureDotCost(): number {
  const a = Float32Array.from({ length: 1280 }, (_, i) => Math.sin(i));
  const b = Float32Array.from({ length: 1280 }, (_, i) => Math.cos(i));
  let best = Infinity;
  let sink = 0;
  for (let rep = 0; rep < 3; rep++) {
    const t0 = performance.now();
    for (let k = 0; k < 400; k++) for (let i = 0; i < a.length; i++) sink += a[i] * b[i];
    best = Math.min(best, (performance.now() - t0) / 1000 / (400 * a.length));
  }
  return sink === Infinity ? 0 : best;
}

const scaleShape = (shape: [number, number, number], f: number): [number, number, number] => [
  Math.max(1, Math.round(shape[0] * f)),
  Math.max(1, Math.round(shape[1] * f)),
  shape[2],
];

export { formatSeconds };
