import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../../src/util/random.js';
import { trainMlpHead, predictProbaMlp, type EpochInfo } from '../../src/solvers/mlp-head.js';
import { argmax, predictProba, trainSoftmax } from '../../src/solvers/softmax-regression.js';

/** XOR: four clusters at (+-1, +-1), label 1 where the signs differ. No line separates it. */
function xor(n: number, seed: number) {
  const rng = new Rng(seed);
  const X: Float32Array[] = [];
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const a = i % 2 === 0 ? 1 : -1;
    const b = (i >> 1) % 2 === 0 ? 1 : -1;
    X.push(Float32Array.of(a + 0.25 * rng.normal(), b + 0.25 * rng.normal()));
    y[i] = a === b ? 0 : 1;
  }
  return { X, y };
}

const accuracy = (predict: (row: Float32Array) => Float32Array, X: Float32Array[], y: Int32Array) =>
  X.filter((row, i) => argmax(predict(row)) === y[i]).length / X.length;

test('the MLP head learns XOR, which logistic regression cannot', () => {
  const train = xor(200, 1);
  const test = xor(200, 2);
  const linear = trainSoftmax(train.X, train.y, 2, { l2: 1e-3 });
  const linearAcc = accuracy((r) => predictProba(linear, r), test.X, test.y);
  assert.ok(linearAcc < 0.7, `logistic regression should fail on XOR, got ${linearAcc}`);
  const mlp = trainMlpHead(train.X, train.y, 2, { hidden: 16, dropout: 0, epochs: 60, learningRate: 0.01, seed: 3 });
  const mlpAcc = accuracy((r) => predictProbaMlp(mlp, r), test.X, test.y);
  assert.ok(mlpAcc > 0.95, `MLP accuracy on XOR ${mlpAcc}`);
  const p = predictProbaMlp(mlp, test.X[0]);
  assert.ok(Math.abs(p[0] + p[1] - 1) < 1e-6);
});

test('the MLP head is deterministic for a seed (dropout and shuffling included) and differs across seeds', () => {
  const { X, y } = xor(64, 5);
  const opts = { hidden: 8, dropout: 0.3, epochs: 5, seed: 11 };
  const a = trainMlpHead(X, y, 2, opts);
  const b = trainMlpHead(X, y, 2, opts);
  for (const key of ['W1', 'b1', 'W2', 'b2'] as const)
    assert.ok(Buffer.from(a[key].buffer).equals(Buffer.from(b[key].buffer)), key);
  const c = trainMlpHead(X, y, 2, { ...opts, seed: 12 });
  assert.ok(!Buffer.from(a.W1.buffer).equals(Buffer.from(c.W1.buffer)));
});

test('early stopping reports every epoch and keeps the weights of the best validation loss', () => {
  const train = xor(40, 7);
  const val = xor(40, 8);
  const epochs: EpochInfo[] = [];
  const fit = trainMlpHead(train.X, train.y, 2, {
    hidden: 64,
    dropout: 0,
    epochs: 300,
    learningRate: 0.05,
    patience: 5,
    seed: 1,
    validation: val,
    onEpoch: (e) => epochs.push(e),
  });
  assert.deepEqual(fit.history, epochs);
  assert.deepEqual(
    epochs.map((e) => e.epoch),
    epochs.map((_, i) => i + 1),
  );
  assert.ok(epochs.length < 300, 'patience should stop training early');
  const best = epochs.reduce((a, e) => (e.valLoss! < a.valLoss! ? e : a));
  assert.equal(fit.bestEpoch, best.epoch);
  assert.equal(epochs.length, best.epoch + 5);
  // The returned weights reproduce the best epoch's validation accuracy, not the last epoch's.
  assert.equal(
    accuracy((r) => predictProbaMlp(fit, r), val.X, val.y),
    best.valAcc,
  );
  assert.ok(epochs.every((e) => e.trainAcc >= 0 && e.trainAcc <= 1 && e.trainLoss > 0));
});
