// The unknown score's arithmetic against a brute-force reference: the mean of the k smallest cosine distances (the
// detector keeps the k smallest by insertion, not by sorting every distance), the skipped row of leave-one-out, and
// the older bundles' rule (no k stored: the nearest row alone).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fitUnknownDetector, unknownDistance, type UnknownDetector } from '../../src/classifier/unknown.js';
import { Rng } from '../../src/util/random.js';

const DIM = 16;
const rng = new Rng(5);
const randomVector = () => Float32Array.from({ length: DIM }, () => rng.normal());
const rows = Array.from({ length: 40 }, randomVector);
const unit = (v: Float32Array) => {
  const n = Math.hypot(...v);
  return v.map((x) => x / n);
};
const references = new Float32Array(rows.length * DIM);
rows.forEach((r, i) => references.set(unit(r), i * DIM));

/** Every distance, sorted, then the mean of the first k (skipping row `exclude`). */
function bruteForce(q: Float32Array, k: number, exclude = -1): number {
  const u = unit(q);
  const d = rows
    .map((r, i) => (i === exclude ? Infinity : 1 - unit(r).reduce((a, x, j) => a + x * u[j], 0)))
    .sort((a, b) => a - b)
    .slice(0, k);
  return d.reduce((a, b) => a + b, 0) / k;
}

test('mean of the k smallest cosine distances, for k = 1..10, with and without a skipped row', () => {
  for (const k of [1, 2, 3, 5, 10]) {
    const det: UnknownDetector = { method: 'knn-cosine', references, dim: DIM, threshold: 0, falseUnknownRate: 0, k };
    for (let t = 0; t < 20; t++) {
      const q = randomVector();
      assert.ok(Math.abs(unknownDistance(det, q) - bruteForce(q, k)) < 1e-5, `k ${k}`);
      const skip = t % rows.length;
      assert.ok(Math.abs(unknownDistance(det, rows[skip], skip) - bruteForce(rows[skip], k, skip)) < 1e-5);
    }
  }
});

test('a bundle without k (nearest-cosine, centroid-cosine) scores by the nearest row', () => {
  for (const method of ['nearest-cosine', 'centroid-cosine'] as const) {
    const det: UnknownDetector = { method, references, dim: DIM, threshold: 0, falseUnknownRate: 0 };
    const q = randomVector();
    assert.ok(Math.abs(unknownDistance(det, q) - bruteForce(q, 1)) < 1e-5);
  }
});

test('the fitted threshold is the leave-one-out quantile of the same score', () => {
  const labels = Int32Array.from(rows, (_, i) => i % 2);
  const det = fitUnknownDetector(rows, labels, 2, undefined, { falseUnknownRate: 0.1, k: 3 });
  assert.equal(det.k, 3);
  const loo = rows.map((r, i) => bruteForce(r, 3, i)).sort((a, b) => a - b);
  assert.ok(Math.abs(det.threshold - loo[Math.floor(0.9 * loo.length)]) < 1e-5);
});
