// How many images one forward/backward pass may hold: the run (train.ts) and the plan's rung-3 probe (full-probe.ts)
// size their passes by the same measurement, so the probe times the passes the run will make.
import type * as tfjs from '@tensorflow/tfjs';
import { env } from '../util/env.js';
import type { TrainableTail } from './network.js';

type TF = typeof tfjs;

/**
 * Training steps must fit tfjs-wasm's heap (32-bit: 4 GB at most, and fragmentation makes less usable; a wasm
 * out-of-bounds error leaves the backend unusable, so a failed step cannot be retried at half the batch). The bytes
 * one image needs in a training step are measured (tf.profile of a one-image step) and the batch is capped so that a
 * step stays under this budget with a 1.5x margin. env.finetuneMemoryMB (TL_FT_MEMORY_MB) overrides it.
 */
export const STEP_MEMORY_BUDGET = 1536 * 2 ** 20;

export function stepMemoryBudget(): number {
  return env.finetuneMemoryMB ? env.finetuneMemoryMB * 2 ** 20 : STEP_MEMORY_BUDGET;
}

/** Peak wasm-heap bytes of a one-image training step of `tail` (forward + gradients). */
export async function stepBytesPerImage(tf: TF, tail: TrainableTail): Promise<number> {
  const vars = [...tail.variables.values()];
  const x = tf.randomUniform([1, ...tail.inputShape], -1, 1) as tfjs.Tensor4D;
  try {
    const base = tf.memory().numBytes;
    const info = await tf.profile(() => {
      const { value, grads } = tf.variableGrads(() => tf.mean(tf.square(tail.apply(x))) as tfjs.Scalar, vars);
      tf.dispose([value, ...Object.values(grads)]);
    });
    return Math.max(1, info.peakBytes - base);
  } finally {
    x.dispose();
  }
}

/** Images per training pass (micro-batch) and per inference pass that fit the budget, for a requested batch. */
export function passSizes(batchSize: number, bytesPerImage: number): { microBatch: number; inferBatch: number } {
  const fits = Math.max(1, Math.floor(stepMemoryBudget() / (1.5 * bytesPerImage)));
  // Inference keeps less (no gradients) but tail.apply's tidy holds every intermediate until it returns.
  return { microBatch: Math.min(batchSize, fits), inferBatch: Math.max(1, Math.min(64, fits)) };
}
