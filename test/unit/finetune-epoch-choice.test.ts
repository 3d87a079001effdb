// Which fine-tuning epoch is kept and when a run stops (training/epoch-choice.ts): a fine-tuned epoch must beat epoch 0
// (the head) by more than a paired standard error on the same inner rows; patience counts from the best fine-tuned
// epoch; only a try (auto's) stops early when clearly behind, and never while its last epoch improved.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  BEHIND_MIN_EPOCHS,
  chooseEpoch,
  epochStanding,
  improves,
  KEEP_MARGIN_SE,
  KEEP_SIGN_TEST_LEVEL,
  nearBest,
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

test('a decaying schedule keeps the latest epoch within a paired SE of the best, when the best beats the head', () => {
  // tf_flowers5 at 3600 s in miniature: the head right on 90 of 100 inner rows; epoch 4 the best (94); epochs 5 and
  // 7 one row behind it, each on rows it gets wrong and others it gets right (within one paired SE); epoch 6 is eight
  // behind.
  const head = score(0, 100, (i) => i < 90);
  const epochs = [
    score(1, 100, (i) => i < 92),
    score(2, 100, (i) => i < 91),
    score(3, 100, (i) => i < 93),
    score(4, 100, (i) => i < 94),
    score(5, 100, (i) => i < 92 || i === 95),
    score(6, 100, (i) => i < 86),
    score(7, 100, (i) => i < 91 || i === 95 || i === 96),
  ];
  const run = (latestNearBest: boolean, seq = epochs) => {
    let best: EpochScore | undefined;
    let kept: EpochScore | undefined;
    for (const e of seq) {
      const st = epochStanding(e, best, latestNearBest);
      if (st.isBest) best = e;
      if (st.keep) kept = e;
    }
    return { best: best!, kept: kept! };
  };
  const near = run(true);
  assert.equal(near.best.epoch, 4);
  assert.equal(near.kept.epoch, 7, 'epoch 7 (one row behind epoch 4, paired SE 2.2 pts) is the latest near-tie');
  assert.ok(nearBest(epochs[6], epochs[3]) && !nearBest(epochs[5], epochs[3]));
  // One row behind and right on no row the best misses is not a tie: the best is strictly better there.
  assert.ok(
    !nearBest(
      score(8, 100, (i) => i < 93),
      epochs[3],
    ),
  );
  // A constant rate (partial): the best is kept.
  assert.equal(run(false).kept.epoch, 4);
  // The test is the best's against the head (as without the rule); the near-tie is what is kept, and the line says so.
  const v = chooseEpoch(head, near.best, undefined, near.kept);
  assert.equal(v.kept, 7);
  assert.equal(v.bestFinetuned, 4);
  assert.match(
    v.why,
    /^kept epoch 7: epoch 0 \(the head\) 90\.0 %, best fine-tuned epoch 4 94\.0 % on 100 inner-val images; \+4\.0 pts > 1 paired SE \(2\.0 pts\); epoch 7 \(93\.0 %\) is the latest within 1 paired SE of the best, further down the decay$/,
  );
  // When the best does not beat the head, no near-tie is kept either.
  const flat = run(true, [score(1, 100, (i) => i < 91), score(2, 100, (i) => i < 90 || i === 95)]);
  assert.equal(flat.kept.epoch, 2);
  assert.equal(chooseEpoch(head, flat.best, undefined, flat.kept).kept, 0);
  // A later epoch given as `later` that is the best itself changes nothing.
  assert.equal(chooseEpoch(head, near.best, undefined, near.best).why, chooseEpoch(head, near.best).why);
});
