// The pieces of rung 1's streamed head fit (training/head-streamed.ts): the float16 spill file, the chunked row source,
// the streaming standardizer, the objective summed over chunks, the streamed L-BFGS fit, the stratified sample and the
// memory plan. Each is checked against the in-memory code it stands in for.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { F16SpillWriter, spillRows } from '../../src/features/spill-file.js';
import { forEachChunk, memoryRowSource } from '../../src/features/row-source.js';
import { roundToF16 } from '../../src/util/f16.js';
import { Rng } from '../../src/util/random.js';
import { applyStandardizerAll, fitStandardizer } from '../../src/solvers/standardize.js';
import { flattenRows, softmaxObjective, trainSoftmax, classWeights } from '../../src/solvers/softmax-regression.js';
import {
  fitStandardizerStreamed,
  gatherRows,
  stratifiedSample,
  streamedSoftmaxObjective,
  trainSoftmaxStreamed,
} from '../../src/solvers/streamed-softmax.js';
import { wasmBackend } from '../../src/solvers/wasm-objective.js';
import { headMemoryPlan, MIN_SEARCH_ROWS } from '../../src/training/head-streamed.js';
import { ROOT } from '../helpers.js';

/** n rows of d features, K classes, each class shifted along its own features (learnable, not separable). */
function blobs(n: number, d: number, K: number, seed = 1) {
  const rng = new Rng(seed);
  const y = Int32Array.from({ length: n }, (_, i) => (i * 7 + (i % 3)) % K);
  const X = Array.from({ length: n }, (_, i) =>
    Float32Array.from({ length: d }, (_, j) => 2 + (j % K === y[i] ? 0.8 : 0) + rng.normal() * (1 + (j % 5))),
  );
  return { X, y };
}

const maxAbs = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
};

test('spill file: rows come back rounded to float16, chunk by chunk (the last one short), then the file is gone', () => {
  const { X } = blobs(23, 9, 3);
  const spill = spillRows(X, 9, { chunkRows: 5 });
  const file = (spill as unknown as { dir: string }).dir;
  assert.ok(existsSync(file));
  assert.equal(spill.rows, 23);
  assert.equal(spill.bytes, 23 * 9 * 2);
  const back: Float32Array[] = [];
  const counts: number[] = [];
  forEachChunk(spill, (chunk, first, count) => {
    counts.push(count);
    assert.equal(first, back.length);
    for (let i = 0; i < count; i++) back.push(chunk.slice(i * 9, (i + 1) * 9));
  });
  assert.deepEqual(counts, [5, 5, 5, 5, 3]);
  X.forEach((row, i) => assert.deepEqual(back[i], roundToF16(Float32Array.from(row))));
  spill.dispose();
  assert.ok(!existsSync(file), 'dispose removes the spill folder');
  assert.ok(existsSync(dirname(file)), 'and nothing above it');
});

test('spill file: a row of the wrong width is refused and the half-written file removed', () => {
  const writer = F16SpillWriter.create(4);
  writer.append([1, 2, 3, 4]);
  assert.throws(() => writer.append([1, 2, 3]), /row of length 3, expected 4/);
  assert.throws(() => spillRows([[1, 2, 3, 4], [1]], 4), /row of length 1/);
  writer.discard();
});

test('streaming standardizer = fitStandardizer; gathered rows = the standardized rows', () => {
  const { X } = blobs(50, 12, 3);
  const source = memoryRowSource(X, 8);
  const s = fitStandardizerStreamed(source);
  const ref = fitStandardizer(X);
  assert.ok(maxAbs(s.mean, ref.mean) < 1e-6 && maxAbs(s.std, ref.std) < 1e-6);
  const index = Int32Array.from([0, 7, 8, 9, 31, 49]);
  const rows = gatherRows(source, index, s);
  const Z = applyStandardizerAll(X, s);
  index.forEach((i, r) => assert.ok(maxAbs(rows[r], Z[i]) < 1e-5, `row ${i}`));
});

test('streamed objective = the in-memory objective (value and gradient), JavaScript and wasm kernels', async () => {
  const K = 3;
  const d = 10;
  const { X, y } = blobs(37, d, K);
  const s = fitStandardizer(X);
  const Z = applyStandardizerAll(X, s);
  const weights = classWeights(y, K).map((w, i) => w * (1 + (i % 2)));
  const ref = softmaxObjective(flattenRows(Z), y, K, 0.3, weights);
  const theta = Float64Array.from({ length: K * d + K }, (_, i) => 0.1 * Math.sin(i));
  const gRef = new Float64Array(theta.length);
  const fRef = ref(theta, gRef);
  const source = memoryRowSource(X, 8);
  const tf = await wasmBackend();
  assert.ok(tf, 'the wasm backend starts here');
  for (const [kernel, tol] of [
    [undefined, 1e-12],
    [tf, 1e-5],
  ] as const) {
    const o = streamedSoftmaxObjective(source, y, K, { standardizer: s, sampleWeights: weights, tf: kernel });
    const g = new Float64Array(theta.length);
    const f = o.objective(0.3)(theta, g);
    assert.ok(Math.abs(f - fRef) < tol * Math.max(1, fRef), `${kernel ? 'wasm' : 'js'}: loss ${f} vs ${fRef}`);
    assert.ok(maxAbs(g, gRef) < tol, `${kernel ? 'wasm' : 'js'}: gradient off by ${maxAbs(g, gRef)}`);
    assert.equal(o.passes.count, 1);
  }
});

test('streamed fit from a float16 spill file lands on the in-memory fit', async () => {
  const K = 4;
  const d = 16;
  const { X, y } = blobs(300, d, K);
  // Rows already float16-exact, so only the streaming (not the rounding) is under test.
  const X16 = X.map((r) => roundToF16(Float32Array.from(r)));
  const s = fitStandardizer(X16);
  const ref = trainSoftmax(applyStandardizerAll(X16, s), y, K, { l2: 0.05 });
  const spill = spillRows(X16, d, { chunkRows: 64 });
  try {
    for (const kernel of ['js', 'wasm'] as const) {
      const fit = await trainSoftmaxStreamed(spill, y, K, { l2: 0.05, standardizer: s, kernel });
      assert.ok(fit.converged, `${kernel}: ${fit.stopReason}`);
      assert.ok(fit.passes >= fit.iterations, `${kernel}: one pass per evaluation`);
      assert.ok(maxAbs(fit.Wf64, ref.Wf64) < 1e-3, `${kernel}: weights off by ${maxAbs(fit.Wf64, ref.Wf64)}`);
    }
  } finally {
    spill.dispose();
  }
});

test('stratified sample: sorted, each class in proportion, seeded; all rows when it asks for as many', () => {
  const y = Int32Array.from({ length: 1000 }, (_, i) => (i < 700 ? 0 : i < 950 ? 1 : 2));
  const a = stratifiedSample(y, 3, 100, 5);
  assert.equal(a.length, 100);
  assert.ok(a.every((v, i) => i === 0 || v > a[i - 1]));
  const counts = [0, 0, 0];
  for (const i of a) counts[y[i]]++;
  assert.deepEqual(counts, [70, 25, 5]);
  assert.deepEqual(stratifiedSample(y, 3, 100, 5), a);
  assert.notDeepEqual(stratifiedSample(y, 3, 100, 6), a);
  assert.equal(stratifiedSample(y, 3, 5000, 0).length, 1000);
});

test('memory plan: in memory under the budget, streamed over it with a sample that fits, 0 streams every set', () => {
  assert.deepEqual(headMemoryPlan(5000, 1280, 1024).stream, false);
  const big = headMemoryPlan(1_000_000, 1280, 1024);
  assert.ok(big.stream && big.searchRows === big.budgetRows && big.budgetRows > 10_000 && big.budgetRows < 30_000);
  assert.deepEqual(headMemoryPlan(244, 1280, 0), { stream: true, searchRows: 244, budgetRows: 0 });
  assert.equal(headMemoryPlan(50_000, 1280, 0).searchRows, MIN_SEARCH_ROWS);
});

test('the streamed path never materialises every row (no flattening or whole-set standardizing in its modules)', () => {
  // Every whole-set copy of the in-memory path: flattenRows, applyStandardizerAll, fitStandardizer on rows,
  // trainSoftmax(Fast) and the wasm objective's resident copy. The streamed path holds one chunk and the sample.
  const banned =
    /\b(flattenRows|applyStandardizerAll|fitStandardizer|trainSoftmax|trainSoftmaxFast|wasmSoftmaxObjective)\(/;
  for (const file of [
    'src/training/head-streamed.ts',
    'src/solvers/streamed-softmax.ts',
    'src/features/spill-file.ts',
  ]) {
    const hits = readFileSync(join(ROOT, file), 'utf8')
      .split('\n')
      .filter((line) => banned.test(line) && !line.trim().startsWith('//') && !line.trim().startsWith('*'));
    assert.deepEqual(hits, [], file);
  }
});
