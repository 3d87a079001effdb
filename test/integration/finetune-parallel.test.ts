// Data-parallel fine-tuning steps (src/finetune/parallel.ts): one step split over this thread + a worker gives the
// same updated weights as the serial full-batch step (plain and class-weighted loss), a few steps lower the loss,
// no tensor leaks on this thread, and `tl train --strategy partial` through src/training/finetune.ts gives the same
// history with 1 thread (serial step) as with 2 (data-parallel).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type * as tfjs from '@tensorflow/tfjs';
import { findModel } from '../../src/backbone/registry.js';
import {
  loadNetwork,
  resolveFreeze,
  buildTrainableTail,
  trainingTf,
  assignTail,
  type Network,
  type TrainableTail,
} from '../../src/finetune/network.js';
import { ParallelSteps, parallelStats, shardBounds, type ParallelState } from '../../src/finetune/parallel.js';
import { serialStep as stepSerial } from '../../src/finetune/step.js';
import { join } from 'node:path';
import { env } from '../../src/util/env.js';
import { trainClassifier, type TrainEvent } from '../../src/training/train.js';
import { cleanup, DATASETS_DIR, linkSubset, tempDir } from '../helpers.js';
import { Rng } from '../../src/util/random.js';

type TF = typeof tfjs;
const K = 3;
const N = 12;

let tf: TF;
let net: Network;
let tail: TrainableTail;
let init: Float32Array[];
let data: Float32Array;
let ys: Int32Array;
let W0: Float32Array;

before(async () => {
  ({ tf } = await trainingTf());
  net = await loadNetwork(findModel('mobilenet-v2'));
  const { cut, lastFrozen } = resolveFreeze(net, { trainLast: 2 });
  tail = await buildTrainableTail(tf, net, cut, net.units[lastFrozen].shape);
  init = [...tail.variables.values()].map((v) => Float32Array.from(v.dataSync() as Float32Array));
  const rng = new Rng(11);
  const per = tail.inputShape.reduce((a, b) => a * b, 1);
  data = Float32Array.from({ length: N * per }, () => Math.max(0, rng.normal()));
  ys = Int32Array.from({ length: N }, (_, i) => [0, 1, 2, 0, 0, 1][i % 6]);
  W0 = Float32Array.from({ length: K * tail.featureDim }, () => rng.normal() * 0.05);
});
after(() => tail?.dispose());

function fresh(sw?: Float32Array): ParallelState {
  assignTail(
    tf,
    tail,
    [...tail.variables.keys()].map((name, i) => ({ name, data: init[i] })),
  );
  const D = tail.featureDim;
  return {
    tf,
    tail,
    K,
    l2: 0.01,
    Wv: tf.variable(tf.tensor2d(W0, [K, D])),
    bv: tf.variable(tf.zeros([K])),
    meanT: tf.fill([D], 0.1),
    stdT: tf.fill([D], 2),
    swT: sw ? tf.tensor1d(sw) : undefined,
    optHead: tf.train.adam(1e-3),
    optTail: tf.train.adam(1e-4),
  };
}

function release(s: ParallelState): void {
  s.optHead.dispose();
  s.optTail.dispose();
  tf.dispose([s.Wv, s.bv, s.meanT, s.stdT]);
  s.swT?.dispose();
}

/** The serial step (src/finetune/step.ts, run by src/training/finetune-epochs.ts), kept in sync by hand. */
function serialStep(s: ParallelState, n: number): number {
  const [h, w, c] = tail.inputShape;
  const tailVars = [...tail.variables.values()];
  const { Wv, bv, meanT, stdT, swT, l2 } = s;
  const loss = tf.tidy(() => {
    const x = tf.tensor4d(data.subarray(0, n * h * w * c), [n, h, w, c]);
    const yT = tf.tensor1d(ys.subarray(0, n), 'int32');
    const oneHot = tf.oneHot(yT, K);
    const wts = swT ? tf.gather(swT, yT) : undefined;
    const { value, grads } = tf.variableGrads(() => {
      const f = tail.apply(x);
      const z = tf.div(tf.sub(f, meanT), stdT);
      const logits = tf.add(tf.matMul(z, Wv, false, true), bv);
      const ce = tf.neg(tf.sum(tf.mul(oneHot, tf.sub(logits, tf.logSumExp(logits, 1, true))), 1));
      const d = wts ? tf.div(tf.sum(tf.mul(ce, wts)), tf.sum(wts)) : tf.mean(ce);
      return tf.add(d, tf.mul(l2 / 2, tf.sum(tf.square(Wv)))) as tfjs.Scalar;
    }, [...tailVars, Wv, bv]);
    s.optHead.applyGradients({ [Wv.name]: grads[Wv.name], [bv.name]: grads[bv.name] } as never);
    const tg: Record<string, tfjs.Tensor> = {};
    for (const v of tailVars) if (grads[v.name]) tg[v.name] = grads[v.name];
    s.optTail.applyGradients(tg as never);
    return tf.mul(value, n);
  });
  const r = (loss.dataSync() as Float32Array)[0];
  loss.dispose();
  return r;
}

const weights = (s: ParallelState) =>
  [...[...tail.variables.values()], s.Wv, s.bv].map((v) => Float32Array.from(v.dataSync() as Float32Array));

function maxDiff(a: Float32Array[], b: Float32Array[]): number {
  let m = 0;
  a.forEach((x, i) => x.forEach((v, j) => (m = Math.max(m, Math.abs(v - b[i][j])))));
  return m;
}

describe('data-parallel fine-tuning steps', () => {
  test('shards are contiguous and cover the batch, this thread gets the smaller one', () => {
    assert.deepEqual(shardBounds(32, 2), [
      [0, 16],
      [16, 32],
    ]);
    assert.deepEqual(shardBounds(7, 2), [
      [0, 3],
      [3, 7],
    ]);
    assert.deepEqual(shardBounds(7, 3), [
      [0, 2],
      [2, 4],
      [4, 7],
    ]);
  });

  for (const weighted of [false, true]) {
    test(`one parallel step = one serial step${weighted ? ' (class-weighted loss)' : ''}; a few steps lower the loss`, async (t) => {
      const sw = weighted ? Float32Array.from([0.6, 1.5, 2]) : undefined;
      const n = 11; // odd: unequal shards
      const a = fresh(sw);
      const lossSerial = serialStep(a, n);
      const serial = weights(a);
      release(a);

      const b = fresh(sw);
      const par = await ParallelSteps.start(b, { net, threads: 2 });
      assert.ok(par, 'the worker started');
      try {
        const r = await par.step(data.slice(0, n * tail.inputShape.reduce((x, y) => x * y, 1)), ys.slice(0, n), n);
        const lossPar = (r.loss.dataSync() as Float32Array)[0];
        tf.dispose([r.loss, r.correct]);
        assert.ok(
          Math.abs(lossPar - lossSerial) < 1e-4 * Math.max(1, Math.abs(lossSerial)),
          `loss ${lossPar} vs ${lossSerial}`,
        );
        const d = maxDiff(weights(b), serial);
        t.diagnostic(`one step, max |parallel - serial| over all weights = ${d}`);
        assert.ok(d < 1e-5, `max |parallel - serial| = ${d}`);
        // Weights moved at all (the test would pass trivially otherwise).
        assert.ok(maxDiff(serial, [...init, W0, new Float32Array(K)]) > 1e-5);
        // A few more steps on the same batch lower the loss.
        const losses: number[] = [lossPar];
        const before = tf.memory().numTensors; // after step 1: Adam has made its moment variables
        for (let i = 0; i < 4; i++) {
          const q = await par.step(data.slice(0, n * tail.inputShape.reduce((x, y) => x * y, 1)), ys.slice(0, n), n);
          losses.push((q.loss.dataSync() as Float32Array)[0]);
          tf.dispose([q.loss, q.correct]);
        }
        t.diagnostic(`loss ${losses.map((l) => (l / n).toFixed(4)).join(' -> ')}`);
        assert.ok(losses[4] < losses[0], `loss ${losses.map((l) => l.toFixed(4)).join(' -> ')}`);
        assert.equal(tf.memory().numTensors, before, 'no tensor left behind on this thread');
      } finally {
        await par.close();
        release(b);
      }
    });
  }

  test('after the worker is gone, steps run every shard here with the same numbers', async () => {
    const n = 8;
    const per = tail.inputShape.reduce((x, y) => x * y, 1);
    const a = fresh();
    const p1 = (await ParallelSteps.start(a, { net, threads: 2 }))!;
    const r1 = await p1.step(data.slice(0, n * per), ys.slice(0, n), n);
    await p1.close();
    const w1 = weights(a);
    tf.dispose([r1.loss, r1.correct]);
    release(a);
    const b = fresh();
    const p2 = (await ParallelSteps.start(b, { net, threads: 2 }))!;
    await p2.close(); // local mode from the first step
    const r2 = await p2.step(data.slice(0, n * per), ys.slice(0, n), n);
    tf.dispose([r2.loss, r2.correct]);
    assert.equal(maxDiff(weights(b), w1), 0, 'bit-identical');
    release(b);
  });
});

describe('fine-tuning through train.ts: serial vs data-parallel steps', () => {
  let cacheDir: string;
  let data: string;
  const saved = process.env.TL_TRAIN_THREADS;
  before(async () => {
    cacheDir = await tempDir('tl-par-cache-');
    env.cacheDir = cacheDir;
    data = await tempDir('tl-par-hym-');
    // 40 per class: 80 images, 68 after the inner val split (15%): still 4 batches of 16, which the parallel path needs.
    await linkSubset(join(DATASETS_DIR, 'hymenoptera_data/train'), join(data, 'train'), 40);
    await linkSubset(join(DATASETS_DIR, 'hymenoptera_data/val'), join(data, 'val'), 6);
  });
  after(async () => {
    if (saved === undefined) delete process.env.TL_TRAIN_THREADS;
    else process.env.TL_TRAIN_THREADS = saved;
    await cleanup(cacheDir, data);
  });

  test('same history and memory flat across epochs', async (t) => {
    const run = async (threads: string) => {
      process.env.TL_TRAIN_THREADS = threads;
      const events: TrainEvent[] = [];
      const started = parallelStats.started;
      const r = await trainClassifier(data, {
        strategy: 'partial',
        trainLast: 1,
        epochs: 3,
        patience: 100,
        restoreBest: false,
        finetuneBatchSize: 16,
        seed: 5,
        onEvent: (e) => events.push(e),
      });
      await r.classifier.dispose();
      return { r, events, parallel: parallelStats.started - started };
    };
    const serial = await run('1');
    const par = await run('2');
    assert.equal(serial.parallel, 0);
    assert.equal(par.parallel, 1, 'the 2-thread run used the data-parallel step');
    assert.equal(par.r.history.length, serial.r.history.length);
    par.r.history.forEach((p, i) => {
      const q = serial.r.history[i];
      assert.ok(Math.abs(p.trainLoss - q.trainLoss) < 1e-3, `epoch ${i} train loss ${p.trainLoss} vs ${q.trainLoss}`);
      assert.ok(p.innerValLoss !== undefined && q.innerValLoss !== undefined, `epoch ${i} has an inner-val loss`);
      assert.ok(
        Math.abs(p.innerValLoss - q.innerValLoss) < 1e-3,
        `epoch ${i} inner val loss ${p.innerValLoss} vs ${q.innerValLoss}`,
      );
    });
    t.diagnostic(
      `train loss serial ${serial.r.history.map((p) => p.trainLoss.toFixed(5)).join(' ')} | parallel ${par.r.history.map((p) => p.trainLoss.toFixed(5)).join(' ')}`,
    );
    const epochs = par.events.filter(
      (e): e is Extract<TrainEvent, { type: 'finetune-epoch' }> => e.type === 'finetune-epoch',
    );
    assert.equal(epochs.length, 3);
    assert.deepEqual(epochs[2].memory, epochs[1].memory, 'tf.memory() after epoch 3 equals after epoch 2');
  });
});

describe('whole network (rung 3: cut at the input), data-parallel in micro-batches', () => {
  // The converted MobileNetV2 trained from the image, at 32 px to keep it fast. SGD with rate 1: a step moves every
  // weight by exactly minus its summed gradient, so the parallel step's gradient can be read off the weights (Adam's
  // first step is ~rate*sign(g), which would hide a wrong magnitude).
  const S = 32;
  const n = 7; // odd: unequal shards, and micro-batches of 2 leave a remainder in each
  let full: TrainableTail;
  let x: Float32Array;
  let y: Int32Array;
  let start: Float32Array[];
  let Wf: Float32Array;
  before(async () => {
    full = await buildTrainableTail(tf, net, net.inputCut, [S, S, 3]);
    start = [...full.variables.values()].map((v) => Float32Array.from(v.dataSync() as Float32Array));
    const rng = new Rng(23);
    x = Float32Array.from({ length: n * S * S * 3 }, () => rng.normal());
    y = Int32Array.from({ length: n }, (_, i) => i % K);
    Wf = Float32Array.from({ length: K * full.featureDim }, () => rng.normal() * 0.05);
  });
  after(() => full?.dispose());

  const state = (microBatch?: number): ParallelState & { tailVars: tfjs.Variable[] } => {
    assignTail(
      tf,
      full,
      [...full.variables.keys()].map((name, i) => ({ name, data: start[i] })),
    );
    const D = full.featureDim;
    return {
      tf,
      tail: full,
      tailVars: [...full.variables.values()],
      K,
      l2: 0.01,
      microBatch,
      Wv: tf.variable(tf.tensor2d(Wf, [K, D])),
      bv: tf.variable(tf.zeros([K])),
      meanT: tf.fill([D], 0.1),
      stdT: tf.fill([D], 2),
      optHead: tf.train.sgd(1),
      optTail: tf.train.sgd(1),
    };
  };
  const fullWeights = (s: ParallelState) =>
    [...full.variables.values(), s.Wv, s.bv].map((v) => Float32Array.from(v.dataSync() as Float32Array));
  const relDiff = (a: Float32Array[], b: Float32Array[], ref: Float32Array[]) => {
    let num = 0,
      den = 0;
    a.forEach((u, i) =>
      u.forEach((v, j) => {
        num += (v - b[i][j]) ** 2;
        den += (ref[i][j] - b[i][j]) ** 2; // size of the step itself
      }),
    );
    return Math.sqrt(num / Math.max(den, 1e-30));
  };

  test('2 threads x micro-batches of 2 = one serial pass over the batch (same summed gradient)', async (t) => {
    const before0 = [...start, Wf, new Float32Array(K)];
    // Serial reference: the whole batch in one forward/backward pass.
    const a = state();
    const r0 = await stepSerial(a, a.optHead, a.optTail, x, y, n, a.l2);
    const lossSerial = (r0.loss.dataSync() as Float32Array)[0];
    tf.dispose([r0.loss, r0.correct]);
    const serial = fullWeights(a);
    release(a);
    // Serial in micro-batches of 3 (this thread only): gradient accumulation alone.
    const m = state(3);
    const r1 = await stepSerial(m, m.optHead, m.optTail, x, y, n, m.l2);
    tf.dispose([r1.loss, r1.correct]);
    const micro = fullWeights(m);
    release(m);
    // Data-parallel: this thread + a worker (its own wasm instance), each in micro-batches of 2.
    const b = state(2);
    const par = await ParallelSteps.start(b, { net, threads: 2 });
    assert.ok(par, 'the worker started');
    let parallel: Float32Array[];
    try {
      const r = await par.step(x.slice(), y.slice(), n);
      const lossPar = (r.loss.dataSync() as Float32Array)[0];
      tf.dispose([r.loss, r.correct]);
      assert.ok(
        Math.abs(lossPar - lossSerial) < 1e-4 * Math.max(1, Math.abs(lossSerial)),
        `loss ${lossPar} vs ${lossSerial}`,
      );
      parallel = fullWeights(b);
    } finally {
      await par.close();
      release(b);
    }
    const eMicro = relDiff(micro, serial, before0);
    const ePar = relDiff(parallel, serial, before0);
    t.diagnostic(
      `|step difference| / |step|: micro-batched ${eMicro.toExponential(2)}, data-parallel ${ePar.toExponential(2)}`,
    );
    assert.ok(maxDiff(serial, before0) > 1e-4, 'the step moved the weights');
    assert.ok(eMicro < 1e-4, `micro-batched gradient differs by ${eMicro}`);
    assert.ok(ePar < 1e-4, `data-parallel gradient differs by ${ePar}`);
  });
});
