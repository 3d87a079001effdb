// The fine-tuning rate schedule (src/finetune/schedule.ts): linear warm-up, then constant (rung 2) or cosine (rung 3).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rateFactor } from '../../src/finetune/schedule.js';

test('warm-up: linear from 1/warmup to 1 over the first epoch, the same for both schedules', () => {
  for (const sched of ['constant', 'cosine'] as const) {
    assert.equal(rateFactor(sched, 0, 10, 100), 0.1);
    assert.equal(rateFactor(sched, 4, 10, 100), 0.5);
    assert.equal(rateFactor(sched, 9, 10, 100), 1);
  }
});

test('constant stays at 1; cosine falls from 1 through 0.5 at mid-way to a 0.01 floor at the end', () => {
  assert.equal(rateFactor('constant', 10, 10, 100), 1);
  assert.equal(rateFactor('constant', 99, 10, 100), 1);
  assert.equal(rateFactor('cosine', 10, 10, 100), 1);
  assert.ok(Math.abs(rateFactor('cosine', 55, 10, 100) - 0.5) < 1e-12);
  assert.equal(rateFactor('cosine', 100, 10, 100), 0.01);
  assert.equal(rateFactor('cosine', 500, 10, 100), 0.01, 'past the end (a resumed run): the floor');
  let prev = Infinity;
  for (let s = 10; s < 100; s++) {
    const f = rateFactor('cosine', s, 10, 100);
    assert.ok(f <= prev && f > 0, `monotone decreasing at ${s}`);
    prev = f;
  }
});
