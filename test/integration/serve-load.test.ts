// The micro-batched load (first test) and the server's responsiveness while a job trains (second test).
// A 3-second version of the load check (bench/serve-load.ts runs 20 s): 32 concurrent clients posting real JPEGs to
// the built CLI's `tl serve` on loopback; no errors, no non-2xx, batches form, RSS is reported.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { env } from '../../src/util/env.js';
import { trainClassifier } from '../../src/training/train.js';
import { readFile } from 'node:fs/promises';
import { runLoad, runTrainingLoad, startServeChild, stopChild } from '../../src/serve/load-check.js';
import { cleanup, DATASETS_DIR, filesIn, linkSubset, MODELS_DIR, tempDir } from '../helpers.js';

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

// Issue 25 item 5: with a TF.js backbone, training ran on the server's event loop (/v1/health p99 1.6 s while 240
// photos were embedded). Training runs in a child process now: health stays under 100 ms p99 and a predict request
// within twice its idle p99 while a job embeds ~240 photos with mobilenet-v1-0.25 (TF.js), features not cached.
test('while a job embeds 240 photos with a TF.js backbone: health p99 < 100 ms, predict p99 within 2x idle', async (t) => {
  const model = 'mobilenet-v1-0.25';
  const cacheDir = join(work, 'cache-tfjs');
  env.cacheDir = cacheDir;
  await linkSubset(join(HYM, 'val'), join(work, 'serve-subset'), 8);
  const r = await trainClassifier(join(work, 'serve-subset'), { seed: 0, strategy: 'head', model });
  await r.classifier.save(join(work, 'tfjs-bundle'));
  await r.classifier.dispose();
  const started = await startServeChild(
    ['--bundle', join(work, 'tfjs-bundle'), '--name', 'tfjs', '--projects', join(work, 'projects-tfjs')],
    { ...process.env, TL_MODELS_DIR: MODELS_DIR, TL_OFFLINE: '1', TL_CACHE_DIR: cacheDir },
  );
  child = started.child;
  const post = (path: string, init: RequestInit) => fetch(`${started.url}${path}`, init);
  const created = await post('/v1/projects', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'busy', classes: ['ants', 'bees'] }),
  });
  assert.equal(created.status, 201, await created.text());
  let photos = 0;
  for (const cls of ['ants', 'bees']) {
    const files = (await filesIn(join(HYM, 'train', cls))).slice(0, 120);
    for (let i = 0; i < files.length; i += 40) {
      const form = new FormData();
      for (const f of files.slice(i, i + 40))
        form.append('file', new Blob([await readFile(f)], { type: 'image/jpeg' }), f.split('/').pop());
      const up = await post(`/v1/projects/busy/classes/${cls}/images`, { method: 'POST', body: form });
      const text = await up.text();
      assert.equal(up.status, 201, text);
      photos += (JSON.parse(text) as { added: unknown[] }).added.length;
    }
  }
  assert.ok(photos >= 230, `${photos} photos uploaded`);
  const report = await runTrainingLoad({
    url: started.url,
    model: 'tfjs',
    image: (await filesIn(join(HYM, 'val', 'bees')))[20],
    project: 'busy',
    trainBody: { seed: 0, strategy: 'head', model },
    idleSeconds: 8,
  });
  t.diagnostic(JSON.stringify(report));
  assert.equal(report.jobState, 'done');
  assert.equal(report.failures, 0);
  assert.ok(report.training.health.count >= 20, `${report.training.health.count} health requests while training`);
  // The target is 100 ms. On a machine so loaded that the idle server's own p99 is over 50 ms (other processes hold
  // the cores), the limit is twice that: training on the event loop still fails it (main at 54f13ee:
  // 966 ms while training against 52 ms idle).
  const healthLimit = Math.max(100, 2 * report.idle.health.p99);
  assert.ok(
    report.training.health.p99 < healthLimit,
    `health p99 ${report.training.health.p99} ms while training (limit ${healthLimit} ms; idle p99 ${report.idle.health.p99} ms)`,
  );
  assert.ok(
    report.training.predict.p99 <= 2 * report.idle.predict.p99,
    `predict p99 ${report.training.predict.p99} ms while training, ${report.idle.predict.p99} ms idle`,
  );
  assert.equal(await stopChild(child), 0);
  child = undefined;
});
