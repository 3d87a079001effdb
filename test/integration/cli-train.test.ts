// The built CLI's rung-1 commands as a user runs them: tl train / eval / predict / demo, their JSON and human output,
// and clean refusals. One temp TL_CACHE_DIR for the file: hymenoptera_data is embedded once, then read from the cache.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import {
  cleanup,
  DATASETS_DIR,
  DOG,
  FIXTURES,
  filesIn,
  runCli,
  tempDir,
  assertCleanError as assertCleanErrorShared,
  type CliResult,
} from '../helpers.js';

const HYM = join(DATASETS_DIR, 'hymenoptera_data');

let tmp: string;
let cacheDir: string;
before(async () => {
  tmp = await tempDir('tl-cli-train-');
  cacheDir = join(tmp, 'cache');
});
after(async () => {
  await cleanup(tmp);
});

// Run in the temp dir, so a default output folder never lands in the checkout.
const tl = (args: string[], env?: Record<string, string | undefined>) =>
  runCli(args, { cacheDir, env, cwd: tmp, timeoutMs: 240_000 });

const assertCleanError = (r: CliResult, pattern: RegExp) => assertCleanErrorShared(r, pattern, { emptyStdout: true });

interface TrainJson {
  accuracy: number;
  count: number;
  macroF1: number;
  perClass: { label: string; precision: number; recall: number; f1: number; support: number }[];
  confusion: number[][];
  labels: string[];
  counts: { label: string; train: number; val: number }[];
  config: Record<string, unknown>;
  timings: { extractSeconds: number; trainSeconds: number; totalSeconds: number };
  bundle: string;
}

describe('tl train / eval / predict', () => {
  let bundle: string;
  let trained: TrainJson;

  before(async () => {
    bundle = join(tmp, 'hym-bundle');
  });

  test('train DATA --out DIR --json: one JSON object on stdout, human report on stderr, a complete bundle', async () => {
    // auto, with a budget that holds partial's try but not rung 3's as well (the two tries: auto-keeps-head.test.ts).
    const r = await tl(['train', HYM, '--out', bundle, '--json', '--time-budget', '60']);
    assert.equal(r.code, 0, r.stderr);
    trained = JSON.parse(r.stdout) as TrainJson; // the whole of stdout is one JSON document
    assert.equal(typeof trained, 'object');
    assert.ok(trained.accuracy >= 0.95, `accuracy ${trained.accuracy}`);
    assert.equal(trained.count, 153);
    assert.deepEqual(trained.labels, ['ants', 'bees']);
    assert.deepEqual(
      trained.perClass.map((c) => [c.label, c.support]),
      [
        ['ants', 70],
        ['bees', 83],
      ],
    );
    for (const c of trained.perClass)
      for (const v of [c.precision, c.recall, c.f1]) assert.ok(v > 0.8 && v <= 1, JSON.stringify(c));
    assert.equal(trained.confusion.length, 2);
    assert.ok(trained.confusion.every((row) => row.length === 2));
    assert.equal(
      trained.confusion.flat().reduce((a, b) => a + b, 0),
      153,
      'the confusion matrix covers every val image',
    );
    assert.equal(trained.confusion[0][0] + trained.confusion[1][1], Math.round(trained.accuracy * 153));
    assert.deepEqual(trained.counts, [
      { label: 'ants', train: 123, val: 70 },
      { label: 'bees', train: 121, val: 83 },
    ]);
    assert.equal(trained.bundle, bundle);
    assert.equal(trained.config.model, 'mobilenet-v2');

    // Human output went to stderr.
    assert.match(r.stderr, /^ants\s+123\s+70$/m, 'class table');
    assert.match(r.stderr, /^validation accuracy: \d+\.\d% \(\d+\/153\)/m);
    assert.match(r.stderr, /^confusion matrix/m);
    assert.match(r.stderr, /^features train: 244 embedded, 0 from cache, 0 skipped/m);
    assert.doesNotMatch(r.stdout, /validation accuracy|confusion matrix/);

    assert.deepEqual((await readdir(bundle)).sort(), ['classifier.json', 'metrics.json', 'report.html', 'weights.bin']);
    const report = await readFile(join(bundle, 'report.html'), 'utf8');
    assert.ok(report.includes('<svg'), 'the report draws its charts inline');
    const metrics = JSON.parse(await readFile(join(bundle, 'metrics.json'), 'utf8'));
    assert.equal(metrics.accuracy, trained.accuracy);
    const manifest = JSON.parse(await readFile(join(bundle, 'classifier.json'), 'utf8'));
    assert.equal(manifest.format, 'tl-classifier');
    assert.deepEqual(manifest.labels, ['ants', 'bees']);
  });

  test('train without --json: the report on stdout; a run after tl embed reads every feature from the cache', async () => {
    const out = join(tmp, 'text-bundle');
    // The first test's auto run tried partial (its cache holds cut activations, another key): embed the head's features.
    const e = await tl(['embed', HYM]);
    assert.equal(e.code, 0, e.stderr);
    // Rung 1 named (the first test covers the default, auto): the report and the cache are what this checks.
    const r = await tl([
      'train',
      HYM,
      '--out',
      out,
      '--strategy',
      'head',
      '--seed',
      '1',
      '--head',
      'mlp:32,dropout=0.1',
      '--epochs',
      '20',
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^features train: 0 embedded, 244 from cache, 0 skipped/m);
    assert.match(r.stdout, /^features val: 0 embedded, 153 from cache, 0 skipped/m);
    assert.match(r.stdout, /^validation accuracy: \d+\.\d%/m);
    assert.match(r.stdout, /^saved classifier: /m);
    const manifest = JSON.parse(await readFile(join(out, 'classifier.json'), 'utf8'));
    assert.deepEqual(
      manifest.head.layers.map((l: { outputs: number }) => l.outputs),
      [32, 2],
    );
  });

  test('eval BUNDLE DATA --json gives the accuracy training reported', async () => {
    assert.ok(trained, 'the train test ran first');
    const r = await tl(['eval', bundle, HYM, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const m = JSON.parse(r.stdout) as TrainJson;
    assert.equal(m.count, 153);
    assert.ok(Math.abs(m.accuracy - trained.accuracy) < 1e-9, `eval ${m.accuracy} vs train ${trained.accuracy}`);
    assert.deepEqual(m.confusion, trained.confusion);
    assert.match(r.stderr, /accuracy: \d+\.\d% \(\d+\/153\)/);
  });

  test('predict BUNDLE FILE DIR --json: one entry per image with label, probability, top and unknown; --top 1', async () => {
    const bees = await filesIn(join(HYM, 'val/bees'));
    const dir = join(tmp, 'inbox');
    await mkdir(dir);
    for (const f of bees.slice(0, 4)) await symlink(f, join(dir, f.split('/').at(-1)!));
    const r = await tl(['predict', bundle, DOG, dir, '--json', '--top', '1']);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as {
      path: string;
      label: string;
      probability: number;
      top: { label: string; probability: number }[];
      unknown: boolean;
      distance: number;
    }[];
    assert.equal(out.length, 5);
    assert.equal(out[0].path, DOG);
    for (const p of out) {
      assert.ok(['ants', 'bees'].includes(p.label));
      assert.ok(p.probability >= 0.5 && p.probability <= 1);
      assert.equal(p.top.length, 1);
      assert.deepEqual(p.top[0], { label: p.label, probability: p.probability });
      assert.equal(typeof p.unknown, 'boolean');
      assert.ok(Number.isFinite(p.distance));
    }
    assert.deepEqual(
      out.slice(1).map((p) => [p.label, p.unknown]),
      Array(4).fill(['bees', false]),
    );

    const two = await tl(['predict', bundle, join(FIXTURES, 'scream.jpg'), bees[0], '--json']);
    assert.equal(two.code, 0, two.stderr);
    const both = JSON.parse(two.stdout) as { top: unknown[]; unknown: boolean }[];
    assert.deepEqual(
      both.map((p) => p.top.length),
      [2, 2],
      '--top is capped at the number of classes',
    );
    assert.deepEqual(
      both.map((p) => p.unknown),
      [true, false],
      'a painting is unlike ants and bees; a bee is not',
    );

    const text = await tl(['predict', bundle, join(FIXTURES, 'scream.jpg')]);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /UNKNOWN \(unlike the training images; nearest: (ants|bees) \d+\.\d%/);
  });
});

describe('tl demo', () => {
  test('demo --json with TL_DATASETS_DIR set trains on ants vs bees', async () => {
    const out = join(tmp, 'demo-out');
    // (a budget that holds partial's try only: the two tries take ~4 min, auto-keeps-head.test.ts covers them)
    const r = await tl(['demo', '--json', '--out', out, '--time-budget', '60'], { TL_DATASETS_DIR: DATASETS_DIR });
    assert.equal(r.code, 0, r.stderr);
    const m = JSON.parse(r.stdout) as TrainJson;
    assert.deepEqual(m.labels, ['ants', 'bees']);
    assert.ok(m.accuracy >= 0.95, `accuracy ${m.accuracy}`);
    assert.equal(m.count, 153);
    assert.ok(existsSync(join(out, 'classifier.json')));
    assert.match(r.stderr, /^features train: 0 embedded, 244 from cache/m, 'shares the cache with tl train');

    // Without the dataset on disk and downloads off: one clear error.
    const noData = await tl(['demo', '--json', '--out', join(tmp, 'demo-none')], {
      TL_DATASETS_DIR: join(tmp, 'no-datasets'),
    });
    assertCleanError(noData, /demo dataset hymenoptera_data is not on disk and downloads are off/);
  });
});

describe('refusals', () => {
  test('bad flags and a bad data path each give one clear error line, exit 1, no stack trace', async () => {
    const cases: [string[], RegExp][] = [
      [['train', HYM, '--val', '2'], /--val must be a number between 0 and 1, got "2"/],
      [['train', HYM, '--head', 'mlp:x'], /--head must be "linear" or "mlp\[:UNITS\]\[,dropout=P\]".*got "mlp:x"/],
      [['train', HYM, '--head', 'mlp:64,dropout=1.5'], /dropout must be in \[0, 1\)/],
      [['train', HYM, '--seed', '-1'], /--seed must be a non-negative integer, got "-1"/],
      [['train', HYM, '--class-weights', 'foo'], /--class-weights must be one of auto, balanced, none, got "foo"/],
      [['train', HYM, '--l2', '0'], /--l2 must be a positive number/],
      [['train', join(tmp, 'no-such-data')], /^error: dataset not found: .*no-such-data$/],
      [['eval', join(tmp, 'no-bundle'), HYM], /not a classifier bundle/],
      [['predict', join(tmp, 'no-bundle'), join(tmp, 'nope.jpg')], /no such file or folder: .*nope\.jpg/],
    ];
    // Independent refusals: run at once (each is a CLI start-up), checked in order.
    const results = await Promise.all(cases.map(([args]) => tl(args)));
    cases.forEach(([, pattern], i) => assertCleanError(results[i], pattern));
  });

  test('a single-class folder is refused: a classifier needs at least two classes', async () => {
    const one = join(tmp, 'one-class');
    await mkdir(join(one, 'ants'), { recursive: true });
    for (const f of (await filesIn(join(HYM, 'train/ants'))).slice(0, 5))
      await symlink(f, join(one, 'ants', f.split('/').at(-1)!));
    const r = await tl(['train', one, '--out', join(tmp, 'one-out')]);
    assertCleanError(r, /only one class \("ants"\).*at least two/);
    assert.match(r.stderr, /^hint: /m);
    assert.ok(!existsSync(join(tmp, 'one-out')), 'no bundle written');
  });
});
