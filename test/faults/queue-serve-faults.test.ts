// Issue 26: `tl serve --queue` when Redis goes away mid-run. The job waiting on the queue fails with one clear line
// (after lostAfterMs, 1.5 s here, 30 s by default), the server keeps answering, a job started while Redis is away
// fails at once the same way, and once Redis is back new jobs go to the queue again. A real redis-server; the server
// in this process (startServer with `queue`), no worker (the job never leaves the queue).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startServer, type TlServer } from '../../src/serve/server.js';
import { cleanup, DATASETS_DIR, filesIn, sleep, tempDir } from '../helpers.js';
import { TrainQueue } from '../../src/queue/train-queue.js';
import { TRAIN_JOB_VERSION } from '../../src/queue/train-jobs.js';
import { RedisServer, WorkerProcess } from './queue-fixtures.js';

const HYM = join(DATASETS_DIR, 'hymenoptera_data');

let work: string;
let redis: RedisServer;
let server: TlServer;

before(async () => {
  work = await tempDir('tl-queue-serve-faults-');
  redis = await RedisServer.start(work);
  server = await startServer({
    port: 0,
    projectsDir: join(work, 'projects'),
    webDir: null,
    queue: { url: redis.url, lostAfterMs: 1500 },
  });
  const create = await fetch(`${server.url}/v1/projects`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'q', classes: ['ants', 'bees'] }),
  });
  assert.equal(create.status, 201);
  for (const cls of ['ants', 'bees']) {
    const form = new FormData();
    for (const f of (await filesIn(join(HYM, 'train', cls))).slice(0, 3))
      form.append('file', new Blob([await readFile(f)], { type: 'image/jpeg' }), f.split('/').pop());
    const up = await fetch(`${server.url}/v1/projects/q/classes/${cls}/images`, { method: 'POST', body: form });
    assert.equal(up.status, 201);
  }
});

after(async () => {
  await WorkerProcess.killAll();
  await server?.close();
  await redis?.stop();
  await cleanup(work);
});

const train = () =>
  fetch(`${server.url}/v1/projects/q/train`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ strategy: 'head', seed: 1 }),
  }).then(async (r) => ({ status: r.status, json: (await r.json()) as any }));

async function ended(id: string, ms = 20_000): Promise<any> {
  const end = Date.now() + ms;
  for (;;) {
    const job = (await (await fetch(`${server.url}/v1/jobs/${id}`)).json()) as any;
    if (!['running', 'cancelling'].includes(job.state) || Date.now() > end) return job;
    await sleep(100);
  }
}

test('a worker that cannot see the projects folder refuses the job: it fails with that reason, not retried', async () => {
  const worker = await WorkerProcess.start(redis.url, { cacheDir: join(work, 'cache') });
  const q = await TrainQueue.connect(redis.url);
  try {
    const ac = new AbortController();
    const missing = join(work, 'not-shared');
    const end = await q.run(
      'ffffffffffffffff',
      { v: TRAIN_JOB_VERSION, projectsDir: missing, project: 'q', request: {} },
      { onMessage: () => assert.fail('no training ran'), cancel: ac.signal },
    );
    assert.notEqual(end, 'detached');
    if (end === 'detached') return;
    assert.equal(end.state, 'failed');
    assert.equal(end.queueFailure, true);
    assert.match(
      end.error!,
      new RegExp(
        `^training failed on the queue: worker [^ ]+:${worker.child.pid} refused it: cannot see the project folder ${join(missing, 'q')} here \\(workers that train for tl serve --queue must see the server's projects folder at the same path\\)$`,
      ),
    );
    const out = await worker.stop();
    assert.match(out.stderr, /refused training job train-ffffffffffffffff: cannot see the project folder/);
    assert.match(out.stderr, /0 training jobs run/);
  } finally {
    await q.close();
  }
});

test('Redis lost mid-run: the job fails with one line, the server stays up, and takes queue jobs again later', async () => {
  const t = await train();
  assert.equal(t.status, 202);
  await sleep(300);
  assert.equal(((await fetch(`${server.url}/v1/jobs/${t.json.job.id}`).then((r) => r.json())) as any).state, 'running');
  await redis.stop('SIGKILL');
  const lost = await ended(t.json.job.id);
  assert.equal(lost.state, 'failed');
  assert.match(
    lost.error,
    /^lost the queue at redis:\/\/127\.0\.0\.1:\d+: Redis has not answered for 2 s \(start Redis again/,
  );
  assert.doesNotMatch(lost.error, /\n/);
  assert.equal(lost.lastEvents.failed.message, lost.error);
  assert.equal((await fetch(`${server.url}/v1/health`)).status, 200, 'the server still answers');
  // A job started while Redis is still away fails at once, the same way.
  const meanwhile = await train();
  assert.equal(meanwhile.status, 202);
  assert.match((await ended(meanwhile.json.job.id, 5000)).error, /^lost the queue at/);
  // Redis back (its AOF holds the first job, still waiting): a new job goes to the queue and waits for a worker.
  await redis.startProcess();
  // The watchdog sees Redis answer again once its client reconnects: ioredis backs off up to 2 s between tries, and
  // the watchdog looks every 0.5 s, so a fixed wait failed on a loaded machine. Until then a job fails at once, as
  // above; the first job that does not is waiting on the queue again.
  let again: Awaited<ReturnType<typeof train>>;
  for (const until = Date.now() + 15_000; ; await sleep(500)) {
    again = await train();
    assert.equal(again.status, 202);
    await sleep(1000);
    const state = (await ended(again.json.job.id, 0)).state;
    if (state !== 'failed' || Date.now() > until) break;
  }
  await sleep(2500);
  assert.equal((await ended(again.json.job.id, 0)).state, 'running', 'waiting on the queue again, not failed');
});
