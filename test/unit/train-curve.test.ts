// The rung-1 training curve scores a thinning subset of L-BFGS iterations (each scoring costs about one evaluation).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { onCurve } from '../../src/training/head.js';
import { CurveScorer, curvePoints } from '../../src/solvers/curve-scorer.js';
import { Rng } from '../../src/util/random.js';
import { env } from '../../src/util/env.js';

test('the curve keeps every one of the first 20 iterations, then a doubling stride (~50 points for 150)', () => {
  for (let i = 1; i <= 20; i++) assert.ok(onCurve(i), `iteration ${i}`);
  const kept = Array.from({ length: 147 }, (_, i) => i + 1).filter(onCurve);
  assert.equal(kept.length, 48);
  assert.ok(!onCurve(21) && onCurve(22) && !onCurve(42) && onCurve(44) && onCurve(80) && !onCurve(84) && onCurve(88));
  // Thin but never empty: at least one point in every decade of iterations up to 10,000.
  for (let lo = 10; lo < 10000; lo *= 10) {
    assert.ok(Array.from({ length: 9 * lo }, (_, i) => lo + i).some(onCurve), `a point in [${lo}, ${10 * lo})`);
  }
});

test('curve points: 48 of 147 iterations, 20 of 20', () => {
  assert.equal(curvePoints(147), 48);
  assert.equal(curvePoints(20), 20);
});

test('curve scores on the wasm GEMM (big sets) equal the JavaScript scores: same accuracies, losses to 1e-5', async () => {
  const rng = new Rng(7);
  const rows = (n: number) => Array.from({ length: n }, () => Float32Array.from({ length: 48 }, () => rng.normal()));
  const [Xtr, Xva] = [rows(300), rows(120)];
  const label = (n: number) => Int32Array.from({ length: n }, (_, i) => i % 4);
  const [ytr, yva] = [label(300), label(120)];
  const W = Float64Array.from({ length: 4 * 48 }, () => 0.2 * rng.normal());
  const b = Float64Array.from({ length: 4 }, () => 0.1 * rng.normal());
  const js = await CurveScorer.start(Xtr, ytr, Xva, yva, 4); // 300 x 48 x 4: far below the wasm threshold
  env.headWasmMinUnits = 1;
  let wasm: CurveScorer;
  try {
    wasm = await CurveScorer.start(Xtr, ytr, Xva, yva, 4);
  } finally {
    env.headWasmMinUnits = undefined;
  }
  const a = js.score(W, b);
  const c = wasm.score(W, b);
  js.dispose();
  wasm.dispose();
  assert.equal(c.train.acc, a.train.acc);
  assert.equal(c.val!.acc, a.val!.acc);
  assert.ok(a.train.acc > 0.15 && a.train.acc < 0.5, `random weights, 4 classes: ${a.train.acc}`);
  assert.ok(Math.abs(c.train.loss - a.train.loss) < 1e-5 && Math.abs(c.val!.loss - a.val!.loss) < 1e-5);
});
