// The rung-1 training curve scores a thinning subset of L-BFGS iterations (each scoring costs about one evaluation).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { onCurve } from '../../src/classifier/train-head.js';

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
