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
  MIN_FULL_TRY_PER_CLASS,
  MIN_TRY_PER_CLASS,
  type GainObservation,
  type RungOption,
} from '../../src/plan/decide.js';
import { RUN_SHAPE, type RungEstimate } from '../../src/plan/estimate.js';
import { epochsForBudget, FULL_MAX_EPOCHS, withTimeBudget, type Plan } from '../../src/plan/plan.js';
import { optionsForPlan, pickTry } from '../../src/training/train.js';
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
  assert.equal(
    decideRung(options([300, 2], [800, 2]), { ...ctx, perClass: MIN_TRY_PER_CLASS - 1 }).choice,
    'partial',
    'same gain: the cheaper rung (too few images to try either)',
  );
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
  const tried = decideRung(options([60, MIN_GAIN_POINTS / 2], [1200, undefined]), {
    ...ctx,
    perClass: 150,
    domain: 'photo',
  });
  assert.equal(tried.choice, 'partial');
  assert.equal(tried.tries, undefined);
  assert.match(
    tried.reason,
    /^150 images\/class: auto will try partial \(~60 s\) and keep it only if it beats the head on the inner split \(paired test\), stopping early if it is clearly behind \(measured sets like it: \+0\.3 pts\); head ~20 s, expected \+0\.0 pts; full ~20 min, no measured gain at this size$/,
  );
  // Both fit together: partial, then rung 3.
  const both = decideRung(options([60, MIN_GAIN_POINTS / 2], [600, undefined]), {
    ...ctx,
    perClass: 150,
    domain: 'photo',
  });
  assert.deepEqual([both.choice, both.tries], ['full', ['partial', 'full']]);
  assert.match(
    both.reason,
    /^150 images\/class: auto will try partial \(~60 s, measured sets like it: \+0\.3 pts\), then full \(~10 min, no measured set like it\), and keep one only if it beats the head on the inner split \(paired test\), the better of the two on that split when both do; each stops early if it is clearly behind; head ~20 s$/,
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
  const photo = decideRung(options([60, -1], [1200, undefined]), { perClass: 100, budget: 900, domain: 'photo' });
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
  assert.equal(expectsToTrainOn('full', undefined, 'far', 100), true, 'rung 3 is tried from 25/class too');
  assert.equal(expectsToTrainOn('full', undefined, 'photo', MIN_FULL_TRY_PER_CLASS - 1), false);
  assert.equal(expectsToTrainOn('full', undefined, 'photo', MIN_FULL_TRY_PER_CLASS), true);
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

test('rung 3 is tried from 25 images/class: after partial when the budget holds both, alone when it holds rung 3 only; else the line names it', () => {
  const at = (perClass: number, budget: number, o = options([300, 2.2], [2400, -4.8])) =>
    decideRung(o, { perClass, budget, domain: 'far' });
  // Blood cells, 250/class: the table expects partial +2.2 and rung 3 -4.8 (measured at 25/class); the try decides.
  const long = at(250, 3600);
  assert.deepEqual([long.choice, long.tries], ['full', ['partial', 'full']]);
  assert.match(
    long.reason,
    /^250 images\/class, far from ImageNet: auto will try partial \(~5 min, measured sets like it: \+2\.2 pts\), then full \(~40 min, measured sets like it: -4\.8 pts\)/,
  );
  // The budget holds rung 3 but not both: rung 3 alone (blood cells whole at the default budget: partial 74 s +
  // rung 3 869 s > 900 s; rung 3 alone ended 0.981, partial 0.920).
  const alone = at(250, 2500);
  assert.deepEqual([alone.choice, alone.tries], ['full', undefined]);
  assert.match(alone.reason, /auto will try full \(~40 min\) and keep it only if it beats the head/);
  // At the default budget partial (expected +2.2) runs, and the line says what the budget stops and how to run it.
  const short = at(250, 900);
  assert.equal(short.choice, 'partial');
  assert.match(
    short.reason,
    /\. full would be tried against the head, but ~40 min > 15 min: tl train d --strategy full$/,
  );
  // Below 25/class nothing is tried, whatever the budget.
  assert.equal(at(MIN_FULL_TRY_PER_CLASS - 1, 3600).tries, undefined);
  assert.doesNotMatch(at(MIN_FULL_TRY_PER_CLASS - 1, 900).reason, /would be tried/);
  // Photos with no measured gain: rung 3's try replaces the head too.
  const photos = decideRung(options([60, -0.1], [1800, undefined]), { perClass: 240, budget: 3600, domain: 'photo' });
  assert.deepEqual(photos.tries, ['partial', 'full']);
  assert.equal(
    decideRung(options([60, -0.1], [1800, undefined]), { perClass: 240, budget: 900, domain: 'photo' }).choice,
    'partial',
  );
});

test('a long budget buys rung 3 more epochs, up to twice the default; a new budget is decided from the default', () => {
  const full: RungEstimate = {
    rung: 'full',
    seconds: 1800,
    epochs: RUN_SHAPE.fullEpochs,
    epochSeconds: 150,
    expectedGain: null,
    detail: '',
    stages: [
      { stage: 'extract', seconds: 100 },
      { stage: 'epochs', seconds: 150 * RUN_SHAPE.fullEpochs },
      { stage: 'final', seconds: 800 },
    ],
  };
  const head: RungEstimate = { rung: 'head', seconds: 20, expectedGain: 0, detail: '', stages: [] };
  assert.equal(epochsForBudget([head, full], 1800 + 149), undefined, 'one more epoch does not fit');
  const some = epochsForBudget([head, full], 1800 + 2 * 150)!;
  assert.equal(some.epochs, RUN_SHAPE.fullEpochs + 2);
  assert.equal(some.seconds, 2100);
  assert.equal(some.estimates[1].stages.find((s) => s.stage === 'epochs')!.seconds, 150 * (RUN_SHAPE.fullEpochs + 2));
  assert.equal(epochsForBudget([head, full], 1e6)!.epochs, FULL_MAX_EPOCHS);
  assert.equal(FULL_MAX_EPOCHS, 2 * RUN_SHAPE.fullEpochs);
  // Through the plan: 3600 s picks rung 3's try (250/class) with the grown count; 900 s re-decided is partial again.
  const plan: Plan = {
    choice: 'head',
    reason: '',
    imagesPerClass: 250,
    trainImages: 2000,
    timeBudget: 0,
    throughput: { extract: 1, partialTrain: 1, fullTrain: 1, measured: true },
    estimates: [head, { ...full, rung: 'partial', seconds: 300 }, full],
  };
  const long = withTimeBudget(plan, 3600, 'd');
  assert.equal(long.choice, 'full');
  assert.equal(long.epochs, FULL_MAX_EPOCHS);
  assert.match(long.reason, /; the budget holds 12 epochs of rung 3 \(~45 min in all\)$/);
  assert.deepEqual(long.tries, ['partial', 'full']);
  // Two tries share the budget: rung 3 grows into what partial's try leaves (2300 - 300 s: one epoch more, not three).
  const shared = withTimeBudget(plan, 2300, 'd');
  assert.deepEqual([shared.tries, shared.epochs], [['partial', 'full'], RUN_SHAPE.fullEpochs + 1]);
  const short = withTimeBudget(long, 900, 'd');
  assert.equal(short.choice, 'partial');
  assert.equal(short.tries, undefined);
  assert.equal(short.epochs, undefined);
  assert.equal(short.estimates[2].seconds, 1800);
});

test("auto's choice runs with the plan's recipe, and rung 3 with the grown epochs and patience unless given", () => {
  const recipe = { trainLast: 5, replace: [1024] };
  assert.deepEqual(optionsForPlan({ seed: 1 }, { choice: 'partial', recipe }), {
    seed: 1,
    trainLast: 5,
    replace: [1024],
  });
  assert.deepEqual(optionsForPlan({}, { choice: 'full', epochs: 12 }), { epochs: 12, patience: 12 });
  assert.deepEqual(optionsForPlan({ epochs: 4 }, { choice: 'full', epochs: 12 }), { epochs: 4 }, '--epochs wins');
  assert.deepEqual(optionsForPlan({ patience: 2 }, { choice: 'full', epochs: 12 }), { epochs: 12, patience: 2 });
  assert.deepEqual(optionsForPlan({}, { choice: 'full' }), {});
  assert.deepEqual(optionsForPlan({}, { choice: 'head', epochs: 12 }), {});
});

test("of auto's tries, the one whose kept epoch scores higher on the inner split wins; none that counts: the head", () => {
  const partial = { rung: 'partial', counts: true, inner: 0.892 };
  const full = { rung: 'full', counts: true, inner: 0.958 };
  // Blood cells at 100/class: both beat the head, rung 3 higher on the same inner split.
  assert.equal(pickTry([partial, full]), full);
  // A try that kept epoch 0 does not count, however its epoch 0 scored (at rung 3's own size it may score higher).
  assert.equal(pickTry([partial, { ...full, counts: false, inner: 0.99 }]), partial);
  assert.equal(
    pickTry([
      { ...partial, counts: false },
      { ...full, counts: false },
    ]),
    undefined,
  );
  // A tie goes to the earlier, cheaper try.
  assert.equal(pickTry([partial, { ...full, inner: partial.inner }]), partial);
});
