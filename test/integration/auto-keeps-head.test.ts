// When auto's try of a fine-tuning rung keeps epoch 0 (the pretrained network unchanged), what it saves is rung 1
// itself: the same head, the same val numbers as `--strategy head`, not the head on the tail's float copy of the
// network (on imagewoof that copy scored val 0.874 against rung 1's 0.884: auto ended a point below the head it kept).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { env } from '../../src/util/env.js';
import { trainClassifier } from '../../src/training/train.js';
import { loadDataset } from '../../src/data/dataset.js';
import { cleanup, DATASETS_DIR, tempDir } from '../helpers.ts';

let dir: string;
before(async () => {
  dir = await tempDir('tl-auto-keeps-head-');
  env.cacheDir = join(dir, 'cache');
});
after(() => cleanup(dir));

test('a try that keeps epoch 0 saves rung 1: the same val accuracy, log loss and probabilities as --strategy head', async () => {
  // Ants and bees (122/class): partial is tried; its best epoch trails the head on the inner split (bench:auto).
  const data = join(DATASETS_DIR, 'hymenoptera_data');
  const events: string[] = [];
  // A budget that holds partial's try (~20 s) but not rung 3's as well (~2 min): one try.
  const auto = await trainClassifier(data, { seed: 0, timeBudget: 60, onEvent: (e) => events.push(e.type) });
  const head = await trainClassifier(data, { seed: 0, strategy: 'head' });
  try {
    assert.equal(auto.stages?.rung, 'partial', 'auto tried partial');
    assert.match(auto.plan?.outcome ?? '', /kept epoch 0 \(the head\).*; saved: rung 1's head/);
    assert.equal((auto.config as { strategy?: string }).strategy, undefined, 'a rung-1 config (no fine-tuning fields)');
    assert.equal(auto.metrics.accuracy, head.metrics.accuracy);
    assert.equal(auto.metrics.logLoss, head.metrics.logLoss);
    assert.equal(events.filter((t) => t === 'dataset').length, 1, 'the data summary once');
    // The stages still add up: the try's epochs, then the head trained again inside 'final'.
    const stages = Object.fromEntries(auto.stages!.stages.map((s) => [s.stage, s.actualSeconds]));
    assert.ok(stages.epochs > 0 && stages.final > 0, JSON.stringify(stages));
  } finally {
    await auto.classifier.dispose();
    await head.classifier.dispose();
  }
});

test('when the budget holds both, auto tries partial then rung 3 and keeps one (or the head), saying what each scored', async () => {
  // Ants and bees, 25 training images/class (the whole val split): both tries take about a minute.
  const whole = loadDataset(join(DATASETS_DIR, 'hymenoptera_data'));
  const data = { ...whole, train: whole.classes.flatMap((c) => whole.train.filter((i) => i.label === c).slice(0, 25)) };
  const events: string[] = [];
  const auto = await trainClassifier(data, { seed: 0, onEvent: (e) => events.push(e.type) });
  try {
    assert.deepEqual(auto.plan?.tries, ['partial', 'full']);
    const outcome = auto.plan?.outcome ?? '';
    assert.match(
      outcome,
      /^tried partial.*; tried full.*; (kept (partial|full): [\d.]+ % on the inner split|saved: rung 1's head)/,
    );
    const kept = /; kept (partial|full):/.exec(outcome)?.[1] ?? 'head';
    // The stages compare with the estimate of the rung kept, or of the last try when the head was kept.
    assert.equal(auto.stages?.rung, kept === 'head' ? 'full' : kept);
    // One run's summary and result: the tries' own 'done' is said only for the one kept.
    assert.equal(events.filter((t) => t === 'dataset').length, 1);
    assert.equal(events.filter((t) => t === 'done').length, 1);
    const strategy = (auto.config as { strategy?: string }).strategy;
    assert.equal(strategy, kept === 'head' ? undefined : kept);
  } finally {
    await auto.classifier.dispose();
  }
});
