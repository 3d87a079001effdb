// Which fine-tuning epoch is kept and when a run stops (training/epoch-choice.ts): a fine-tuned epoch must beat epoch 0
// (the head) by more than a paired standard error on the same inner rows; patience counts from the best fine-tuned
// epoch; only a try (auto's) stops early when clearly behind, and never while its last epoch improved.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  BEHIND_MIN_EPOCHS,
  chooseEpoch,
  improves,
  KEEP_MARGIN_SE,
  KEEP_SIGN_TEST_LEVEL,
  shouldStop,
  signTestP,
  type EpochScore,
} from '../../src/training/epoch-choice.js';
import { pairedStdErr } from '../../src/solvers/select-l2.js';

/** A score on `n` inner rows: right on the rows listed by `right`. */
function score(epoch: number, n: number, right: (i: number) => boolean, loss = 0.5): EpochScore {
  const correct = Uint8Array.from({ length: n }, (_, i) => (right(i) ? 1 : 0));
  return { epoch, acc: correct.reduce((a, x) => a + x, 0) / n, loss, correct };
}

test('a fine-tuned epoch 2 points up on 100 inner images is within one paired SE: the head is kept', () => {
  // The head is right on rows 0-79; epoch 4 loses 3 of them and gains 5 others: +2 pts, paired SE ~2.8 pts.
  const head = score(0, 100, (i) => i < 80);
  const best = score(4, 100, (i) => (i >= 3 && i < 80) || (i >= 80 && i < 85));
  const v = chooseEpoch(head, best);
  assert.equal(v.kept, 0);
  assert.equal(v.bestFinetuned, 4);
  assert.ok(Math.abs(v.gainPoints - 2) < 1e-9);
  assert.ok(Math.abs(v.stdErrPoints - pairedStdErr(best.correct, head.correct) * 100) < 1e-9);
  assert.ok(v.stdErrPoints > 2, String(v.stdErrPoints));
  assert.match(
    v.why,
    /^kept epoch 0 \(the head\): epoch 0 \(the head\) 80\.0 %, best fine-tuned epoch 4 82\.0 % on 100 inner-val images; \+2\.0 pts is within 1 paired SE \(2\.\d pts\) of it/,
  );
});

test('a gain larger than the paired SE keeps the fine-tuned epoch; the same rows right twice cost no SE', () => {
  // Epoch 3 keeps every row the head had and adds 6: +6 pts, paired SE ~2.4 pts.
  const head = score(0, 100, (i) => i < 80);
  const best = score(3, 100, (i) => i < 86);
  const v = chooseEpoch(head, best);
  assert.equal(v.kept, 3);
  assert.ok(v.gainPoints > KEEP_MARGIN_SE * v.stdErrPoints);
  assert.match(v.why, /^kept epoch 3: .* \+6\.0 pts > 1 paired SE \(2\.\d pts\)$/);
  // Equal accuracy is never a gain.
  assert.equal(
    chooseEpoch(
      head,
      score(2, 100, (i) => i < 80),
    ).kept,
    0,
  );
  // A loss is worded as one.
  assert.match(
    chooseEpoch(
      head,
      score(1, 100, (i) => i < 77),
    ).why,
    /; fine-tuning did not beat it \(-3\.0 pts, paired SE \d\.\d pts\)$/,
  );
});

test('patience counts from the best fine-tuned epoch; only a try stops when clearly behind, and not while improving', () => {
  const head = score(0, 200, (i) => i < 180); // 90 %
  const dip = score(1, 200, (i) => i < 150); // 75 %: 15 points behind, far more than 2 paired SEs
  // A forced run: the dip never stops it before the patience's epochs since its best fine-tuned epoch.
  assert.equal(shouldStop(head, dip, 2, 1, 3), undefined);
  assert.equal(shouldStop(head, dip, 4, 3, 3), 'patience');
  // A try: behind by > 2 SE after BEHIND_MIN_EPOCHS epochs and the last epoch did not improve: stop.
  assert.equal(shouldStop(head, dip, BEHIND_MIN_EPOCHS, 1, 3, undefined, true), 'behind');
  // ...but not in its first epoch, and not while the last epoch was its best so far (still climbing).
  assert.equal(shouldStop(head, dip, 1, 1, 3, undefined, true), undefined);
  assert.equal(shouldStop(head, dip, 3, 0, 3, undefined, true), undefined);
  // A try within 2 SE of the head goes on.
  const close = score(2, 200, (i) => (i >= 10 && i < 180) || (i >= 180 && i < 186)); // 88 %: 2 pts behind, SE 2 pts
  assert.equal(shouldStop(head, close, 3, 1, 3, undefined, true), undefined);
});

test('improves: accuracy first, loss on ties; nothing to beat yet is an improvement', () => {
  assert.equal(improves({ acc: 0.9, loss: 1 }, undefined), true);
  assert.equal(improves({ acc: 0.9, loss: 1 }, { acc: 0.8, loss: 0.1 }), true);
  assert.equal(improves({ acc: 0.9, loss: 0.2 }, { acc: 0.9, loss: 0.3 }), true);
  assert.equal(improves({ acc: 0.9, loss: 0.3 }, { acc: 0.9, loss: 0.3 }), false);
});

test('on a tiny inner split a gain of one or two images is not kept: the exact sign test must pass too', () => {
  // 8 inner images (cats/dogs at 25/class): the head wrong on one, epoch 7 right on all: +12.5 pts, "> 1 SE".
  const head = score(0, 8, (i) => i > 0);
  const lucky = chooseEpoch(
    head,
    score(7, 8, () => true),
  );
  assert.equal(lucky.kept, 0);
  assert.match(
    lucky.why,
    /\+12\.5 pts rests on 1 image against 0 \(sign test p 0\.50 > 0\.16\), too few to show a gain$/,
  );
  // Two images: p 0.25, still not; three with none the other way: p 0.125, kept.
  const head20 = score(0, 20, (i) => i >= 3);
  assert.equal(
    chooseEpoch(
      score(0, 20, (i) => i >= 2),
      score(5, 20, () => true),
    ).kept,
    0,
  );
  assert.equal(
    chooseEpoch(
      head20,
      score(5, 20, () => true),
    ).kept,
    5,
  );
  assert.ok(Math.abs(signTestP(3, 0) - 0.125) < 1e-12);
  assert.equal(signTestP(0, 0), 1);
  assert.ok(Math.abs(signTestP(6, 2) - 37 / 256) < 1e-12);
  assert.ok(KEEP_SIGN_TEST_LEVEL > 0.15 && KEEP_SIGN_TEST_LEVEL < 0.16);
});
