// The unknown score's arithmetic against a brute-force reference: the mean of the k smallest cosine distances (the
// detector keeps the k smallest by insertion, not by sorting every distance), the skipped row of leave-one-out, and
// the older bundles' rule (no k stored: the nearest row alone); the threshold's conformal rank (issue 24).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  conformalThreshold,
  fitUnknownDetector,
  fitUnknownDetectorCounted,
  unknownDistance,
  type UnknownDetector,
} from '../../src/classifier/unknown.js';
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

test('the conformal threshold is the ceil((n + 1)(1 - rate))-th smallest score, the largest when n is too small', () => {
  for (let n = 1; n <= 400; n++)
    for (const percent of [1, 5, 10, 20]) {
      const scores = Array.from({ length: n }, (_, i) => n - i); // descending: the function sorts
      const rank = Math.min(n, Math.floor(((n + 1) * (100 - percent) + 99) / 100)); // integer ceil
      assert.equal(conformalThreshold(scores, percent / 100), rank, `n = ${n}, rate ${percent}%`);
    }
  // 244 training images at 5%: the 233rd, so a new image is flagged with probability 12/245 = 4.9%.
  assert.equal(
    conformalThreshold(
      Array.from({ length: 244 }, (_, i) => i + 1),
      0.05,
    ),
    233,
  );
  assert.equal(conformalThreshold([], 0.05), Infinity);
});

test('more training images than references: the others are scored against every reference, and count', () => {
  const labels = Int32Array.from(rows, (_, i) => i % 2);
  const { detector: det, calibrated } = fitUnknownDetectorCounted(rows, labels, 2, undefined, {
    falseUnknownRate: 0.1,
    k: 3,
    maxReferences: 10,
    maxCalibration: 30,
  });
  assert.deepEqual(calibrated, { leaveOneOut: 10, heldOut: 20 });
  // Which training rows are references (stored normalized), and every score as the detector should have computed it.
  const refRow = (r: Float32Array) => {
    const u = unit(r);
    for (let j = 0; j * DIM < det.references.length; j++)
      if (u.every((x, d) => Math.abs(x - det.references[j * DIM + d]) < 1e-6)) return j;
    return -1;
  };
  const asRef = rows.map(refRow);
  assert.equal(asRef.filter((j) => j >= 0).length, 10);
  const loo = rows.flatMap((r, i) => (asRef[i] >= 0 ? [unknownDistance(det, r, asRef[i])] : []));
  // 20 of the 30 other rows join them, an even spread within each class (10 of each class's 15, in order).
  const others = [0, 1].flatMap((c) => {
    const inClass = rows.map((_, i) => i).filter((i) => asRef[i] < 0 && labels[i] === c);
    assert.equal(inClass.length, 15);
    return Array.from({ length: 10 }, (_, j) => inClass[Math.floor((j * 15) / 10)]);
  });
  const pool = [...loo, ...others.map((i) => unknownDistance(det, rows[i]))].sort((a, b) => a - b);
  // The 28th smallest of the 30 (ceil(31 x 0.9)).
  assert.equal(det.threshold, pool[27]);
  // Without room for more, only the references count (the rule before issue 24, less its quantile).
  const looOnly = fitUnknownDetectorCounted(rows, labels, 2, undefined, { k: 3, maxReferences: 10, maxCalibration: 0 });
  assert.deepEqual(looOnly.calibrated, { leaveOneOut: 10, heldOut: 0 });
});
