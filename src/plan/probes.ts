// `--strategy auto`'s measurements, here and now, on this machine and these images: how ImageNet-like the images look
// to the backbone (domain.ts), what the feature cache already holds, and how fast each stage runs (extraction of a few
// uncached images, the head's gradient evaluation, a few training steps of the partial tail, and the parts of a
// whole-network epoch: full-probe.ts). estimate.ts turns them into each rung's seconds.
import type { Dataset } from '../data/dataset.js';
import { readImageBytes } from '../data/image-file.js';
import { preprocess } from '../data/image.js';
import { findModel } from '../backbone/registry.js';
import { loadBackbone } from '../backbone/load.js';
import { DEFAULT_MODEL_ID } from '../backbone/zoo.js';
import type { Backbone, ModelEntry } from '../backbone/types.js';
import { extractFeatures } from '../features/extract.js';
import { FeatureStore, modelKeyFor } from '../features/store.js';
import { estimateHeadFitSeconds } from '../solvers/head-cost.js';
import { sha256 } from '../util/hash.js';
import {
  loadNetwork,
  openCutBackbone,
  resolveFreeze,
  buildTrainableTail,
  trainingTf,
  type Network,
} from '../finetune/network.js';
import { pickNativeSize } from '../finetune/native-size.js';
import { defaultTrainThreads } from '../finetune/parallel.js';
import { checkDomain, type DomainCheck } from './domain.js';
import { probeFullEpoch } from './full-probe.js';
import { expectedGain } from './decide.js';
import { RUN_SHAPE, type Measurements, type PartialRecipe, type RunSize, type Throughput } from './estimate.js';

export interface ProbeOptions {
  model?: string;
  modelPath?: string;
  freeze?: number;
  trainLast?: number;
  /** The user's own --replace (then no recipe is picked for them). */
  replace?: number[];
  /** Skip the probes and use these throughputs (img/s); extraction then assumes nothing is cached. */
  throughput?: { extract: number; partialTrain: number; fullTrain: number };
  /** Probe rung 3 even when no prior says it gains (tl plan does). */
  alwaysMeasure?: boolean;
  /** Skip the ImageNet-likeness check and use this one (tests). */
  domain?: DomainCheck | null;
  /** The cache the run will read (default: the user's). */
  store?: FeatureStore;
}

export interface ProbeResults extends Measurements {
  /** How ImageNet-like the training images look to the backbone's own head (when no blocks were asked for). */
  domain?: DomainCheck;
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

/** Measured speed-up of data-parallel steps on 2 threads over the single-thread probe (bench/auto.ts). */
export const PARALLEL_SPEEDUP = 1;

type PartialRequest = { freeze?: number; trainLast?: number; replace?: number[] };
/** The network, the partial rung's blocks, and where each fine-tuning rung cuts it. */
interface ProbeRun {
  entry: ModelEntry;
  net: Network;
  partialReq: PartialRequest;
  cuts: { partial: string; full: string };
  fullSize: number;
}
/** The probes of each stage's speed and of what is cached. */
type Speed = Pick<
  Measurements,
  'throughput' | 'uncached' | 'secondsPerImage' | 'fixedSeconds' | 'trainable' | 'partialTailDim' | 'fullProbe'
>;

/** Every measurement the estimate needs (see the top of this file); with opts.throughput, the speeds are assumed. */
export async function runProbes(dataset: Dataset, size: RunSize, opts: ProbeOptions): Promise<ProbeResults> {
  const entry = findModel(opts.model ?? DEFAULT_MODEL_ID);
  const net = await loadNetwork(entry, { path: opts.modelPath });
  const { domain, recipe } = await probeDomain(dataset, entry, net, opts);
  const partialReq: PartialRequest = recipe ?? {
    freeze: opts.freeze,
    trainLast: opts.trainLast,
    replace: opts.replace,
  };
  const picked = await pickNativeSize(
    dataset.train.map((i) => i.path),
    entry.input.size,
  );
  const fullSize = picked?.size ?? entry.input.size;
  // Resolved on either path: blocks the network cannot cut at end the plan here (planTraining's head-only plan).
  const cuts = { partial: resolveFreeze(net, partialReq).cut, full: resolveFreeze(net, { freeze: 0 }).cut };
  const gainFull = expectedGain('full', size.perClass, domain?.far ? 'far' : 'photo');
  const speed = opts.throughput
    ? assumedSpeed(opts.throughput, size.train + size.val, entry.feature.dim)
    : await measureSpeed(dataset, size, opts, {
        entry,
        net,
        partialReq,
        cuts,
        fullSize,
        // Rung 3's probe costs seconds: only when a gain is expected or the caller asks (tl plan).
        wantFull: opts.alwaysMeasure || (gainFull !== undefined && gainFull > 0),
      });
  const dotSeconds = measureDotCost();
  const headFit = (rows: number, valRows: number, dim: number) =>
    estimateHeadFitSeconds({ trainRows: rows, valRows, dim, classes: size.classes });
  const headFitSeconds = {
    head: await headFit(size.train, size.val, entry.feature.dim),
    // The head fit inside fine-tuning runs the same L2 search on the tail's features of the fit rows.
    partial: await headFit(size.fit, 0, speed.partialTailDim),
    full: await headFit(size.fit, 0, entry.feature.dim),
  };
  return { ...speed, featureDim: entry.feature.dim, headFitSeconds, dotSeconds, fullSize, recipe, domain };
}

/** The ImageNet-likeness check, and the far recipe when the images are far and no blocks were asked for. */
async function probeDomain(
  dataset: Dataset,
  entry: ModelEntry,
  net: Network,
  opts: ProbeOptions,
): Promise<{ domain?: DomainCheck; recipe?: PartialRecipe }> {
  const userChoseBlocks = opts.freeze !== undefined || opts.trainLast !== undefined || opts.replace !== undefined;
  if (userChoseBlocks) return {};
  const domain =
    opts.domain === undefined
      ? await checkDomain(dataset, { model: entry.id, modelPath: opts.modelPath })
      : (opts.domain ?? undefined);
  return { domain, recipe: domain?.far ? farRecipe(net) : undefined };
}

/** The caller's throughputs: nothing counted as cached, no fixed costs, decoding a fifth of extraction. */
function assumedSpeed(tp: NonNullable<ProbeOptions['throughput']>, images: number, featureDim: number): Speed {
  const throughput: Throughput = { ...tp, measured: false };
  return {
    throughput,
    uncached: { features: images, partial: images, full: images },
    secondsPerImage: { embed: 1 / throughput.extract, decode: 0.2 / throughput.extract },
    fixedSeconds: { hash: 0, load: 0 },
    trainable: '',
    partialTailDim: featureDim,
    fullProbe: undefined,
  };
}

/** What is cached, and how fast each stage runs here now. */
async function measureSpeed(
  dataset: Dataset,
  size: RunSize,
  opts: ProbeOptions,
  run: ProbeRun & { wantFull: boolean },
): Promise<Speed> {
  const paths = [...dataset.train, ...dataset.val].map((i) => i.path);
  const cache = await probeCache(paths, opts, run);
  const p = await probeSteps(run.net, run.partialReq, undefined, 16);
  // Rung 3: the run's own step (threads, passes, Adam) and per-epoch extras, timed after warm-up (full-probe.ts).
  const fullProbe = run.wantFull
    ? await probeFullEpoch(run.net, run.fullSize, {
        batchSize: RUN_SHAPE.fullBatchSize,
        classes: size.classes,
        images: size.fit,
      })
    : undefined;
  return {
    ...cache,
    throughput: {
      extract: 1 / cache.secondsPerImage.embed,
      partialTrain: p.imagesPerSecond,
      fullTrain: fullProbe
        ? 1 / (fullProbe.trainSecondsPerImage + fullProbe.stepSeconds / fullProbe.batchSize)
        : p.imagesPerSecond / 12,
      measured: true,
    },
    trainable: p.trainable,
    partialTailDim: p.featureDim,
    fullProbe,
  };
}

/**
 * How many images each rung's frozen part still has to compute (the store, by content hash), the extraction probe,
 * and the fixed costs the run pays again: reading + hashing every file, loading the backbone.
 */
async function probeCache(
  paths: string[],
  opts: ProbeOptions,
  run: ProbeRun,
): Promise<Pick<Measurements, 'uncached' | 'secondsPerImage' | 'fixedSeconds'>> {
  const tHash = performance.now();
  const hashes = await Promise.all(
    paths.map(async (p) => sha256(await readImageBytes(p).catch(() => Buffer.alloc(0)))),
  );
  const hash = (performance.now() - tHash) / 1000;
  const store = opts.store ?? FeatureStore.open();
  try {
    const tLoad = performance.now();
    const backbone = await loadBackbone(run.entry, { path: opts.modelPath });
    const load = (performance.now() - tLoad) / 1000;
    let features: number;
    let secondsPerImage: { embed: number; decode: number };
    try {
      features = countUncached(store, backbone, hashes);
      secondsPerImage = await probeExtract(backbone, paths);
    } finally {
      await backbone.dispose();
    }
    const partialFrozen = await openCutBackbone(run.net, run.cuts.partial);
    const fullFrozen = await openCutBackbone(run.net, run.cuts.full, run.fullSize);
    try {
      const uncached = {
        features,
        partial: countUncached(store, partialFrozen, hashes),
        full: countUncached(store, fullFrozen, hashes),
      };
      return { uncached, secondsPerImage, fixedSeconds: { hash, load } };
    } finally {
      await partialFrozen.dispose();
      await fullFrozen.dispose();
    }
  } finally {
    if (!opts.store) store.close();
  }
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
  req: PartialRequest,
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
