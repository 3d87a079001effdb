// Decoupled weight decay (AdamW) in the fine-tuning step (src/finetune/step.ts applySummedGrads): with w > 0 a step
// moves each kernel and the head's W by -rate*w*(its value before the step) beyond the same Adam step at w = 0;
// biases (every rank-1 variable, BatchNorm's scale/shift included) and the head's b are left alone.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type * as tfjs from '@tensorflow/tfjs';
import { trainingTf } from '../../src/finetune/network.js';
import { applySummedGrads, type ShardResult } from '../../src/finetune/step.js';

async function oneStep(tf: typeof tfjs, weightDecay: number, headRate: number, tailRate: number) {
  const kernel = tf.variable(tf.tensor4d([0.5, -1, 2, 0.25], [1, 1, 2, 2]), true);
  const bias = tf.variable(tf.tensor1d([0.3, -0.7]), true);
  const Wv = tf.variable(tf.tensor2d([1, -2, 3, 4], [2, 2]), true);
  const bv = tf.variable(tf.tensor1d([0.1, 0.2]), true);
  const optHead = tf.train.adam(headRate);
  const optTail = tf.train.adam(tailRate);
  const part: ShardResult = {
    grads: [
      tf.tensor4d([0.1, 0.2, -0.3, 0.4], [1, 1, 2, 2]),
      tf.tensor1d([0.5, -0.5]),
      tf.tensor2d([0.2, -0.1, 0.05, 0.3], [2, 2]),
      tf.tensor1d([-0.2, 0.1]),
    ],
    loss: 0,
    correct: 0,
  };
  applySummedGrads({ tf, tailVars: [kernel, bias], Wv, bv, weightDecay }, optHead, optTail, [part]);
  const out = await Promise.all([kernel, bias, Wv, bv].map(async (v) => Array.from(await v.data())));
  tf.dispose([kernel, bias, Wv, bv]);
  optHead.dispose();
  optTail.dispose();
  return out;
}

test('weight decay: kernels and W shrink by rate*w*weight beyond the Adam step; biases untouched', async () => {
  const { tf } = await trainingTf();
  const t0 = tf.memory().numTensors;
  const [k0, b0, W0, bh0] = await oneStep(tf, 0, 1e-3, 2e-4);
  const t1 = tf.memory().numTensors;
  const [k1, b1, W1, bh1] = await oneStep(tf, 0.05, 1e-3, 2e-4);
  const close = (a: number, b: number) => Math.abs(a - b) < 1e-7;
  const kInit = [0.5, -1, 2, 0.25];
  const WInit = [1, -2, 3, 4];
  kInit.forEach((w, i) => assert.ok(close(k1[i], k0[i] - 2e-4 * 0.05 * w), `kernel[${i}]: ${k1[i]} vs ${k0[i]}`));
  WInit.forEach((w, i) => assert.ok(close(W1[i], W0[i] - 1e-3 * 0.05 * w), `W[${i}]: ${W1[i]} vs ${W0[i]}`));
  assert.deepEqual(b1, b0, 'biases are not decayed');
  assert.deepEqual(bh1, bh0, "the head's b is not decayed");
  // The decay really moved something measurable (not lost in float32 rounding).
  assert.ok(Math.abs(W1[3] - W0[3]) > 1e-5);
  // (tfjs's Adam keeps a couple of scalars after dispose(); the decay must add nothing to that)
  assert.equal(tf.memory().numTensors - t1, t1 - t0, 'the decay leaks no tensor');
});

test('weight decay follows the scheduled rate (the optimizer rate at the step, e.g. during warm-up)', async () => {
  const { tf } = await trainingTf();
  const [, , W0] = await oneStep(tf, 0, 1e-4, 1e-5);
  const [, , W1] = await oneStep(tf, 0.1, 1e-4, 1e-5);
  assert.ok(Math.abs(W1[2] - (W0[2] - 1e-4 * 0.1 * 3)) < 1e-7);
});
