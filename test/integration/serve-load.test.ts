// A 3-second version of the load check (bench/serve-load.ts runs 20 s): 32 concurrent clients posting real JPEGs to
// the built CLI's `tl serve` on loopback; no errors, no non-2xx, batches form, RSS is reported.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { env } from '../../src/util/env.js';
import { trainClassifier } from '../../src/training/train.js';
import { runLoad, startServeChild, stopChild } from '../../src/serve/load-check.js';
import { cleanup, DATASETS_DIR, linkSubset, MODELS_DIR, tempDir } from '../helpers.js';

const HYM = join(DATASETS_DIR, 'hymenoptera_data');
let work: string;
let child: ChildProcess | undefined;

before(async () => {
  work = await tempDir('tl-serve-load-');
  env.cacheDir = join(work, 'cache');
  env.modelsDir = MODELS_DIR;
  env.allowDownloads = false;
});

after(async () => {
  if (child) await stopChild(child);
  await cleanup(work);
});

test('32 clients for 3 s: every request answered 2xx, micro-batched', async (t) => {
  await linkSubset(join(HYM, 'train'), join(work, 'subset'), 15);
  const r = await trainClassifier(join(work, 'subset'), { seed: 0, strategy: 'head' }); // no auto plan: a setup
  await r.classifier.save(join(work, 'bundle'));
  await r.classifier.dispose();
  const started = await startServeChild(
    ['--bundle', join(work, 'bundle'), '--name', 'load', '--projects', join(work, 'projects')],
    {
      ...process.env,
      TL_MODELS_DIR: MODELS_DIR,
      TL_OFFLINE: '1',
      TL_CACHE_DIR: env.cacheDir,
    },
  );
  child = started.child;
  const images = (
    await Promise.all(
      ['ants', 'bees'].map(async (c) =>
        (await readdir(join(HYM, 'val', c)))
          .sort()
          .slice(0, 4)
          .map((f) => join(HYM, 'val', c, f)),
      ),
    )
  ).flat();
  const report = await runLoad({
    url: started.url,
    model: 'load',
    images,
    connections: 32,
    durationSeconds: 3,
    serverPid: child.pid,
  });
  t.diagnostic(JSON.stringify(report));
  assert.ok(report.requests > 20, `${report.requests} requests`);
  assert.equal(report.errors, 0);
  assert.equal(report.non2xx, 0);
  assert.equal(report.timeouts, 0);
  assert.ok(report.batches && report.batches.meanBatch > 1, `mean batch ${report.batches?.meanBatch}`);
  assert.equal(await stopChild(child), 0);
  child = undefined;
});
