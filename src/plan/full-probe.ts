// The plan's rung-3 probe: times, here and now, the parts a whole-network epoch is made of, with the machinery the run
// uses (parallel.ts's data-parallel step over the run's threads, passes sized by step-memory.ts like the run's, Adam
// and the weights sent back to the workers), then the scoring forward of the inner val split and the augmentation
// drawn afresh for every training image each epoch. estimate.ts's fullEpochCost turns the probe into an epoch's seconds.
//
// Measured on this 2-core machine (EuroSAT at 128 px, MobileNetV2): a single-thread probe of 3 steps of 8 images,
// the first untimed, said 219 s per epoch against the run's 153 s: it missed the second thread, and its second step
// still ran ~1.2-1.5x the steady ones (wasm code tiering up, the heap growing), so it timed a warm-up step. This probe
// said 185 s before a 175 s epoch in the same lock hold, where the old one said 329 s (docs/auto.md, "Rung 3's time estimate").
import { buildTrainableTail, resolveFreeze, trainingTf, type Network } from '../finetune/network.js';
import { startParallelSteps } from '../finetune/parallel.js';
import { shardGrads, applySummedGrads, batchNorm, type ShardModel, type ShardResult } from '../finetune/step.js';
import { stepBytesPerImage, passSizes } from '../finetune/step-memory.js';
import { tailFeatures } from '../finetune/finetuned-backbone.js';
import { augmentImage } from '../finetune/augment.js';
import { Rng } from '../util/random.js';

/** What one whole-network epoch costs here, per part (seconds). */
export interface FullEpochProbe {
  /** Shards per step (this thread + workers), as the run will use. */
  threads: number;
  /** The run's optimizer batch and images per forward/backward pass. */
  batchSize: number;
  microBatch: number;
  /** Forward + backward of one training image, wall time with every thread working (steady state). */
  trainSecondsPerImage: number;
  /** Per optimizer step: summing the shards' gradients, Adam, sending the weights to the workers. */
  stepSeconds: number;
  /** Scoring forward of one image (the inner val split each epoch; the final features), on this thread. */
  scoreSecondsPerImage: number;
  /** Drawing one training image's augmentation (JavaScript, this thread, every epoch). */
  augmentSecondsPerImage: number;
  /** Once per run: the first steps' extra time over the steady rate (wasm tier-up, heap growth, worker start). */
  warmupSeconds: number;
  /** Every probe step as measured, warm-up steps first (for `tl plan --json`). */
  steps: ProbeStepSample[];
}

/** Untimed steps before the timed ones: the 2nd step still ran ~1.2-1.5x the steady time (see the top of this file). */
export const PROBE_WARMUP_STEPS = 2;
/**
 * Timed steps; the rate is the fastest one's. Steps 3-4 still ran 5-10% slower each than the one before (EuroSAT:
 * 864, 794, 707 ms) and a burst of another process slows single steps: with the mean of two timed steps the probe said
 * 212 s for a 144 s quiet epoch. The fastest of four is the steady rate the run settles at.
 */
export const PROBE_TIMED_STEPS = 4;

/** One timed probe step: images, forward/backward wall ms (all shards), the per-step rest (sum, Adam, hand-off) ms. */
export interface ProbeStepSample {
  n: number;
  computeMs: number;
  applyMs: number;
}

/**
 * Steady per-image and per-step costs from the probe's steps: the first `warmup` are left out of the rates (their
 * excess over the steady rate is the run's one-time warm-up); of the timed ones, the fastest per image and the median
 * per-step rest (see PROBE_TIMED_STEPS).
 */
export function steadyStepCost(samples: ProbeStepSample[], warmup = PROBE_WARMUP_STEPS) {
  if (samples.length <= warmup) throw new Error(`need more than ${warmup} probe steps, got ${samples.length}`);
  const timed = samples.slice(warmup);
  const trainSecondsPerImage = Math.min(...timed.map((s) => s.computeMs / s.n)) / 1000;
  const applies = timed.map((s) => s.applyMs).sort((a, b) => a - b);
  const mid = applies.length >> 1;
  const stepSeconds = (applies.length % 2 ? applies[mid] : (applies[mid - 1] + applies[mid]) / 2) / 1000;
  const steady = (s: ProbeStepSample) => s.n * trainSecondsPerImage + stepSeconds;
  const warmupSeconds = samples
    .slice(0, warmup)
    .reduce((a, s) => a + Math.max(0, (s.computeMs + s.applyMs) / 1000 - steady(s)), 0);
  return { trainSecondsPerImage, stepSeconds, warmupSeconds };
}

/** Probes the whole network at `size` px with K classes and the run's batch (see the top of this file). */
export async function probeFullEpoch(
  net: Network,
  size: number,
  opts: { batchSize: number; classes: number; images: number },
): Promise<FullEpochProbe> {
  const { tf } = await trainingTf();
  const { cut } = resolveFreeze(net, { freeze: 0 });
  const tail = await buildTrainableTail(tf, net, cut, [size, size, 3]);
  const K = Math.max(2, opts.classes);
  const D = tail.featureDim;
  const Wv = tf.variable(tf.randomNormal([K, D], 0, 0.01), true);
  const bv = tf.variable(tf.zeros([K]), true);
  const meanT = tf.zeros([D]);
  const stdT = tf.ones([D]);
  const optHead = tf.train.adam(1e-4);
  const optTail = tf.train.adam(1e-5);
  const tailVars = [...tail.variables.values()];
  const { microBatch, inferBatch } = passSizes(opts.batchSize, await stepBytesPerImage(tf, tail));
  const model: ShardModel = { tf, tail, tailVars, Wv, bv, meanT, stdT, K, microBatch };
  const tStart = performance.now();
  const par = await startParallelSteps(
    { tf, tail, K, l2: 0, Wv, bv, meanT, stdT, optHead, optTail, microBatch },
    { net, images: opts.images, batchSize: opts.batchSize },
  );
  const startMs = performance.now() - tStart;
  const threads = par?.threads ?? 1;
  try {
    // One pass per shard per step (the run's batch when smaller): per-image compute and per-step costs are measured
    // apart, so a smaller probe batch than the run's costs no accuracy, only less probe time.
    const n = Math.min(opts.batchSize, threads * microBatch);
    const per = size * size * 3;
    const images = randomImages(n, per, 1);
    const ys = Int32Array.from({ length: n }, (_, i) => i % K);
    const samples: ProbeStepSample[] = [];
    for (let i = 0; i < PROBE_WARMUP_STEPS + PROBE_TIMED_STEPS; i++) {
      const t0 = performance.now();
      if (par) {
        const r = await par.step(images.slice(), ys.slice(), n);
        await r.loss.data();
        tf.dispose([r.loss, r.correct]);
        const { applyMs } = par.lastTimings;
        samples.push({ n, computeMs: performance.now() - t0 - applyMs, applyMs });
      } else {
        const part: ShardResult = await shardGrads(model, images, ys, n, await batchNorm(undefined, ys, n), 0);
        const t1 = performance.now();
        applySummedGrads(model, optHead, optTail, [part]);
        await tailVars[0].data();
        samples.push({ n, computeMs: t1 - t0, applyMs: performance.now() - t1 });
      }
    }
    const steady = steadyStepCost(samples);
    // Scoring: the run's inference passes, on this thread (kernels already warm from the steps).
    const scoreN = Math.min(inferBatch, 16);
    const scoreImages = randomImages(scoreN, per, 2);
    const rows = Array.from({ length: scoreN }, (_, i) => scoreImages.subarray(i * per, (i + 1) * per));
    const t0 = performance.now();
    await tailFeatures(tf, tail, rows, inferBatch);
    const scoreSecondsPerImage = (performance.now() - t0) / 1000 / scoreN;
    return {
      threads,
      batchSize: opts.batchSize,
      microBatch,
      ...steady,
      warmupSeconds: steady.warmupSeconds + startMs / 1000,
      scoreSecondsPerImage,
      augmentSecondsPerImage: timeAugment(net, rows, size),
      steps: samples,
    };
  } finally {
    await par?.close();
    optHead.dispose();
    optTail.dispose();
    tf.dispose([Wv, bv, meanT, stdT]);
    tail.dispose();
  }
}

/** n preprocessed-looking images (values in [-2, 2]), deterministic. */
function randomImages(n: number, per: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  return Float32Array.from({ length: n * per }, () => rng.next() * 4 - 2);
}

/** Seconds per image of the run's per-epoch augmentation draw (after one untimed draw). */
function timeAugment(net: Network, rows: Float32Array[], size: number): number {
  const spec = net.entry.input;
  augmentImage(rows[0], spec, size, 'NHWC', { seed: 0, copy: 0 });
  const t0 = performance.now();
  for (const [i, r] of rows.entries()) augmentImage(r, spec, size, 'NHWC', { seed: 0, copy: i + 1 });
  return (performance.now() - t0) / 1000 / rows.length;
}
