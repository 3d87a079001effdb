// One fine-tuning step's loss and gradients (tail + softmax on cut activations), shared by the serial step in
// train.ts and every shard of the data-parallel step in parallel.ts, so the two can never compute different losses.
import type * as tfjs from '@tensorflow/tfjs';
import type { TrainableTail } from './network.js';

type TF = typeof tfjs;

/** What one shard needs to compute its loss and gradients (the same on this thread and in a worker). */
export interface ShardModel {
  tf: TF;
  tail: TrainableTail;
  /** Tail variables in a fixed order (the order of `tail.variables`). */
  tailVars: tfjs.Variable[];
  Wv: tfjs.Variable;
  bv: tfjs.Variable;
  meanT: tfjs.Tensor;
  stdT: tfjs.Tensor;
  /** Per-class sample weights, or undefined for plain mean cross-entropy. */
  swT?: tfjs.Tensor;
  K: number;
  /**
   * Images per forward/backward pass (default: the whole shard). A shard larger than this runs as consecutive
   * micro-batches whose gradients are summed: the same gradient as one pass (the loss is a sum over images and
   * BatchNorm is folded, so nothing depends on the batch), with a fraction of the activation memory.
   */
  microBatch?: number;
  /**
   * Decoupled weight decay (AdamW): after each Adam step a weight w moves by -rate*weightDecay*w (its value before
   * the step, the optimizer's current rate). Only on kernels and the head's W: biases and BatchNorm's scale/shift
   * (every rank-1 variable) are left alone. Applied where the optimizers step (this thread); default 0.
   */
  weightDecay?: number;
}

export interface ShardResult {
  /** Gradients in the order tailVars..., W, b (undefined where the loss does not depend on a variable). */
  grads: (tfjs.Tensor | undefined)[];
  /** This shard's part of the full-batch loss (incl. the L2 term when it was asked for). */
  loss: number;
  correct: number;
}

/**
 * Gradients of sum_{i in shard} w_i*CE_i / norm (+ l2/2 ||W||^2 when l2 > 0). The returned tensors are kept (outside
 * any tidy): the caller disposes them.
 */
export async function shardGrads(
  m: ShardModel,
  data: Float32Array,
  ys: Int32Array,
  n: number,
  norm: number,
  l2: number,
): Promise<ShardResult> {
  const micro = m.microBatch && m.microBatch < n ? Math.max(1, Math.floor(m.microBatch)) : n;
  if (micro >= n) return passGrads(m, data, ys, n, norm, l2);
  const per = data.length / n;
  const sum: ShardResult = { grads: [], loss: 0, correct: 0 };
  for (let s = 0; s < n; s += micro) {
    const k = Math.min(micro, n - s);
    // The L2 term once (first pass); every pass divides by the whole batch's norm, so the parts add up.
    const r = await passGrads(m, data.slice(s * per, (s + k) * per), ys.slice(s, s + k), k, norm, s === 0 ? l2 : 0);
    sum.grads = r.grads.map((g, i) => {
      const prev = sum.grads[i];
      if (!prev || !g) return prev ?? g;
      const t = m.tf.add(prev, g);
      m.tf.dispose([prev, g]);
      return t;
    });
    sum.loss += r.loss;
    sum.correct += r.correct;
  }
  return sum;
}

/** One forward/backward pass over n images (see shardGrads). */
async function passGrads(
  m: ShardModel,
  data: Float32Array,
  ys: Int32Array,
  n: number,
  norm: number,
  l2: number,
): Promise<ShardResult> {
  const { tf, tail, Wv, bv, meanT, stdT, swT, K } = m;
  const [h, w, c] = tail.inputShape;
  const vars = [...m.tailVars, Wv, bv];
  const out = tf.tidy(() => {
    const x = tf.tensor4d(data, [n, h, w, c]);
    const yT = tf.tensor1d(ys, 'int32');
    const oneHot = tf.oneHot(yT, K);
    const wts = swT ? tf.gather(swT, yT) : undefined;
    let logitsOut: tfjs.Tensor | undefined;
    const { value, grads } = tf.variableGrads(() => {
      const f = tail.apply(x);
      const z = tf.div(tf.sub(f, meanT), stdT);
      const logits = tf.add(tf.matMul(z, Wv, false, true), bv);
      logitsOut = tf.keep(logits);
      // Cross-entropy by hand (log-softmax via logSumExp): tf.losses.softmaxCrossEntropy trips tfjs's kernel leak
      // check under IS_TEST on wasm. Weighted like the L-BFGS objective: sum(w*CE)/sum(w) + l2/2 ||W||^2.
      const ce = tf.neg(tf.sum(tf.mul(oneHot, tf.sub(logits, tf.logSumExp(logits, 1, true))), 1));
      const part = tf.div(tf.sum(wts ? tf.mul(ce, wts) : ce), norm);
      return (l2 > 0 ? tf.add(part, tf.mul(l2 / 2, tf.sum(tf.square(Wv)))) : part) as tfjs.Scalar;
    }, vars);
    const correct = tf.sum(tf.cast(tf.equal(tf.argMax(logitsOut!, 1), yT), 'int32'));
    logitsOut!.dispose();
    return { value, correct, grads: vars.map((v) => grads[v.name]) };
  });
  // Asynchronous reads: the webgpu backend cannot read synchronously under Node (same values on wasm/cpu).
  const loss = ((await out.value.data()) as Float32Array)[0];
  const correct = ((await out.correct.data()) as Int32Array)[0];
  out.value.dispose();
  out.correct.dispose();
  return { grads: out.grads, loss, correct };
}

/** sum of the per-sample weights of a batch (n without class weights): the loss normalizer of every shard. */
export async function batchNorm(swT: tfjs.Tensor | undefined, ys: Int32Array, n: number): Promise<number> {
  if (!swT) return n;
  const sw = (await swT.data()) as Float32Array;
  let norm = 0;
  for (let j = 0; j < n; j++) norm += sw[ys[j]];
  return norm;
}

/** Sums shard gradients in shard order and steps the head and tail optimizers; disposes the shard gradients. */
export function applySummedGrads(
  m: Pick<ShardModel, 'tf' | 'tailVars' | 'Wv' | 'bv' | 'weightDecay'>,
  optHead: tfjs.Optimizer,
  optTail: tfjs.Optimizer,
  parts: ShardResult[],
): void {
  const { tf, tailVars, Wv, bv } = m;
  const nVars = tailVars.length + 2;
  const decay = m.weightDecay ? decayDeltas(m, optHead, optTail, m.weightDecay) : [];
  tf.tidy(() => {
    const sum = Array.from({ length: nVars }, (_, i) => {
      let g: tfjs.Tensor | undefined;
      for (const p of parts) {
        const gi = p.grads[i];
        if (gi) g = g ? tf.add(g, gi) : gi;
      }
      return g;
    });
    const nt = tailVars.length;
    optHead.applyGradients({ [Wv.name]: sum[nt]!, [bv.name]: sum[nt + 1]! } as never);
    const tailGrads: Record<string, tfjs.Tensor> = {};
    tailVars.forEach((v, i) => {
      if (sum[i]) tailGrads[v.name] = sum[i]!;
    });
    if (Object.keys(tailGrads).length) optTail.applyGradients(tailGrads as never);
  });
  for (const p of parts) tf.dispose(p.grads.filter((g): g is tfjs.Tensor => !!g));
  for (const [v, delta] of decay) {
    tf.tidy(() => v.assign(tf.sub(v, delta)));
    delta.dispose();
  }
}

/** rate*decay*w of each decayed variable, from its value before the Adam step (AdamW's decoupled decay). */
function decayDeltas(
  m: Pick<ShardModel, 'tf' | 'tailVars' | 'Wv'>,
  optHead: tfjs.Optimizer,
  optTail: tfjs.Optimizer,
  weightDecay: number,
): [tfjs.Variable, tfjs.Tensor][] {
  // tfjs's Adam keeps its (scheduled) rate in a public field; it has no getter.
  const rate = (o: tfjs.Optimizer) => (o as unknown as { learningRate: number }).learningRate;
  const decayed: [tfjs.Variable, number][] = [
    ...m.tailVars.filter((v) => v.rank > 1).map((v): [tfjs.Variable, number] => [v, rate(optTail)]),
    [m.Wv, rate(optHead)],
  ];
  return decayed.map(([v, r]) => [v, m.tf.mul(v, r * weightDecay)]);
}

/** One Adam step on the whole minibatch in this thread. Returns loss * n and the number of argmax hits, as tensors. */
export async function serialStep(
  m: ShardModel,
  optHead: tfjs.Optimizer,
  optTail: tfjs.Optimizer,
  data: Float32Array,
  ys: Int32Array,
  n: number,
  l2: number,
): Promise<{ loss: tfjs.Tensor; correct: tfjs.Tensor }> {
  const r = await shardGrads(m, data, ys, n, await batchNorm(m.swT, ys, n), l2);
  applySummedGrads(m, optHead, optTail, [r]);
  return { loss: m.tf.scalar(Math.fround(r.loss) * n), correct: m.tf.scalar(r.correct, 'int32') };
}
