// `tl plan` / `--strategy auto` on real sets: the stages are estimated from probes (the cold cache is seen as cold),
// the far-from-ImageNet recipe is picked on satellite patches, and the choice is the shipped rule's on the plan's own
// estimates (the rule itself: test/unit/plan-rules.test.ts).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { env } from '../../src/util/env.js';
import { loadDataset } from '../../src/data/dataset.js';
import { planTraining, type Plan } from '../../src/plan/plan.js';
import { decideRung, expectedGain } from '../../src/plan/decide.js';
import { FAR_CLASSES_PER_CLASS } from '../../src/plan/domain-rule.js';
import { cleanup, DATASETS_DIR, linkSubset, runCli, tempDir } from '../helpers.ts';

let cacheDir: string;
before(async () => {
  cacheDir = await tempDir('tl-plan-auto-');
  env.cacheDir = cacheDir;
});
after(() => cleanup(cacheDir));

/** The choice the shipped rule makes on this plan's estimates. */
function ruleChoice(p: Plan): string {
  const domain = p.domain?.far ? 'far' : 'photo';
  return decideRung(
    p.estimates.map((e) => ({
      rung: e.rung,
      seconds: e.seconds,
      gain: expectedGain(e.rung, p.imagesPerClass, domain),
      command: '',
    })),
    { perClass: p.imagesPerClass, budget: p.timeBudget, domain },
  ).choice;
}

test('EuroSAT: far from ImageNet, new units on the 14x14 cut; stages from probes on a cold cache; the rule decides', async () => {
  const ds = loadDataset(join(DATASETS_DIR, 'eurosat'));
  const e = await planTraining(ds, { timeBudget: 1e6 });
  assert.ok(e.domain && e.domain.far && e.domain.classesPerClass < FAR_CLASSES_PER_CLASS, JSON.stringify(e.domain));
  assert.deepEqual(e.recipe, { trainLast: 5, replace: [1024] });
  assert.ok(e.throughput.measured && e.throughput.partialTrain > 0 && e.throughput.fullTrain > 0);
  assert.deepEqual(
    e.estimates.map((x) => [x.rung, x.stages.map((s) => s.stage)]),
    [
      ['head', ['extract', 'head-fit']],
      ['partial', ['extract', 'head-fit', 'epochs', 'final']],
      ['full', ['extract', 'head-fit', 'epochs', 'final']],
    ],
  );
  // Nothing is cached in this test's cache: every image is to be extracted, and that is most of the head's time.
  assert.match(e.estimates[0].stages[0].detail!, /^7000 of 7000 images not cached/);
  // Rung 3 trains below the backbone's 224 px (the 64 px images' own size, native-size.ts's floor), and its epoch is
  // estimated from a measured step at that size.
  assert.ok(e.fullSize! >= 64 && e.fullSize! < 224, String(e.fullSize));
  assert.match(e.estimates[2].detail, new RegExp(`every layer at ${e.fullSize} px`));
  assert.ok(e.estimates[2].epochSeconds! > e.estimates[1].epochSeconds!);
  assert.equal(e.choice, ruleChoice(e));
  // The same plan with a budget below the chosen rung's time: the head, and the line says what the budget stopped.
  // It reuses this plan's measured throughputs and ImageNet-likeness (probing all 7000 images again took ~25 s); the
  // head's estimate then leaves out reading and loading, so it stays under the budget.
  if (e.choice !== 'head') {
    const tight = await planTraining(ds, {
      timeBudget: e.estimates[0].seconds + 1,
      throughput: e.throughput,
      domain: e.domain ?? null,
    });
    assert.deepEqual(tight.recipe, e.recipe);
    assert.equal(tight.choice, 'head');
    assert.match(tight.reason, /Only the time budget stops (partial|full) .*: tl train \S+eurosat --strategy/);
  }
});

test('hymenoptera (122/class, photos): the ImageNet top is kept (no recipe) and the rule decides', async () => {
  const h = await planTraining(loadDataset(join(DATASETS_DIR, 'hymenoptera_data')));
  assert.ok(h.domain && !h.domain.far, JSON.stringify(h.domain));
  assert.equal(h.recipe, undefined);
  assert.equal(h.choice, ruleChoice(h));
  assert.match(h.reason, /^122 images\/class: /);
});

// On 12 EuroSAT patches per class: tl plan always probes rung 3, at 128 px here (hymenoptera's photos probe it at
// 224 px, ~11 s more of this file's time for the same printed lines).
test('tl plan prints every stage estimate and the line auto would print', async () => {
  const data = join(cacheDir, 'eurosat-12');
  for (const split of ['train', 'val']) await linkSubset(join(DATASETS_DIR, 'eurosat', split), join(data, split), 12);
  const r = await runCli(['plan', data], { cacheDir, timeoutMs: 240_000 });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^head +~\d+ s +extract \d+ \+ head-fit \d+ /m);
  assert.match(r.stdout, /^partial +~\d+ s +extract \d+ \+ head-fit \d+ \+ epochs \d+ \+ final \d+ /m);
  assert.match(
    r.stdout,
    /^full +~\d+ s +extract \d+ \+ head-fit \d+ \+ epochs \d+ \+ final \d+ .*every layer at 128 px/m,
  );
  assert.match(r.stdout, /^auto: 12 images\/class, far from ImageNet: /m);
});
