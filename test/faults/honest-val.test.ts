// Issue 13 part 1: no decision reads the reported val split. The same training images are trained three times, with
// (A) the true val split, (B) the same val images with their labels permuted, (C) other val images altogether. Every
// trained thing — weights.bin (head, fine-tuned tail, unknown references), the L2 strength, the best epoch, the unknown
// threshold — must be byte-identical across them, for rung 1 (linear and MLP head) and a short rung-2 run; only the
// reported metrics may differ, and they are computed with the val labels as given.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readFile, readdir, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { env } from '../../src/util/env.js';
import { trainClassifier, type TrainOptions, type TrainResult } from '../../src/training/train.js';
import { innerSplit } from '../../src/classifier/inner-split.js';
import { cleanup, DATASETS_DIR, linkSubset, runCli, tempDir } from '../helpers.js';

const HYM = join(DATASETS_DIR, 'hymenoptera_data');
const TRAIN_PER_CLASS = 24;
const VAL_PER_CLASS = 12;

let cacheDir: string;
let root: string;
const data = { truth: '', permuted: '', other: '' };

/** Val images [from, from + n) of each class, each linked into the folder of `labelOf(class, index)`. */
async function linkVal(dest: string, from: number, labelOf: (cls: string, i: number) => string): Promise<void> {
  for (const cls of ['ants', 'bees']) {
    const files = (await readdir(join(HYM, 'val', cls))).sort().slice(from, from + VAL_PER_CLASS);
    for (const [i, f] of files.entries()) {
      const dir = join(dest, 'val', labelOf(cls, i));
      await mkdir(dir, { recursive: true });
      await symlink(join(HYM, 'val', cls, f), join(dir, `${cls}-${f}`));
    }
  }
}

before(async () => {
  cacheDir = await tempDir('tl-honest-cache-');
  env.cacheDir = cacheDir;
  root = await tempDir('tl-honest-data-');
  for (const k of Object.keys(data) as (keyof typeof data)[]) {
    data[k] = join(root, k);
    await linkSubset(join(HYM, 'train'), join(data[k], 'train'), TRAIN_PER_CLASS);
  }
  const other = (cls: string) => (cls === 'ants' ? 'bees' : 'ants');
  await linkVal(data.truth, 0, (cls) => cls);
  // Every other image's label swapped: half of each class now carries the wrong label.
  await linkVal(data.permuted, 0, (cls, i) => (i % 2 ? other(cls) : cls));
  await linkVal(data.other, VAL_PER_CLASS, (cls) => cls);
});
after(() => cleanup(cacheDir, root));

interface Trained {
  r: TrainResult;
  weights: Buffer;
  threshold: number;
}

async function train(dir: string, opts: TrainOptions): Promise<Trained> {
  const r = await trainClassifier(dir, { seed: 3, ...opts });
  const out = join(root, `bundle-${Math.random().toString(36).slice(2)}`);
  await r.classifier.save(out);
  await r.classifier.dispose();
  const manifest = JSON.parse(await readFile(join(out, 'classifier.json'), 'utf8'));
  return { r, weights: await readFile(join(out, 'weights.bin')), threshold: manifest.unknown.threshold };
}

function assertSameTraining(a: Trained, b: Trained, what: string): void {
  assert.ok(
    a.weights.equals(b.weights),
    `${what}: weights.bin differs (${a.weights.length} vs ${b.weights.length} bytes)`,
  );
  assert.equal(b.r.config.l2, a.r.config.l2, `${what}: L2`);
  assert.equal(b.threshold, a.threshold, `${what}: unknown threshold`);
  const epoch = (t: Trained) => ('bestEpoch' in t.r.config ? t.r.config.bestEpoch : undefined);
  assert.equal(epoch(b), epoch(a), `${what}: best epoch`);
  assert.deepEqual(
    b.r.history.map((p) => [p.trainLoss, p.innerValAcc]),
    a.r.history.map((p) => [p.trainLoss, p.innerValAcc]),
    `${what}: training curve`,
  );
}

describe('no decision reads the val split', () => {
  test('inner split: stratified, seeded, from the training labels only', () => {
    const labels = Int32Array.from({ length: 100 }, (_, i) => (i < 60 ? 0 : i < 97 ? 1 : 2));
    const s = innerSplit(labels, 3, 1);
    assert.deepEqual(innerSplit(labels, 3, 1), s, 'same seed, same split');
    assert.notDeepEqual(innerSplit(labels, 3, 2).check, s.check, 'another seed, another split');
    const held = (c: number) => s.check.filter((i) => labels[i] === c).length;
    assert.deepEqual([held(0), held(1), held(2)], [9, 6, 0], '15% of each class; a class of 3 keeps all its images');
    assert.deepEqual(
      [...s.fit, ...s.check].sort((a, b) => a - b),
      [...labels.keys()],
      'a partition of the rows',
    );
  });

  test('rung 1, linear head: same weights, L2 and unknown threshold whatever val holds', async () => {
    const a = await train(data.truth, { strategy: 'head' });
    const b = await train(data.permuted, { strategy: 'head' });
    const c = await train(data.other, { strategy: 'head' });
    assertSameTraining(a, b, 'val labels permuted');
    assertSameTraining(a, c, 'other val images');
    const s = a.r.config.splits;
    assert.equal(s.decisions.split, 'cv-on-train');
    assert.equal(s.reported.split, 'val');
    assert.equal(
      s.unknown.calibratedOn,
      'train, leave-one-out (mean cosine distance to the 5 nearest training features)',
    );
    assert.ok(
      s.unknown.flagRateOnVal !== undefined && s.unknown.flagRateOnVal <= 0.25,
      `flags ${s.unknown.flagRateOnVal} of val`,
    );
    // The report itself reads the labels as given: right ones score high, half-swapped ones near chance.
    assert.ok(a.r.metrics.accuracy >= 0.8, `true labels: ${a.r.metrics.accuracy}`);
    assert.ok(b.r.metrics.accuracy <= 0.7, `permuted labels: ${b.r.metrics.accuracy}`);
    assert.equal(s.reported.accuracy, a.r.metrics.accuracy);
  });

  test('rung 1, MLP head: early stopping on the inner split, not on val', async () => {
    const opts: TrainOptions = { strategy: 'head', head: { kind: 'mlp', hidden: 16, dropout: 0.2 }, epochs: 25 };
    const a = await train(data.truth, opts);
    const b = await train(data.permuted, opts);
    assertSameTraining(a, b, 'val labels permuted');
    const s = a.r.config.splits;
    assert.equal(s.decisions.split, 'inner-val');
    assert.equal(s.decisions.images, 8, '15% of 24 per class, rounded: 4 + 4');
    assert.ok(
      a.r.history.every((p) => p.valAcc === undefined && p.innerValAcc !== undefined),
      'the curve is on the inner split',
    );
  });

  test('rung 2, short partial run: same tail, head, best epoch and threshold whatever val holds', async () => {
    const opts: TrainOptions = { strategy: 'partial', trainLast: 1, epochs: 2, patience: 100, finetuneBatchSize: 16 };
    const a = await train(data.truth, opts);
    const b = await train(data.permuted, opts);
    assertSameTraining(a, b, 'val labels permuted');
    const cfg = a.r.config;
    assert.ok(cfg.strategy === 'partial');
    assert.equal(cfg.splits.decisions.split, 'inner-val');
    assert.equal(
      cfg.splits.decisions.accuracy,
      a.r.history[cfg.bestEpoch].innerValAcc,
      "the inner-val accuracy reported is the kept epoch's",
    );
    assert.equal(cfg.headOnlyInnerValAccuracy, a.r.history[0].innerValAcc);
    assert.notEqual(b.r.metrics.accuracy, a.r.metrics.accuracy, 'the reported accuracy reads the labels as given');
  });

  test('tl train --json, metrics.json and report.html say which split each number is on', async () => {
    const out = join(root, 'cli-bundle');
    const r = await runCli(['train', data.truth, '--strategy', 'head', '--out', out, '--json'], { cacheDir });
    assert.equal(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout);
    assert.equal(j.splits.reported.split, 'val');
    assert.equal(j.splits.reported.accuracy, j.accuracy);
    assert.equal(j.splits.decisions.split, 'cv-on-train');
    assert.ok(Array.isArray(j.history) && j.history.length > 0, 'the curve is in --json');
    assert.match(
      r.stderr,
      /accuracy by split: CV on train \d+\.\d% \(48 images; chose the L2 strength and the probability temperature\), val \d+\.\d% \(24 images; read once, for this report\)/,
    );
    assert.match(
      r.stderr,
      /unknown flag: threshold from train, leave-one-out \(mean cosine distance to the 5 nearest training features\); flags \d+\.\d% of val/,
    );
    const metrics = JSON.parse(await readFile(join(out, 'metrics.json'), 'utf8'));
    assert.equal(metrics.splits.reported.split, 'val');
    const html = await readFile(join(out, 'report.html'), 'utf8');
    assert.match(
      html,
      /The accuracy above is on the <strong>val<\/strong> split \(24 images\), read once after training/,
    );
  });
});
