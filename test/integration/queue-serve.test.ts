// Issue 26: `tl serve --queue URL` puts training jobs on the BullMQ queue, and `tl worker`s run them. A real
// redis-server, the built CLI's `tl serve --queue` and real `tl worker` processes, all sharing one projects folder and
// cache (the deployment docs/scale-out.md asks for); a project of 2 x 12 hymenoptera photos. The page's event stream
// (SSE) is the same as without a queue, the server never starts a training process of its own, a worker SIGKILLed
// mid-fine-tuning hands the job to the other worker (which resumes from the shared checkpoint), cancel works on a
// running and on a waiting job, and an unreachable Redis is one clear line at start.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { cp, mkdir, readFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import {
  assertCleanError,
  cleanup,
  collect,
  DATASETS_DIR,
  filesIn,
  runCli,
  sleep,
  spawnCli,
  tempDir,
  type CliResult,
} from '../helpers.js';
import { freePort, RedisServer, WorkerProcess } from '../faults/queue-fixtures.js';
import { env } from '../../src/util/env.js';
import { startServer } from '../../src/serve/server.js';

const HYM = join(DATASETS_DIR, 'hymenoptera_data');
const MODEL = 'mobilenet-v1-0.25';
const P = '/v1/projects/q';

let work: string;
let redis: RedisServer;
let server: ChildProcess;
let serverDone: Promise<CliResult>;
let serverLog = '';
let url: string;
const workers: WorkerProcess[] = [];

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

type Ev = { id: number; event: string; data: any };

/** Follow a job's SSE stream; `onEvent` sees each event as it arrives; resolves with all of them at its end. */
async function follow(jobId: string, onEvent: (e: Ev) => void = () => {}): Promise<Ev[]> {
  const res = await fetch(`${url}/v1/jobs/${jobId}/events`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/);
  const out: Ev[] = [];
  let buf = '';
  const decoder = new TextDecoder();
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    buf += decoder.decode(chunk, { stream: true });
    let i;
    while ((i = buf.indexOf('\n\n')) >= 0) {
      const block = buf.slice(0, i);
      buf = buf.slice(i + 2);
      const id = /^id: (\d+)$/m.exec(block);
      const event = /^event: (.*)$/m.exec(block);
      const data = /^data: (.*)$/m.exec(block);
      if (!id || !event || !data) continue;
      const e = { id: Number(id[1]), event: event[1], data: JSON.parse(data[1]) };
      out.push(e);
      onEvent(e);
    }
  }
  return out;
}

/** User + system CPU milliseconds a process has used (Linux /proc, 100 ticks a second). */
function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/** Command lines of the processes whose parent is `pid`. */
function childrenOf(pid: number): string[] {
  const out: string[] = [];
  for (const p of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const ppid = Number(readFileSync(`/proc/${p}/stat`, 'utf8').split(') ')[1].split(' ')[1]);
      if (ppid === pid) out.push(readFileSync(`/proc/${p}/cmdline`, 'utf8').replace(/\0/g, ' '));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** A stream's shape: its event names (a repeated throttled event counted once) and each event's field names. */
function shape(ev: Ev[]): { names: string[]; fields: Record<string, string[]> } {
  const names = ev.map((e) => e.event).filter((n, i, all) => n !== all[i - 1]);
  const fields = Object.fromEntries(ev.map((e) => [e.event, Object.keys(e.data ?? {}).sort()]));
  return { names, fields };
}

/** The events of a job trained by a server without a queue, on a copy of the project's photos. */
async function localEvents(request: object): Promise<Ev[]> {
  const projects = join(work, 'local-projects');
  await mkdir(join(projects, 'q'), { recursive: true });
  await cp(join(work, 'projects', 'q', 'images'), join(projects, 'q', 'images'), { recursive: true });
  await cp(join(work, 'projects', 'q', 'project.json'), join(projects, 'q', 'project.json'));
  const saved = env.cacheDir;
  env.cacheDir = join(work, 'local-cache');
  const local = await startServer({ port: 0, projectsDir: projects, webDir: null });
  const queuedUrl = url;
  try {
    url = local.url;
    const t = await postJson(`${P}/train`, request);
    assert.equal(t.status, 202, t.text);
    return await follow(t.json.job.id);
  } finally {
    url = queuedUrl;
    await local.close();
    env.cacheDir = saved;
  }
}

const cliEnv = () => ({ cacheDir: join(work, 'cache'), env: { TL_QUEUE: undefined } });

/** Start `tl serve --queue` on the test's projects folder; its stdout once it listens. */
async function startServe(): Promise<string> {
  server = spawnCli(['serve', '--port', '0', '--projects', join(work, 'projects'), '--queue', redis.url], cliEnv());
  server.stderr!.setEncoding('utf8').on('data', (d: string) => (serverLog += d));
  let out = '';
  serverDone = collect(server, 600_000);
  url = await new Promise<string>((resolve, reject) => {
    server.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m && /training: on the queue/.test(out)) resolve(m[1]);
    });
    void serverDone.then((r) => reject(new Error(`tl serve exited: ${r.stderr}`)));
  });
  return out;
}

before(async () => {
  work = await tempDir('tl-queue-serve-');
  redis = await RedisServer.start(work);
  workers.push(await WorkerProcess.start(redis.url, cliEnv()));
  const out = await startServe();
  assert.match(out, /training: on the queue redis:\/\/127\.0\.0\.1:\d+ \(Redis [\d.]+\), 1 worker connected/);
  assert.equal((await postJson('/v1/projects', { name: 'q', classes: ['ants', 'bees'] })).status, 201);
  for (const cls of ['ants', 'bees']) {
    const form = new FormData();
    for (const f of (await filesIn(join(HYM, 'train', cls))).slice(0, 12))
      form.append('file', new Blob([await readFile(f)], { type: 'image/jpeg' }), f.split('/').pop());
    assert.equal((await call(`${P}/classes/${cls}/images`, { method: 'POST', body: form })).status, 201);
  }
});

after(async () => {
  await WorkerProcess.killAll();
  if (server && server.exitCode === null) server.kill('SIGTERM');
  await serverDone?.catch(() => undefined);
  await redis?.stop();
  await cleanup(work);
});

describe('tl serve --queue', () => {
  test('a head job runs on the worker: the same SSE events, the bundle predicts, no training process in the server', async () => {
    const serverPid = server.pid!;
    const cpuBefore = cpuMs(serverPid);
    const started = Date.now();
    const t = await postJson(`${P}/train`, { strategy: 'head', model: MODEL, seed: 1 });
    assert.equal(t.status, 202, t.text);
    const spawned = new Set<string>();
    const watch = setInterval(() => childrenOf(serverPid).forEach((c) => spawned.add(c)), 50);
    const ev = await follow(t.json.job.id).finally(() => clearInterval(watch));
    const seconds = (Date.now() - started) / 1000;
    const serverCpu = cpuMs(serverPid) - cpuBefore;
    // The SSE stream: ids 0..n-1, the events a local job sends, in order, with their fields.
    assert.deepEqual(
      ev.map((e) => e.id),
      ev.map((_, i) => i),
    );
    const names = ev.map((e) => e.event);
    for (const n of ['state', 'dataset', 'backbone', 'extract-start', 'extract', 'extract-done', 'select-l2', 'done'])
      assert.ok(names.includes(n), n);
    assert.equal(names.at(-1), 'end');
    // The same request on a server without --queue (its own training child, its own cache): the same stream.
    const local = await localEvents({ strategy: 'head', model: MODEL, seed: 1 });
    assert.deepEqual(shape(ev), shape(local));
    const done = ev.find((e) => e.event === 'done')!.data;
    const localDone = local.find((e) => e.event === 'done')!.data;
    for (const k of ['accuracy', 'macroF1', 'count', 'rung', 'backbone', 'evaluatedOn'])
      assert.equal(done[k], localDone[k], k);
    assert.deepEqual(
      ev.find((e) => e.event === 'select-l2')!.data.l2,
      local.find((e) => e.event === 'select-l2')!.data.l2,
    );
    assert.equal(done.backbone, MODEL);
    assert.ok(done.accuracy >= 0.5, JSON.stringify(done));
    assert.deepEqual(ev.at(-1)!.data, { state: 'done', error: null, bundle: done.bundle });
    // The worker trained it (the server logs who), and the server started no process at all.
    assert.match(
      serverLog,
      new RegExp(`training job ${t.json.job.id} of q runs on worker ${hostname()}:${workers[0].child.pid}`),
    );
    assert.deepEqual([...spawned], []);
    // The bundle is in the project (saved by the worker), loaded by the server, and predicts.
    const r = await call(`${P}/results`);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.backbone, MODEL);
    const photo = await readFile((await filesIn(join(HYM, 'val', 'bees')))[0]);
    const p = await call(`${P}/predict`, { method: 'POST', headers: { 'content-type': 'image/jpeg' }, body: photo });
    assert.equal(p.status, 200, p.text);
    assert.ok(['ants', 'bees'].includes(p.json.label ?? p.json.predictions?.[0]?.label), p.text);
    const job = await call(`/v1/jobs/${t.json.job.id}`);
    assert.equal(job.json.state, 'done');
    assert.equal(job.json.bundle, done.bundle);
    console.log(`queued head job: ${seconds.toFixed(1)} s end to end, server CPU ${serverCpu} ms for the whole job`);
  });

  test('a worker SIGKILLed mid-fine-tuning: the other worker takes the job, resumes from the checkpoint, ends done', async () => {
    workers.push(await WorkerProcess.start(redis.url, cliEnv()));
    const t = await postJson(`${P}/train`, {
      strategy: 'partial',
      model: MODEL,
      trainLast: 1,
      epochs: 14,
      patience: 100,
      finetuneBatchSize: 4,
      seed: 3,
    });
    assert.equal(t.status, 202, t.text);
    const runsOn = (pid: number) =>
      new RegExp(`training job ${t.json.job.id} of q runs on worker ${hostname()}:${pid}`);
    let killed: WorkerProcess | undefined;
    const ev = await follow(t.json.job.id, (e) => {
      // After the second finished epoch (its checkpoint is in the shared cache), SIGKILL whichever worker has the job.
      if (!killed && e.event === 'finetune-epoch' && e.data.epoch >= 2) {
        killed = workers.find((w) => runsOn(w.child.pid!).test(serverLog))!;
        killed.child.kill('SIGKILL');
      }
    });
    assert.ok(killed, 'the job reached its second epoch before the kill');
    const other = workers.find((w) => w !== killed)!;
    assert.equal(ev.at(-1)!.data.state, 'done', JSON.stringify(ev.slice(-3)));
    assert.match(serverLog, runsOn(other.child.pid!), 'the other worker took the job');
    const resume = ev.find((e) => e.event === 'finetune-resume');
    assert.ok(resume && resume.data.epoch >= 2, `resumed from the checkpoint: ${JSON.stringify(resume)}`);
    assert.ok(resume.data.epoch < 14, 'the kill came mid-run');
    assert.equal(ev.find((e) => e.event === 'done')!.data.rung, 'partial');
    await killed!.done;
    workers.splice(workers.indexOf(killed!), 1);
  });

  test('a server stopped mid-job: the job goes on on its worker, and the restarted server rejoins it', async () => {
    const t = await postJson(`${P}/train`, {
      strategy: 'partial',
      model: MODEL,
      trainLast: 1,
      epochs: 20,
      patience: 100,
      finetuneBatchSize: 4,
      seed: 6,
    });
    assert.equal(t.status, 202, t.text);
    const id = t.json.job.id;
    let stopping: Promise<CliResult> | undefined;
    await follow(id, (e) => {
      if (!stopping && e.event === 'finetune-epoch') {
        server.kill('SIGTERM');
        stopping = serverDone;
      }
    });
    assert.equal((await stopping!).code, 0);
    assert.ok(existsSync(join(work, 'projects', 'q', 'job.json')), 'the request is kept for the restart');
    await startServe();
    assert.equal((await call(`/v1/jobs/${id}`)).status, 200, 'the job is back under its own id');
    const ev = await follow(id);
    assert.equal(ev[0].event, 'resumed');
    assert.equal(ev.at(-1)!.data.state, 'done', JSON.stringify(ev.slice(-3)));
    // It was never restarted: the worker trained on while the server was away (no resume from a checkpoint).
    assert.ok(!ev.some((e) => e.event === 'finetune-resume' || e.event === 'dataset'));
    const results = await call(`${P}/results`);
    assert.equal(results.json.bundle, ev.at(-1)!.data.bundle);
  });

  test('cancel: a running job stops at its next check, a waiting one leaves the queue', async () => {
    const t = await postJson(`${P}/train`, {
      strategy: 'partial',
      model: MODEL,
      trainLast: 1,
      epochs: 50,
      patience: 100,
      finetuneBatchSize: 4,
      seed: 4,
    });
    assert.equal(t.status, 202, t.text);
    let cancelAnswer: Promise<{ status: number; json: any }> | undefined;
    const ev = await follow(t.json.job.id, (e) => {
      if (!cancelAnswer && e.event === 'finetune-step')
        cancelAnswer = call(`/v1/jobs/${t.json.job.id}/cancel`, { method: 'POST' });
    });
    const c = await cancelAnswer!;
    assert.equal(c.status, 202);
    assert.equal(c.json.state, 'cancelling');
    assert.deepEqual(ev.at(-1)!.data, { state: 'cancelled', error: null, bundle: null });
    assert.ok(!ev.some((e) => e.event === 'done'));

    // No worker: the job waits on the queue; a cancel removes it there.
    await WorkerProcess.killAll();
    const w = await postJson(`${P}/train`, { strategy: 'head', model: MODEL, seed: 9 });
    assert.equal(w.status, 202, w.text);
    await sleep(300);
    assert.equal((await call(`/v1/jobs/${w.json.job.id}/cancel`, { method: 'POST' })).status, 202);
    const wev = await follow(w.json.job.id);
    assert.deepEqual(
      wev.map((e) => e.event),
      ['state', 'end'],
    );
    assert.equal(wev.at(-1)!.data.state, 'cancelled');
  });

  test('Redis unreachable at start: one clear line, exit 1', async () => {
    const r = await runCli(
      ['serve', '--port', '0', '--projects', join(work, 'p2'), '--queue', `redis://127.0.0.1:${await freePort()}`],
      cliEnv(),
    );
    assertCleanError(r, /cannot reach the queue at redis:\/\/127\.0\.0\.1:\d+: ECONNREFUSED/, { emptyStdout: true });
  });
});
