// Calibration: the ECE of the metrics (hand-computed), and the temperature fitted on held-out logits
// (src/solvers/temperature.ts): it recovers a known temperature, never changes an argmax, and on cleanly separable
// rows stops at the Laplace cap instead of running to certainty.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { calibrationOf, evaluate } from '../../src/eval/metrics.js';
import { fitTemperature } from '../../src/solvers/temperature.js';
import { Rng } from '../../src/util/random.js';

const close = (actual: number, expected: number, tol: number, what: string) =>
  assert.ok(Math.abs(actual - expected) <= tol, `${what}: ${actual} vs ${expected}`);

test('ECE over 10 bins, by hand', () => {
  // bin 9: three rows at 0.95, two right (|0.95 - 2/3| x 3/4); bin 5: one at 0.55, right (|0.55 - 1| x 1/4).
  const { ece, reliability } = calibrationOf([0.95, 0.95, 0.95, 0.55], [true, true, false, true]);
  close(ece, (0.95 - 2 / 3) * 0.75 + 0.45 * 0.25, 1e-12, 'ece');
  assert.deepEqual(
    reliability.map((b) => [b.from, b.count]),
    [
      [0.5, 1],
      [0.9, 3],
    ],
  );
  // evaluate() reports it from the rows' top probabilities.
  const m = evaluate(
    Int32Array.of(0, 0, 1, 0),
    [
      [0.95, 0.05],
      [0.95, 0.05],
      [0.95, 0.05],
      [0.55, 0.45],
    ].map((r) => Float64Array.from(r)),
    ['a', 'b'],
  );
  close(m.ece, (0.95 - 2 / 3) * 0.75 + 0.45 * 0.25, 1e-9, 'evaluate().ece');
  // Probabilities that say exactly how often they are right: ECE 0.
  assert.equal(calibrationOf([1, 1], [true, true]).ece, 0);
});

function sample(rng: Rng, n: number, K: number, trueT: number) {
  const logits = new Float64Array(n * K);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const p = new Float64Array(K);
    let sum = 0;
    for (let k = 0; k < K; k++) {
      logits[i * K + k] = rng.next() * 8 - 4;
      p[k] = Math.exp(logits[i * K + k] / trueT);
      sum += p[k];
    }
    let u = rng.next() * sum;
    let y = 0;
    while (y < K - 1 && u > p[y]) u -= p[y++];
    labels[i] = y;
  }
  return { logits, labels };
}

test('the fitted temperature recovers the one the labels were drawn with', () => {
  const rng = new Rng(7);
  for (const trueT of [0.5, 2]) {
    const { logits, labels } = sample(rng, 6000, 4, trueT);
    const fit = fitTemperature(logits, labels, 4);
    close(fit.temperature, trueT, 0.15 * trueT, `T for labels drawn at ${trueT}`);
    assert.ok(fit.logLossAfter <= fit.logLossBefore + 1e-12, 'the log loss never rises');
  }
});

test('separable held-out rows: T stops at the Laplace cap, not at certainty', () => {
  const n = 60;
  const logits = new Float64Array(n * 2);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    labels[i] = i % 2;
    logits[i * 2 + labels[i]] = 2; // right by a margin of 2 every time
  }
  const fit = fitTemperature(logits, labels, 2);
  assert.equal(fit.capped, true);
  // Mean top probability at the cap: (60 + 1) / (60 + 2).
  close(1 / (1 + Math.exp(-2 / fit.temperature)), 61 / 62, 1e-6, 'mean top probability');
  assert.ok(fit.temperature < 1, 'sharper than the raw logits, which were too flat');
});
