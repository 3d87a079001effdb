// auto's time budget during the run (src/training/epoch-budget.ts, training/train.ts tryBudget): how many epochs fit,
// from the plan's estimate before the first epoch and from the measured epoch after it, and each try's share.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { epochsWithinBudget } from '../../src/training/epoch-budget.js';
import { tryBudget } from '../../src/training/train.js';
import type { RungEstimate } from '../../src/plan/plan.js';

const at0 = 1_000_000;
const budget = { endsAt: at0 + 900_000, epochSeconds: 60, finalSeconds: 30 };

test('before the first epoch: the estimate decides, and a try always gets one epoch', () => {
  // 900 s left, 30 s for the final stage: 14 epochs of 60 s fit; the plan asked for 12.
  assert.equal(epochsWithinBudget(budget, { done: 0, planned: 12, now: at0 }), 12);
  // 330 s left: 300 s for epochs, 5 of them.
  assert.equal(epochsWithinBudget(budget, { done: 0, planned: 12, now: at0 + 570_000 }), 5);
  // Past the end already (an earlier try overran): one epoch, not none.
  assert.equal(epochsWithinBudget(budget, { done: 0, planned: 12, now: at0 + 950_000 }), 1);
});

test('after an epoch: its measured seconds decide, and a slow epoch makes the final stage slower too', () => {
  // Blood cells 100/class: the plan's 60 s epochs ran 120 s. After epoch 3, at 400 s: 500 s left, the final stage
  // scaled to 60 s, so 440 s: 3 more epochs (6 in all), not the 12 planned.
  assert.equal(epochsWithinBudget(budget, { done: 3, planned: 12, now: at0 + 400_000, lastEpochSeconds: 120 }), 6);
  // Faster than planned: the final stage keeps its estimate (30 s); 870 s of 40 s epochs would be 21: the plan's 12.
  assert.equal(epochsWithinBudget(budget, { done: 1, planned: 12, now: at0 + 30_000, lastEpochSeconds: 40 }), 12);
  // A first epoch slow with warm-up cut the run to 8; the next ran 63 s: back to 12 when they fit again (here 11).
  assert.equal(epochsWithinBudget(budget, { done: 2, planned: 12, now: at0 + 200_000, lastEpochSeconds: 63 }), 12);
  assert.equal(epochsWithinBudget(budget, { done: 2, planned: 12, now: at0 + 250_000, lastEpochSeconds: 63 }), 11);
  // Nothing left: stop after the epochs done (never fewer than those).
  assert.equal(epochsWithinBudget(budget, { done: 4, planned: 12, now: at0 + 890_000, lastEpochSeconds: 120 }), 4);
});

const est = (rung: 'partial' | 'full', seconds: number, epochSeconds: number, final: number) =>
  ({
    rung,
    seconds,
    epochSeconds,
    stages: [
      { stage: 'epochs', seconds: seconds - final },
      { stage: 'final', seconds: final },
    ],
  }) as RungEstimate;

test("each try's share: the budget less the tries after it; the plan's epoch and final seconds", () => {
  const plan = { timeBudget: 900, estimates: [est('partial', 74, 5, 8), est('full', 780, 60, 40)] };
  // Partial first: it must leave rung 3's planned 780 s.
  assert.deepEqual(tryBudget(plan, 'partial', at0, ['full']), {
    endsAt: at0 + 120_000,
    epochSeconds: 5,
    finalSeconds: 8,
  });
  // Rung 3 last: the whole budget, counted from the run's start (the plan and partial's try included).
  assert.deepEqual(tryBudget(plan, 'full', at0, []), { endsAt: at0 + 900_000, epochSeconds: 60, finalSeconds: 40 });
  // A rung the plan has no epoch estimate for: no budget to hold it to.
  assert.equal(tryBudget({ timeBudget: 900, estimates: [] }, 'full', at0, []), undefined);
});
