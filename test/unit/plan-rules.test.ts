// auto's rule (plan/decide.ts): given each rung's estimated seconds and the measured gain table, which rung it
// picks, why, and the "only the budget stops it" line with the command that runs the better rung.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  decideRung,
  expectedGain,
  expectsToTrainOn,
  fitGainTable,
  MIN_GAIN_POINTS,
  MIN_TRY_PER_CLASS,
  type GainObservation,
  type RungOption,
} from '../../src/plan/decide.js';
import { RUN_SHAPE } from '../../src/plan/estimate.js';
import { finetuneDefaults } from '../../src/training/finetune-recipe.js';
import { INNER_VAL_FRACTION } from '../../src/classifier/inner-split.js';
import { DEFAULT_MAX_CALIBRATION, DEFAULT_MAX_REFERENCES } from '../../src/classifier/unknown.js';

const options = (partial: [number, number | undefined], full: [number, number | undefined]): RungOption[] => [
  { rung: 'head', seconds: 20, gain: 0, command: 'tl train d --strategy head' },
  { rung: 'partial', seconds: partial[0], gain: partial[1], command: 'tl train d --strategy partial' },
  { rung: 'full', seconds: full[0], gain: full[1], command: 'tl train d --strategy full' },
];

test('auto picks the largest expected gain that fits the budget; ties go to the cheaper rung', () => {
  const ctx = { perClass: 500, budget: 900, domain: 'far' as const };
  assert.equal(decideRung(options([300, 2], [2400, 4]), { ...ctx, budget: 3600 }).choice, 'full');
  assert.equal(decideRung(options([300, 2], [2400, 4]), ctx).choice, 'partial');
  assert.equal(decideRung(options([300, 2], [800, 2]), ctx).choice, 'partial', 'same gain: the cheaper rung');
  // Below the minimum gain nothing is chosen for its expected gain; no measured gain at this size: not a candidate.
  // Partial is still tried when it fits (the try decides on the inner split); too few images to try: the head.
  const head = decideRung(options([60, MIN_GAIN_POINTS / 2], [600, undefined]), {
    ...ctx,
    perClass: MIN_TRY_PER_CLASS - 1,
    domain: 'photo',
  });
  assert.equal(head.choice, 'head');
  assert.match(head.reason, /^24 images\/class: head \(~20 s\); no rung is expected to gain >= 0\.5 pts/);
  assert.match(head.reason, /full ~10 min, no measured gain at this size/);
  assert.equal(head.blockedByBudget, undefined);
  const tried = decideRung(options([60, MIN_GAIN_POINTS / 2], [600, undefined]), { ...ctx, domain: 'photo' });
  assert.equal(tried.choice, 'partial');
  assert.match(
    tried.reason,
    /^500 images\/class: auto will try partial \(~60 s\) and keep it only if it beats the head on the inner split \(paired test\), stopping early if it is clearly behind \(measured sets like it: \+0\.3 pts\); head ~20 s, expected \+0\.0 pts; full ~10 min, no measured gain at this size$/,
  );
});

test('when only the budget stops a rung expected to gain more, the reason says so and gives its command', () => {
  const d = decideRung(options([1200, 2.5], [2700, 4]), { perClass: 500, budget: 900, domain: 'far' });
  assert.equal(d.choice, 'head');
  assert.deepEqual(d.blockedByBudget, {
    rung: 'full',
    seconds: 2700,
    gain: 4,
    command: 'tl train d --strategy full',
  });
  assert.match(
    d.reason,
    /Only the time budget stops full \(expected \+4\.0 pts, ~45 min > 15 min\): tl train d --strategy full$/,
  );
  // Partial fits, full does not: partial is chosen and the line still points at full.
  const p = decideRung(options([600, 2.5], [2700, 4]), { perClass: 500, budget: 900, domain: 'far' });
  assert.equal(p.choice, 'partial');
  assert.match(
    p.reason,
    /^500 images\/class, far from ImageNet: partial \(~10 min, expected \+2\.5 pts over the head; the head is its epoch 0: a fine-tuned epoch is kept only if it beats the head on the inner split \(paired test\)\)/,
  );
  assert.equal(p.blockedByBudget?.rung, 'full');
  // A rung over the budget that is not expected to beat the choice is not mentioned.
  const q = decideRung(options([600, 2.5], [2700, 1]), { perClass: 500, budget: 900, domain: 'far' });
  assert.equal(q.blockedByBudget, undefined);
  assert.doesNotMatch(q.reason, /Only the time budget/);
});

test('the gain table: mean gain per images/class bucket and domain; lookup by the largest bucket <= images/class', () => {
  const obs: GainObservation[] = [
    { rung: 'partial', perClass: 25, domain: 'photo', gain: -3 },
    { rung: 'partial', perClass: 50, domain: 'photo', gain: -1 },
    { rung: 'partial', perClass: 60, domain: 'photo', gain: -2 },
    { rung: 'partial', perClass: 500, domain: 'far', gain: 2.2 },
    { rung: 'full', perClass: 500, domain: 'far', gain: 4 },
  ];
  const t = fitGainTable(obs);
  assert.deepEqual(t.partial.photo, [
    [25, -3],
    [50, -1.5],
  ]);
  assert.deepEqual(t.full.far, [[500, 4]]);
  assert.equal(expectedGain('partial', 30, 'photo', t), -3);
  assert.equal(expectedGain('partial', 5000, 'photo', t), -1.5);
  assert.equal(expectedGain('partial', 10, 'photo', t), undefined, 'below every measured size: no evidence');
  assert.equal(expectedGain('partial', 700, 'far', t), 2.2);
  // A domain or a rung never measured has no gain: nothing is extrapolated from satellite patches to photos.
  assert.equal(expectedGain('full', 600, 'photo', t), undefined);
  assert.equal(expectedGain('full', 600, 'far', fitGainTable(obs.slice(0, 3))), undefined);
  assert.equal(expectedGain('head', 10, 'photo', t), 0);
});

test('shipped table: EuroSAT (500/class, far) picks rung 3 at --time-budget 3600, partial at the default; photos the head', () => {
  const eurosat = (budget: number) =>
    decideRung(
      [
        { rung: 'head', seconds: 45, gain: 0, command: 'tl train eurosat --strategy head' },
        { rung: 'partial', seconds: 400, gain: expectedGain('partial', 500, 'far'), command: 'p' },
        {
          rung: 'full',
          seconds: 1800,
          gain: expectedGain('full', 500, 'far'),
          command: 'tl train eurosat --strategy full',
        },
      ],
      { perClass: 500, budget, domain: 'far' },
    );
  assert.equal(eurosat(3600).choice, 'full');
  // bench:auto measured the far recipe at +1.3 points in 261 s on EuroSAT: within the default budget, the best rung.
  const dflt = eurosat(900);
  assert.equal(dflt.choice, 'partial');
  assert.match(
    dflt.reason,
    /Only the time budget stops full \(expected \+4\.7 pts, ~30 min > 15 min\): tl train eurosat --strategy full$/,
  );
  // Rung 3 measured on photos at 25-50/class (-3.1 to +0.2): never expected to gain there.
  for (const perClass of [25, 50, 122]) assert.ok(expectedGain('full', perClass, 'photo')! < MIN_GAIN_POINTS);
  assert.equal(expectedGain('full', 10, 'photo'), undefined, 'below every measured size: no evidence');
  // Partial reusing the last blocks never gained enough on photos (25-1000/class, colour or grey): not worth its time.
  for (const perClass of [25, 100, 122, 1000]) assert.ok(expectedGain('partial', perClass, 'photo')! < MIN_GAIN_POINTS);
});

test('from 25 images/class, partial is tried whenever it fits the budget, whatever the table expects', () => {
  // Photos only, as the leave-one-dataset-out check sees the table with EuroSAT held out.
  const photosOnly = fitGainTable([
    { rung: 'partial', perClass: 100, domain: 'photo', gain: -0.5 },
    { rung: 'full', perClass: 25, domain: 'photo', gain: -1 },
  ]);
  const far = (table: ReturnType<typeof fitGainTable>, perClass: number, budget = 900) =>
    decideRung(
      [
        { rung: 'head', seconds: 20, gain: 0, command: 'tl train d --strategy head' },
        { rung: 'partial', seconds: 300, gain: expectedGain('partial', perClass, 'far', table), command: 'tl p' },
        { rung: 'full', seconds: 2000, gain: expectedGain('full', perClass, 'far', table), command: 'tl f' },
      ],
      { perClass, budget, domain: 'far' },
    );
  const d = far(photosOnly, 100);
  assert.equal(d.choice, 'partial');
  assert.match(
    d.reason,
    /^100 images\/class, far from ImageNet: auto will try partial \(~5 min\) and keep it only if it beats the head on the inner split \(paired test\), stopping early if it is clearly behind \(no measured set like it\); head ~20 s, expected \+0\.0 pts; full ~33 min, no measured gain at this size$/,
  );
  assert.equal(d.blockedByBudget, undefined);
  // Far rows from 100/class up: below them there is no measurement either, so partial is tried too.
  const farFrom100 = fitGainTable([{ rung: 'partial', perClass: 100, domain: 'far', gain: 2.2 }]);
  assert.equal(expectedGain('partial', 50, 'far', farFrom100), undefined);
  assert.equal(far(farFrom100, 50).choice, 'partial');
  // Below the smallest size measured anywhere the inner split is too small to guard the try: the head.
  assert.equal(far(photosOnly, MIN_TRY_PER_CLASS - 1).choice, 'head');
  assert.equal(far(photosOnly, MIN_TRY_PER_CLASS).choice, 'partial');
  // A measured loss does not decide alone: the try measures it on this set.
  const farLoses = fitGainTable([{ rung: 'partial', perClass: 25, domain: 'far', gain: -1 }]);
  assert.equal(far(farLoses, 100).choice, 'partial');
  assert.match(far(farLoses, 100).reason, /\(measured sets like it: -1\.0 pts\)/);
  // Over the budget the head stays, and the line says what would have been tried and how to run it.
  const tight = far(photosOnly, 100, 200);
  assert.equal(tight.choice, 'head');
  assert.match(tight.reason, /\. partial would be tried against the head, but ~5 min > 3 min: tl p$/);
  // Photos too: the table says partial loses a point there, the try measures it on this set.
  const photo = decideRung(options([60, -1], [600, undefined]), { perClass: 100, budget: 900, domain: 'photo' });
  assert.equal(photo.choice, 'partial');
  assert.equal(
    decideRung(options([60, -1], [600, undefined]), { perClass: 10, budget: 900, domain: 'photo' }).choice,
    'head',
  );
  // A measured gain that fits still beats an unmeasured try (rung 3 measured, partial not).
  const measuredFull = decideRung(options([60, undefined], [600, 3]), { perClass: 500, budget: 900, domain: 'far' });
  assert.equal(measuredFull.choice, 'full');
});

test('the time estimate counts all epochs for a rung expected to gain or tried (partial from 25/class)', () => {
  assert.equal(expectsToTrainOn('partial', undefined, 'far', 100), true);
  assert.equal(expectsToTrainOn('partial', undefined, 'far', MIN_TRY_PER_CLASS - 1), false);
  assert.equal(expectsToTrainOn('partial', undefined, 'photo', 100), true);
  assert.equal(expectsToTrainOn('full', undefined, 'far', 100), false, 'rung 3 is never tried unmeasured');
  assert.equal(expectsToTrainOn('full', MIN_GAIN_POINTS, 'photo', 100), true);
  assert.equal(expectsToTrainOn('partial', -1, 'far', 100), true);
});

test("the plan's picture of a run matches the trainer's defaults (epochs, patience, inner val, unknown references)", () => {
  const partial = finetuneDefaults({ strategy: 'partial' });
  assert.deepEqual(RUN_SHAPE, {
    partialEpochs: partial.epochs,
    fullEpochs: finetuneDefaults({ strategy: 'full' }).epochs,
    patience: partial.patience,
    innerValFraction: INNER_VAL_FRACTION,
    unknownReferences: DEFAULT_MAX_REFERENCES,
    unknownCalibration: DEFAULT_MAX_CALIBRATION,
    fullBatchSize: finetuneDefaults({ strategy: 'full' }).batchSize,
  });
});
