// Rung 1 streamed (training/head-streamed.ts: float16 spill file, chunked passes) against rung 1 in memory, through
// trainClassifier on real cached MobileNetV2 features: the same val accuracy within 0.2 points and the same or an
// adjacent L2. Three of the seven shared sets here (the suite's time); `npm run bench:head-train -- --compare-sets`
// runs all seven (eurosat there also exercises the L2 search on a sample: 4000 of its 5000 rows).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { spillParent } from '../../src/features/spill-file.js';
import { env } from '../../src/util/env.js';
import { trainClassifier, type TrainResult } from '../../src/training/train.js';
import { DEFAULT_L2_GRID } from '../../src/solvers/select-l2.js';
import { DATASETS_DIR } from '../helpers.js';

const SETS = ['hymenoptera_data', 'cats_and_dogs_filtered', 'imagewoof'];

async function train(set: string, memoryMB: number | undefined): Promise<TrainResult> {
  env.headMemoryMB = memoryMB;
  try {
    return await trainClassifier(join(DATASETS_DIR, set), { strategy: 'head', model: 'mobilenet-v2', seed: 0 });
  } finally {
    env.headMemoryMB = undefined;
  }
}

const spills = () =>
  existsSync(spillParent()) ? readdirSync(spillParent()).filter((f) => f.startsWith('tl-head-spill-')) : [];
const gridStep = (a: number, b: number) =>
  Math.abs(
    DEFAULT_L2_GRID.findIndex((v) => Math.abs(v - a) < 1e-9 * v) -
      DEFAULT_L2_GRID.findIndex((v) => Math.abs(v - b) < 1e-9 * v),
  );

for (const set of SETS) {
  test(`${set}: streamed head = in-memory head (val accuracy within 0.2 points, L2 same or adjacent)`, async () => {
    const before = spills();
    const memory = await train(set, undefined);
    const streamed = await train(set, 0);
    const [m, s] = [memory.classifier.data.head, streamed.classifier.data.head];
    // The streamed run read float16 rows: its standardizer differs in the 4th digit, so it really took that path.
    assert.notDeepEqual(s.mean, m.mean, 'the streamed run read the spill file');
    for (let j = 0; j < m.mean.length; j++)
      assert.ok(Math.abs(s.mean[j] - m.mean[j]) <= 2e-3 * Math.max(1, Math.abs(m.mean[j])), `mean ${j}`);
    const gap = Math.abs(streamed.metrics.accuracy - memory.metrics.accuracy);
    assert.ok(
      gap <= 0.002 + 1e-9,
      `${set}: val accuracy ${memory.metrics.accuracy} in memory, ${streamed.metrics.accuracy} streamed`,
    );
    const l2m = 'l2' in memory.config ? memory.config.l2 : NaN;
    const l2s = 'l2' in streamed.config ? streamed.config.l2 : NaN;
    assert.ok(gridStep(l2m, l2s) <= 1, `${set}: L2 ${l2m} in memory, ${l2s} streamed`);
    assert.deepEqual(spills(), before, 'the spill file is removed after the fit');
    await memory.classifier.dispose();
    await streamed.classifier.dispose();
  });
}
