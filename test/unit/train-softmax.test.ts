import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../../src/util/random.js';
import { fitStandardizer, applyStandardizer } from '../../src/solvers/standardize.js';
import { minimizeLbfgs } from '../../src/solvers/lbfgs.js';
import {
  argmax,
  classWeights,
  flattenRows,
  predictProba,
  softmaxObjective,
  trainSoftmax,
  trainSoftmaxFlat,
} from '../../src/solvers/softmax-regression.js';
import { wasmBackend, wasmSoftmaxObjective } from '../../src/solvers/wasm-objective.js';
import {
  chooseOneStdErr,
  pairedStdErr,
  selectL2,
  selectL2OnValidation,
  stratifiedFolds,
} from '../../src/solvers/select-l2.js';

/** Gaussian blobs: class k centred at `separation` * e_k (plus noise dims). */
function blobs(n: number, dim: number, numClasses: number, separation: number, seed: number) {
  const rng = new Rng(seed);
  const X: Float32Array[] = [];
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const label = i % numClasses;
    y[i] = label;
    const row = Float32Array.from({ length: dim }, () => rng.normal());
    row[label % dim] += separation;
    X.push(row);
  }
  return { X, y };
}

test('Rng is deterministic, in range, and shuffles in place', () => {
  const a = new Rng(42);
  const b = new Rng(42);
  const seqA = Array.from({ length: 100 }, () => a.next());
  assert.deepEqual(
    seqA,
    Array.from({ length: 100 }, () => b.next()),
  );
  assert.ok(seqA.every((v) => v >= 0 && v < 1));
  assert.notDeepEqual(
    seqA.slice(0, 5),
    Array.from({ length: 5 }, () => new Rng(43).next()),
  );
  const ints = Array.from({ length: 1000 }, () => a.int(7));
  assert.ok(ints.every((v) => Number.isInteger(v) && v >= 0 && v < 7));
  const normals = Array.from({ length: 20000 }, () => a.normal());
  const mean = normals.reduce((s, v) => s + v, 0) / normals.length;
  const variance = normals.reduce((s, v) => s + (v - mean) ** 2, 0) / normals.length;
  assert.ok(Math.abs(mean) < 0.03 && Math.abs(variance - 1) < 0.05, `mean ${mean} variance ${variance}`);
  const arr = [1, 2, 3, 4, 5, 6];
  new Rng(1).shuffle(arr);
  assert.deepEqual([...arr].sort(), [1, 2, 3, 4, 5, 6]);
  assert.deepEqual(arr, new Rng(1).shuffle([1, 2, 3, 4, 5, 6]));
});

test('standardizer gives zero mean, unit std, and maps constant features to 0', () => {
  const rows = [Float32Array.of(1, 5, 100), Float32Array.of(3, 5, 300)];
  const s = fitStandardizer(rows);
  assert.deepEqual([...s.mean], [2, 5, 200]);
  assert.deepEqual([...applyStandardizer(rows[0], s)], [-1, 0, -1]);
  assert.deepEqual([...applyStandardizer(rows[1], s)], [1, 0, 1]);
});

test('objective gradient matches central finite differences (weighted, 3 classes)', () => {
  const { X, y } = blobs(30, 6, 3, 1.5, 7);
  const rng = new Rng(3);
  const weights = Float64Array.from({ length: 30 }, () => 0.2 + rng.next());
  const f = softmaxObjective(flattenRows(X), y, 3, 0.3, weights);
  const theta = Float64Array.from({ length: 3 * 6 + 3 }, () => rng.normal() * 0.5);
  const grad = new Float64Array(theta.length);
  f(theta, grad);
  const scratch = new Float64Array(theta.length);
  const h = 1e-5;
  for (let i = 0; i < theta.length; i++) {
    const plus = theta.slice();
    plus[i] += h;
    const minus = theta.slice();
    minus[i] -= h;
    const numeric = (f(plus, scratch) - f(minus, scratch)) / (2 * h);
    const relError = Math.abs(numeric - grad[i]) / Math.max(1e-3, Math.abs(numeric) + Math.abs(grad[i]));
    assert.ok(relError < 1e-5, `parameter ${i}: analytic ${grad[i]} numeric ${numeric} (rel error ${relError})`);
  }
});

test('L-BFGS minimizes an ill-conditioned quadratic to the known optimum', () => {
  const scales = [1, 10, 100, 1000];
  const target = [1, -2, 3, -4];
  const x = new Float64Array(4);
  const r = minimizeLbfgs(
    (v, g) => {
      let s = 0;
      for (let i = 0; i < 4; i++) {
        g[i] = scales[i] * (v[i] - target[i]);
        s += 0.5 * scales[i] * (v[i] - target[i]) ** 2;
      }
      return s;
    },
    x,
    { gradTol: 1e-10 },
  );
  assert.ok(r.converged);
  x.forEach((v, i) => assert.ok(Math.abs(v - target[i]) < 1e-9, `x[${i}] = ${v}`));
});

/** Reference solver: Newton's method on the equivalent binary problem, with the penalty written out directly. */
function binaryNewton(X: Float32Array[], y: Int32Array, l2: number) {
  const d = X[0].length;
  // For two classes the optimum has W1 = -W0 (the rows' gradients sum to l2*(W0+W1)), so with v = W1 - W0 the
  // penalty (l2/2)(|W0|^2 + |W1|^2) is (l2/4)|v|^2; the bias c = b1 - b0 is free.
  const p = d + 1;
  const theta = new Float64Array(p);
  for (let iter = 0; iter < 50; iter++) {
    const g = new Float64Array(p);
    const H = Array.from({ length: p }, () => new Float64Array(p));
    for (let i = 0; i < X.length; i++) {
      const xi = [...X[i], 1];
      const z = xi.reduce((s, v, j) => s + v * theta[j], 0);
      const prob = 1 / (1 + Math.exp(-z));
      for (let a = 0; a < p; a++) {
        g[a] += ((prob - y[i]) * xi[a]) / X.length;
        for (let b = 0; b < p; b++) H[a][b] += (prob * (1 - prob) * xi[a] * xi[b]) / X.length;
      }
    }
    for (let a = 0; a < d; a++) {
      g[a] += (l2 / 2) * theta[a];
      H[a][a] += l2 / 2;
    }
    // Solve H step = g by Gaussian elimination with partial pivoting.
    const M = H.map((row, a) => [...row, g[a]]);
    for (let c = 0; c < p; c++) {
      let piv = c;
      for (let r = c + 1; r < p; r++) if (Math.abs(M[r][c]) > Math.abs(M[piv][c])) piv = r;
      [M[c], M[piv]] = [M[piv], M[c]];
      for (let r = c + 1; r < p; r++) {
        const factor = M[r][c] / M[c][c];
        for (let k = c; k <= p; k++) M[r][k] -= factor * M[c][k];
      }
    }
    const step = new Float64Array(p);
    for (let r = p - 1; r >= 0; r--) {
      let s = M[r][p];
      for (let k = r + 1; k < p; k++) s -= M[r][k] * step[k];
      step[r] = s / M[r][r];
    }
    for (let a = 0; a < p; a++) theta[a] -= step[a];
  }
  return theta;
}

test('two-class fit matches a Newton reference solver on a non-separable problem', () => {
  const { X, y } = blobs(200, 4, 2, 1.0, 11);
  const l2 = 0.05;
  const fit = trainSoftmax(X, y, 2, { l2, tol: 1e-9 });
  assert.ok(fit.converged, fit.stopReason);
  const reference = binaryNewton(X, y, l2);
  for (let j = 0; j < 4; j++) {
    const v = fit.Wf64[4 + j] - fit.Wf64[j];
    assert.ok(Math.abs(v - reference[j]) < 1e-6, `weight ${j}: ${v} vs reference ${reference[j]}`);
    assert.ok(Math.abs(fit.Wf64[4 + j] + fit.Wf64[j]) < 1e-6, 'the two rows should be opposite at the optimum');
  }
  assert.ok(Math.abs(fit.bf64[1] - fit.bf64[0] - reference[4]) < 1e-6);
});

test('multi-class fit reaches a stationary point (KKT: full gradient ~ 0) and learns the blobs', () => {
  const { X, y } = blobs(300, 8, 4, 3, 5);
  const fit = trainSoftmax(X, y, 4, { l2: 1e-2 });
  assert.ok(fit.converged);
  const f = softmaxObjective(flattenRows(X), y, 4, 1e-2);
  const theta = new Float64Array([...fit.Wf64, ...fit.bf64]);
  const grad = new Float64Array(theta.length);
  const loss = f(theta, grad);
  assert.ok(Math.max(...grad.map(Math.abs)) < 1e-5);
  assert.ok(Math.abs(loss - fit.loss) < 1e-12);
  const correct = X.filter((row, i) => argmax(predictProba(fit, row)) === y[i]).length;
  assert.ok(correct / X.length > 0.85, `train accuracy ${correct / X.length}`);
  const p = predictProba(fit, X[0]);
  assert.ok(Math.abs(p.reduce((a, b) => a + b, 0) - 1) < 1e-6);
});

test('warm start from the solution converges at once; bias is not regularized', () => {
  const { X, y } = blobs(100, 3, 2, 2, 9);
  const fit = trainSoftmax(X, y, 2, { l2: 0.1 });
  const again = trainSoftmax(X, y, 2, { l2: 0.1, init: { W: fit.Wf64, b: fit.bf64 } });
  assert.ok(again.iterations <= 1);
  // With all-zero features only the bias can fit the class prior (3:1), whatever the l2.
  const zeros = Array.from({ length: 40 }, () => new Float32Array(3));
  const prior = Int32Array.from({ length: 40 }, (_, i) => (i % 4 === 0 ? 1 : 0));
  const biasOnly = trainSoftmax(zeros, prior, 2, { l2: 100, tol: 1e-10 });
  assert.ok(Math.abs(predictProba(biasOnly, zeros[0])[1] - 0.25) < 1e-6);
});

test('training is deterministic: two runs give byte-identical Float32 weights', () => {
  const { X, y } = blobs(150, 10, 3, 1.2, 21);
  const a = trainSoftmax(X, y, 3, { l2: 1e-3 });
  const b = trainSoftmax(X, y, 3, { l2: 1e-3 });
  assert.ok(Buffer.from(a.W.buffer).equals(Buffer.from(b.W.buffer)));
  assert.ok(Buffer.from(a.b.buffer).equals(Buffer.from(b.b.buffer)));
});

test('balanced class weights move the decision toward the rare class', () => {
  const rng = new Rng(4);
  const X: Float32Array[] = [];
  const labels: number[] = [];
  for (let i = 0; i < 190; i++) {
    X.push(Float32Array.of(rng.normal()));
    labels.push(0);
  }
  for (let i = 0; i < 10; i++) {
    X.push(Float32Array.of(1.5 + rng.normal()));
    labels.push(1);
  }
  const y = Int32Array.from(labels);
  const w = classWeights(y, 2);
  assert.ok(Math.abs(w[0] - 200 / (2 * 190)) < 1e-12 && Math.abs(w[199] - 200 / (2 * 10)) < 1e-12);
  const plain = trainSoftmax(X, y, 2, { l2: 1e-3 });
  const weighted = trainSoftmax(X, y, 2, { l2: 1e-3, sampleWeights: w });
  const probe = Float32Array.of(1.2); // closer to the rare class's centre, but the majority wins without weights
  assert.equal(argmax(predictProba(plain, probe)), 0);
  assert.equal(argmax(predictProba(weighted, probe)), 1);
  const recall = (m: typeof plain) => X.slice(190).filter((r) => argmax(predictProba(m, r)) === 1).length / 10;
  assert.ok(recall(weighted) > recall(plain));
});

test('stratified folds keep class proportions and cover every row once', () => {
  const y = Int32Array.from({ length: 103 }, (_, i) => (i < 80 ? 0 : i < 100 ? 1 : 2));
  const fold = stratifiedFolds(y, 3, 5, new Rng(0));
  for (let f = 0; f < 5; f++) {
    const members = [...y].filter((_, i) => fold[i] === f);
    assert.equal(members.filter((c) => c === 0).length, 16);
    assert.equal(members.filter((c) => c === 1).length, 4);
  }
  assert.deepEqual(fold, stratifiedFolds(y, 3, 5, new Rng(0)));
});

test('CV picks stronger regularization on small noisy data than on large clean data', async () => {
  // Few rows, many noise dimensions, a weak signal spread over 10 of them: averaging (strong L2) beats fitting.
  const noisyRng = new Rng(31);
  const noisy = { X: [] as Float32Array[], y: new Int32Array(60) };
  for (let i = 0; i < 60; i++) {
    const label = i % 2;
    noisy.y[i] = label;
    noisy.X.push(
      Float32Array.from({ length: 100 }, (_, j) => noisyRng.normal() + (j < 10 ? 0.6 * (2 * label - 1) : 0)),
    );
  }
  // Large and clean, but the signal is only visible after cancelling a shared nuisance (x0 - x1): strong L2 shrinks
  // toward the class-mean direction (x0 alone), which the nuisance swamps, so weak regularization must win here.
  const rng = new Rng(32);
  const clean = { X: [] as Float32Array[], y: new Int32Array(400) };
  for (let i = 0; i < 400; i++) {
    const label = i % 2;
    const nuisance = 3 * rng.normal();
    clean.y[i] = label;
    clean.X.push(Float32Array.of(2 * label - 1 + 0.2 * rng.normal() + nuisance, nuisance, rng.normal()));
  }
  const grid = [10, 1, 0.1, 0.01, 1e-3, 1e-4];
  const noisySel = await selectL2(noisy.X, noisy.y, 2, { grid, seed: 1, parallel: 1 });
  const cleanSel = await selectL2(clean.X, clean.y, 2, { grid, seed: 1, parallel: 1 });
  // Strongest first; the coarse-to-fine walk fits only some of the grid values.
  for (const sel of [noisySel, cleanSel])
    assert.deepEqual(
      sel.curve.map((p) => p.l2),
      grid.filter((l2) => sel.curve.some((p) => p.l2 === l2)),
    );
  assert.ok(noisySel.best > cleanSel.best, `noisy picked ${noisySel.best}, clean picked ${cleanSel.best}`);
  const bestAcc = Math.max(...cleanSel.curve.map((p) => p.cvAccuracy));
  assert.equal(cleanSel.curve.find((p) => p.l2 === cleanSel.best)!.cvAccuracy, bestAcc);
  // Ties go to the stronger value: nothing stronger than the pick reaches its accuracy.
  assert.ok(cleanSel.curve.filter((p) => p.l2 > cleanSel.best).every((p) => p.cvAccuracy < bestAcc));
});

test('CV in worker threads gives exactly the serial result; the seed decides the folds', async () => {
  const { X, y } = blobs(120, 12, 3, 1.5, 41);
  const grid = [1, 0.1, 0.01];
  const serial = await selectL2(X, y, 3, { grid, seed: 5, parallel: 1 });
  const threaded = await selectL2(X, y, 3, { grid, seed: 5, parallel: 2 });
  assert.deepEqual(threaded, serial);
  const otherSeed = await selectL2(X, y, 3, { grid, seed: 6, parallel: 1 });
  assert.notDeepEqual(otherSeed.curve, serial.curve);
});

test('selectL2OnValidation scores on the given validation rows', () => {
  const train = blobs(200, 5, 2, 2, 51);
  const val = blobs(100, 5, 2, 2, 52);
  const sel = selectL2OnValidation(train.X, train.y, val.X, val.y, 2, { grid: [1, 0.01] });
  const fit = trainSoftmax(train.X, train.y, 2, { l2: 1, tol: 1e-5 });
  const accuracy = val.X.filter((r, i) => argmax(predictProba(fit, r)) === val.y[i]).length / val.X.length;
  assert.ok(Math.abs(sel.curve[0].cvAccuracy - accuracy) < 0.011); // same fit up to the path's looser tolerance
  assert.ok(sel.curve.every((p) => p.cvLoss > 0 && p.cvAccuracy > 0.8));
});

/** The textbook objective, one row at a time, on rows copied out: the reference the blocked kernel must match. */
function naiveObjective(
  X: Float32Array[],
  y: Int32Array,
  K: number,
  l2: number,
  w: Float64Array,
  theta: Float64Array,
  grad: Float64Array,
): number {
  const d = X[0].length;
  const total = w.reduce((a, b) => a + b, 0);
  grad.fill(0);
  let loss = 0;
  X.forEach((x, i) => {
    const z = Array.from(
      { length: K },
      (_, k) => theta[K * d + k] + x.reduce((s, v, j) => s + theta[k * d + j] * v, 0),
    );
    const lse = Math.log(z.reduce((s, v) => s + Math.exp(v), 0));
    loss += (w[i] / total) * (lse - z[y[i]]);
    for (let k = 0; k < K; k++) {
      const r = (w[i] / total) * (Math.exp(z[k] - lse) - (k === y[i] ? 1 : 0));
      grad[K * d + k] += r;
      for (let j = 0; j < d; j++) grad[k * d + j] += r * x[j];
    }
  });
  for (let j = 0; j < K * d; j++) grad[j] += l2 * theta[j];
  return loss + 0.5 * l2 * theta.subarray(0, K * d).reduce((s, v) => s + v * v, 0);
}

test('blocked objective on a row subset equals the naive objective on those rows copied (odd K, zero weights, ragged block)', () => {
  for (const K of [2, 3, 5]) {
    const { X, y } = blobs(41, 7, K, 1, 60 + K);
    const rng = new Rng(K);
    const weights = Float64Array.from({ length: 41 }, (_, i) => (i % 6 === 0 ? 0 : 0.3 + rng.next()));
    const subset = Int32Array.from([0, 3, 4, 5, 9, 12, 13, 17, 18, 22, 30, 31, 40]); // 13 rows: 3 full blocks + 1
    const theta = Float64Array.from({ length: K * 7 + K }, () => rng.normal() * 0.4);
    const fast = new Float64Array(theta.length);
    const loss = softmaxObjective(flattenRows(X), y, K, 0.2, weights, subset)(theta, fast);
    const ref = new Float64Array(theta.length);
    const pick = [...subset];
    const refLoss = naiveObjective(
      pick.map((i) => X[i]),
      Int32Array.from(pick.map((i) => y[i])),
      K,
      0.2,
      Float64Array.from(pick.map((i) => weights[i])),
      theta,
      ref,
    );
    assert.ok(Math.abs(loss - refLoss) < 1e-12, `K=${K}: loss ${loss} vs ${refLoss}`);
    for (let i = 0; i < theta.length; i++)
      assert.ok(Math.abs(fast[i] - ref[i]) < 1e-12, `K=${K} grad ${i}: ${fast[i]} vs ${ref[i]}`);
  }
});

test('coarse-to-fine search with early stop picks what the full grid picks, with fewer fits; its warm start reaches the cold fit', async () => {
  const { X, y } = blobs(200, 30, 3, 0.9, 71); // small and noisy: accuracy peaks at strong l2, then falls
  const grid = [10, 3, 1, 0.3, 0.1, 0.03, 0.01, 3e-3, 1e-3, 3e-4, 1e-4];
  const full = await selectL2(X, y, 3, { grid, seed: 2, parallel: 1, stop: false });
  const fast = await selectL2(X, y, 3, { grid, seed: 2, parallel: 1 });
  // Two threads run folds ahead of the others and drop what lies past the stop: the same walk, bit for bit.
  assert.deepEqual(await selectL2(X, y, 3, { grid, seed: 2, parallel: 2 }), fast);
  assert.deepEqual(
    full.curve.map((p) => p.l2),
    grid,
  );
  assert.ok(fast.curve.length < grid.length, `fitted all ${grid.length} values`);
  assert.equal(fast.best, full.best);
  for (const p of fast.curve) {
    const ref = full.curve.find((q) => q.l2 === p.l2)!;
    assert.ok(
      Math.abs(p.cvAccuracy - ref.cvAccuracy) <= 0.01,
      `l2 ${p.l2}: ${p.cvAccuracy} vs ${ref.cvAccuracy} on the full walk`,
    );
  }
  const cold = trainSoftmax(X, y, 3, { l2: fast.best });
  const warm = trainSoftmax(X, y, 3, { l2: fast.best, init: fast.warmStart });
  assert.ok(
    warm.converged && warm.iterations <= cold.iterations, // the one-SE pick may be a strong l2 that needs few anyway
    `warm ${warm.iterations} vs cold ${cold.iterations} iterations`,
  );
  for (let i = 0; i < cold.W.length; i++) assert.ok(Math.abs(warm.Wf64[i] - cold.Wf64[i]) < 1e-4, `weight ${i}`);
});

test('wasm GEMM objective (the L2 search kernel) matches the Float64 JavaScript objective, on a weighted row subset', async () => {
  const tf = await wasmBackend();
  assert.ok(tf, 'the wasm backend starts');
  const { X, y } = blobs(203, 37, 5, 1.5, 31);
  const flat = flattenRows(X);
  const weights = Float64Array.from({ length: X.length }, (_, i) => (i % 7 === 0 ? 0 : 0.5 + (i % 3)));
  const subset = Int32Array.from({ length: 150 }, (_, i) => (i * 4) % X.length);
  const rng = new Rng(3);
  const theta = Float64Array.from({ length: 5 * 37 + 5 }, () => 0.3 * rng.normal());
  const gJs = new Float64Array(theta.length);
  const gWasm = new Float64Array(theta.length);
  const lossJs = softmaxObjective(flat, y, 5, 0.02, weights, subset)(theta, gJs);
  const kernel = wasmSoftmaxObjective(tf, flat, y, 5, weights, subset);
  try {
    const lossWasm = kernel.objective(0.02)(theta, gWasm);
    assert.ok(Math.abs(lossWasm - lossJs) < 1e-5 * Math.abs(lossJs), `loss ${lossWasm} vs ${lossJs}`);
    const scale = Math.max(...gJs.map(Math.abs));
    for (let i = 0; i < theta.length; i++)
      assert.ok(Math.abs(gWasm[i] - gJs[i]) < 1e-5 * scale, `grad ${i}: ${gWasm[i]} vs ${gJs[i]}`);
    // A fit on the wasm kernel lands on the reference solution, and repeats bit for bit.
    const opts = { l2: 0.01, sampleWeights: weights, subset, tol: 1e-5 };
    const reference = trainSoftmaxFlat(flat, y, 5, opts);
    const fast = trainSoftmaxFlat(flat, y, 5, { ...opts, objective: kernel.objective(0.01) });
    const again = trainSoftmaxFlat(flat, y, 5, { ...opts, objective: kernel.objective(0.01) });
    assert.ok(fast.converged, fast.stopReason);
    let maxDiff = 0;
    for (let i = 0; i < reference.Wf64.length; i++)
      maxDiff = Math.max(maxDiff, Math.abs(fast.Wf64[i] - reference.Wf64[i]));
    assert.ok(maxDiff < 1e-3, `weights differ by up to ${maxDiff}`);
    assert.ok(Buffer.from(fast.Wf64.buffer).equals(Buffer.from(again.Wf64.buffer)));
  } finally {
    kernel.dispose();
  }
});

test('L2 search on the wasm kernel picks what the JavaScript kernel picks, the same in threads or not', async () => {
  const { X, y } = blobs(240, 12, 3, 1.0, 41);
  const grid = [10, 1, 0.1, 0.01, 0.001];
  const js = await selectL2(X, y, 3, { grid, seed: 5, parallel: 1, kernel: 'js' });
  const serial = await selectL2(X, y, 3, { grid, seed: 5, parallel: 1, kernel: 'wasm' });
  const threaded = await selectL2(X, y, 3, { grid, seed: 5, parallel: 2, kernel: 'wasm' });
  assert.equal(serial.best, js.best);
  for (const p of serial.curve)
    assert.ok(Math.abs(p.cvAccuracy - js.curve.find((q) => q.l2 === p.l2)!.cvAccuracy) <= 0.01, `l2 ${p.l2}`);
  assert.deepEqual(threaded.curve, serial.curve);
  assert.ok(Buffer.from(threaded.warmStart!.W.buffer).equals(Buffer.from(serial.warmStart!.W.buffer)));
});

test('one-standard-error rule: a near-tie goes to the stronger l2, a gap beyond the paired noise does not', () => {
  // 1000 held-out rows; l2 1 is right on 902, l2 3.16 on 900 (they disagree on 10 rows): gap 0.002 < SE ~0.0032.
  const rows = 1000;
  const weak = new Uint8Array(rows);
  const strong = new Uint8Array(rows);
  for (let i = 0; i < 896; i++) weak[i] = strong[i] = 1;
  for (let i = 896; i < 902; i++) weak[i] = 1; // 6 rows only the weaker gets right
  for (let i = 902; i < 906; i++) strong[i] = 1; // 4 only the stronger gets right
  const point = (l2: number, correct: Uint8Array) => ({
    l2,
    cvAccuracy: correct.reduce((n, c) => n + c, 0) / rows,
    cvLoss: 0.3,
    iterations: 1,
  });
  const curve = [point(3.16, strong), point(1, weak)];
  const correct = (l2: number) => (l2 === 1 ? weak : strong);
  assert.ok(Math.abs(pairedStdErr(weak, strong) - Math.sqrt(10 - 4 / 1000) / rows) < 1e-12);
  assert.equal(chooseOneStdErr(curve, correct), 3.16);
  // A 20-row gap on 24 disagreements (SE ~0.0049) is real: the higher accuracy keeps it.
  const clearlyWorse = new Uint8Array(weak);
  for (let i = 880; i < 902; i++) clearlyWorse[i] = 0;
  clearlyWorse[902] = clearlyWorse[903] = 1;
  assert.equal(
    chooseOneStdErr([point(3.16, clearlyWorse), point(1, weak)], (l2) => (l2 === 1 ? weak : clearlyWorse)),
    1,
  );
  // Weights count: disagreements only on rows of weight 0 carry no noise (and no gap).
  const weights = Float64Array.from({ length: rows }, (_, i) => (i >= 896 && i < 906 ? 0 : 1));
  assert.equal(pairedStdErr(weak, strong, weights), 0);
});
