// `tl train --json` says which rung ran and why (auto's reason and every rung's estimate), the estimated and actual
// seconds of each stage, and the per-epoch history; a tiny real run on 8 photos per class.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { DATASETS_DIR, cleanup, linkSubset, runCli, tempDir } from '../helpers.ts';

const dirs: string[] = [];
after(() => cleanup(...dirs));

async function tinySet(perClass: number): Promise<string> {
  const dir = await tempDir('tl-plan-json-');
  dirs.push(dir);
  const src = join(DATASETS_DIR, 'hymenoptera_data');
  await linkSubset(join(src, 'train'), join(dir, 'data/train'), perClass);
  await linkSubset(join(src, 'val'), join(dir, 'data/val'), 4);
  return dir;
}

interface StageJson {
  stage: string;
  estimatedSeconds?: number;
  actualSeconds: number;
}

test('auto --json: rung, reason, estimates and stage times (estimated and actual), history', async () => {
  const dir = await tinySet(8);
  const r = await runCli(['train', join(dir, 'data'), '--json', '-o', join(dir, 'out')], {
    cacheDir: join(dir, 'cache'),
    timeoutMs: 240_000,
  });
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.equal(j.rung, 'head');
  assert.equal(j.auto.choice, 'head');
  assert.match(j.auto.reason, /^8 images\/class: head \(~\d+ s\); no rung is expected to gain/);
  assert.deepEqual(
    j.auto.estimates.map((e: { rung: string }) => e.rung),
    ['head', 'partial', 'full'],
  );
  const stages: StageJson[] = j.stages.stages;
  assert.deepEqual(
    stages.map((s) => s.stage),
    ['plan', 'extract', 'head-fit'],
  );
  for (const s of stages) assert.ok(s.actualSeconds >= 0, JSON.stringify(s));
  // A cold cache: 24 images were extracted, and the plan knew none was cached.
  const extract = stages.find((s) => s.stage === 'extract')!;
  assert.ok(extract.actualSeconds > 0 && extract.estimatedSeconds! > 0, JSON.stringify(extract));
  assert.match(j.auto.estimates[0].stages[0].detail, /^24 of 24 images not cached/);
  assert.equal(j.stages.estimatedTotalSeconds, j.auto.estimates[0].seconds);
  const sum = stages.filter((s) => s.stage !== 'plan').reduce((a, s) => a + s.actualSeconds, 0);
  assert.ok(Math.abs(sum - j.stages.actualTotalSeconds) < 0.5, `${sum} vs ${j.stages.actualTotalSeconds}`);
  assert.ok(Array.isArray(j.history) && j.history.length > 1);
});

test('partial --json: epochs as a stage, seconds of each epoch, one history point per epoch', async () => {
  const dir = await tinySet(8);
  const r = await runCli(
    ['train', join(dir, 'data'), '--strategy', 'partial', '--epochs', '2', '--json', '-o', join(dir, 'out')],
    { cacheDir: join(dir, 'cache'), timeoutMs: 240_000 },
  );
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.equal(j.rung, 'partial');
  assert.equal(j.auto, undefined, 'no plan when the rung was asked for');
  assert.deepEqual(
    j.stages.stages.map((s: StageJson) => s.stage),
    ['extract', 'head-fit', 'epochs', 'final'],
  );
  assert.equal(j.stages.epochSeconds.length, 2);
  const epochs = j.stages.stages.find((s: StageJson) => s.stage === 'epochs');
  assert.ok(Math.abs(epochs.actualSeconds - j.stages.epochSeconds[0] - j.stages.epochSeconds[1]) < 1e-9);
  assert.deepEqual(
    j.history.map((p: { step: number }) => p.step),
    [0, 1, 2],
  );
});
