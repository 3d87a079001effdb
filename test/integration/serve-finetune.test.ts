// Issue 25: the ladder through the HTTP API. A rung-2 (partial) and a rung-3 (full) job train on a project, their
// results and 'done' events name their rung and backbone, they export (ONNX and TF.js, with the agreement check), and
// a rung-2 job whose server is SIGKILLed mid-epoch resumes after the restart from its last finished epoch, under the
// same job id, and ends done. The server is the built CLI's `tl serve` in a child process (so it can be killed);
// mobilenet-v1-0.25 (TF.js), 10 photos per class.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { startServeChild, stopChild } from '../../src/serve/load-check.js';
import { cleanup, DATASETS_DIR, filesIn, MODELS_DIR, sleep, tempDir } from '../helpers.js';

const HYM = join(DATASETS_DIR, 'hymenoptera_data');
const MODEL = 'mobilenet-v1-0.25';
const P = '/v1/projects/ft';

let work: string;
let child: ChildProcess | undefined;
let url: string;

const start = async () => {
  const s = await startServeChild(['--projects', join(work, 'projects')], {
    ...process.env,
    TL_MODELS_DIR: MODELS_DIR,
    TL_OFFLINE: '1',
    TL_CACHE_DIR: join(work, 'cache'),
  });
  child = s.child;
  url = s.url;
};

async function call(path: string, init: RequestInit = {}) {
  const res = await fetch(`${url}${path}`, init);
  const text = await res.text();
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, text, json };
}
const postJson = (path: string, body: unknown) =>
  call(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

/** The project's job.json goes once the job has ended (just after its 'end' event). */
async function noPendingJob(): Promise<void> {
  const path = join(work, 'projects', 'ft', 'job.json');
  for (let i = 0; i < 100 && existsSync(path); i++) await sleep(20);
  assert.ok(!existsSync(path), 'job.json removed once the job ended');
}

/** The last finished epoch of the checkpoint in the cache (its JSON header), or 0. */
async function checkpointEpoch(): Promise<number> {
  const root = join(work, 'cache', 'finetune-checkpoints');
  if (!existsSync(root)) return 0;
  let best = 0;
  for (const key of readdirSync(root)) {
    try {
      const head = (await readFile(join(root, key, 'state.bin'))).toString('latin1', 0, 4096);
      best = Math.max(best, Number(/"epoch":(\d+)/.exec(head)?.[1] ?? 0));
    } catch {
      // being renamed into place
    }
  }
  return best;
}

/** Every event of a job until it ends (SSE). */
async function events(jobId: string): Promise<{ event: string; data: any }[]> {
  const res = await fetch(`${url}/v1/jobs/${jobId}/events`);
  const text = await res.text();
  return text
    .split('\n\n')
    .filter((b) => b.includes('event: '))
    .map((b) => ({
      event: /event: (.*)/.exec(b)![1],
      data: JSON.parse(/data: (.*)/.exec(b)![1]),
    }));
}

before(async () => {
  work = await tempDir('tl-serve-ft-');
  await start();
  assert.equal((await postJson('/v1/projects', { name: 'ft', classes: ['ants', 'bees'] })).status, 201);
  for (const cls of ['ants', 'bees']) {
    const form = new FormData();
    for (const f of (await filesIn(join(HYM, 'train', cls))).slice(0, 10))
      form.append('file', new Blob([await readFile(f)], { type: 'image/jpeg' }), f.split('/').pop());
    const r = await call(`${P}/classes/${cls}/images`, { method: 'POST', body: form });
    assert.equal(r.status, 201, r.text);
  }
});

after(async () => {
  if (child) await stopChild(child);
  await cleanup(work);
});

describe('fine-tuning jobs through the HTTP API', () => {
  test('rung 2 (partial): trains, reports its rung and backbone, exports as ONNX with the agreement check', async () => {
    const t = await postJson(`${P}/train`, {
      strategy: 'partial',
      model: MODEL,
      trainLast: 1,
      epochs: 2,
      finetuneBatchSize: 8,
      seed: 0,
    });
    assert.equal(t.status, 202, t.text);
    const ev = await events(t.json.job.id);
    const names = ev.map((e) => e.event);
    for (const n of ['finetune-setup', 'finetune-step', 'finetune-epoch', 'saving', 'done'])
      assert.ok(names.includes(n), n);
    // The epoch's measured rate, for the page's ETA (null only before an epoch's second step of the first epoch).
    const rates = ev.filter((e) => e.event === 'finetune-step').map((e) => e.data.imagesPerSecond);
    assert.ok(
      rates.some((x) => typeof x === 'number' && x > 0),
      JSON.stringify(rates),
    );
    assert.ok(names.indexOf('saving') < names.indexOf('done'), 'saving before done');
    const done = ev.find((e) => e.event === 'done')!.data;
    assert.equal(done.rung, 'partial');
    assert.equal(done.backbone, MODEL);
    assert.equal(ev.at(-1)!.data.state, 'done');
    const r = await call(`${P}/results`);
    assert.equal(r.json.rung, 'partial');
    assert.equal(r.json.backbone, MODEL);
    assert.equal(r.json.splits.reported.split, 'val');
    assert.ok(r.json.timings.totalSeconds > 0);
    // The request is no longer pending once the job has ended.
    await noPendingJob();

    const e = await postJson(`${P}/bundles/latest/exports`, { format: 'onnx' });
    assert.equal(e.status, 201, e.text);
    assert.equal(e.json.format, 'onnx');
    assert.equal(e.json.metadata.source.tail.kind.length > 0, true, 'a fine-tuned export carries its trained blocks');
    assert.ok(e.json.check.images >= 2, JSON.stringify(e.json.check));
    assert.ok(e.json.check.top1Agreement >= 0.99, JSON.stringify(e.json.check));
    assert.doesNotMatch(JSON.stringify(e.json), new RegExp(work.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
    assert.match(e.json.snippets.browser, /onnxruntime-web/);
    assert.match(e.json.snippets.node, /onnxruntime-node/);
    const model = await fetch(`${url}${e.json.filesUrl}model.onnx`);
    assert.equal(model.status, 200);
    assert.ok((await model.arrayBuffer()).byteLength > 100_000);
    const tar = await fetch(`${url}${e.json.downloadUrl}`);
    assert.equal(tar.status, 200);
    assert.equal((await tar.arrayBuffer()).byteLength % 512, 0);
    const list = await call(`${P}/bundles/latest/exports`);
    assert.deepEqual(
      list.json.exports.map((x: any) => x.format),
      ['onnx'],
    );
    const bad = await postJson(`${P}/bundles/latest/exports`, { format: 'keras' });
    assert.equal(bad.status, 400);
    assert.match(bad.json.error.message, /export format must be one of onnx, tfjs, got "keras"/);
    assert.equal((await call(`${P}/bundles/latest/exports/tfjs/download`)).status, 404);
  });

  test('rung 3 (full, 96 px, 1 epoch): trains, reports its rung, exports as TF.js', async () => {
    const t = await postJson(`${P}/train`, {
      strategy: 'full',
      model: MODEL,
      size: 96,
      epochs: 1,
      finetuneBatchSize: 8,
      seed: 0,
    });
    assert.equal(t.status, 202, t.text);
    const ev = await events(t.json.job.id);
    const done = ev.find((e) => e.event === 'done');
    assert.ok(done, JSON.stringify(ev.at(-1)));
    assert.equal(done.data.rung, 'full');
    assert.equal((await call(`${P}/results`)).json.rung, 'full');
    const e = await postJson(`${P}/bundles/latest/exports`, { format: 'tfjs' });
    assert.equal(e.status, 201, e.text);
    assert.ok(e.json.check.top1Agreement >= 0.99, JSON.stringify(e.json.check));
    assert.match(e.json.snippets.browser, /tf\.loadLayersModel/);
  });

  test('a rung-2 job whose server is SIGKILLed mid-epoch resumes after the restart and ends done', async () => {
    const t = await postJson(`${P}/train`, {
      strategy: 'partial',
      model: MODEL,
      trainLast: 1,
      epochs: 40, // an epoch of 14 photos takes ~0.2 s: enough of them to kill the server mid-run
      patience: 100,
      finetuneBatchSize: 4,
      seed: 5,
    });
    assert.equal(t.status, 202, t.text);
    const id = t.json.job.id;
    assert.ok(existsSync(join(work, 'projects', 'ft', 'job.json')), 'the request is kept while the job runs');
    // Wait for the checkpoint of epoch 2 (an epoch takes ~0.1 s: the API's events come too late to aim at), then kill.
    for (let i = 0; i < 3000 && (await checkpointEpoch()) < 2; i++) await sleep(10);
    assert.ok((await checkpointEpoch()) >= 2, 'a checkpoint was written');
    assert.equal((await call(`/v1/jobs/${id}`)).json.state, 'running');
    child!.kill('SIGKILL');
    await new Promise((r) => child!.once('exit', r));
    child = undefined;
    await start();
    const resumed = await call(`/v1/jobs/${id}`);
    assert.equal(resumed.status, 200, 'the job is back under its own id');
    const ev = await events(id);
    const names = ev.map((e) => e.event);
    assert.equal(names[0], 'resumed');
    const from = ev.find((e) => e.event === 'finetune-resume');
    assert.ok(from, `a finetune-resume event in ${names.join(',')}`);
    assert.ok(from.data.epoch >= 2 && from.data.epoch < 40, JSON.stringify(from.data));
    const epochs = ev.filter((e) => e.event === 'finetune-epoch').map((e) => e.data.epoch);
    assert.ok(
      epochs.every((n: number) => n > from.data.epoch),
      `epochs ${epochs} after ${from.data.epoch}`,
    );
    assert.equal(ev.at(-1)!.data.state, 'done', JSON.stringify(ev.at(-1)));
    assert.equal(ev.find((e) => e.event === 'done')!.data.rung, 'partial');
    await noPendingJob();
  });
});
