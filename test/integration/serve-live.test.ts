// The project's live stream (GET /v1/projects/{project}/events) and "retrain needed", over HTTP: class, photo and job
// events arrive in order with the project's new counts; the model is marked stale when a class or photo changes after
// training and fresh again after retraining; closing the server with streams open is quick.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { env } from '../../src/util/env.js';
import { startServer, type TlServer } from '../../src/serve/server.js';
import { cleanup, DATASETS_DIR, filesIn, MODELS_DIR, tempDir } from '../helpers.js';

const HYM = join(DATASETS_DIR, 'hymenoptera_data');

let work: string;
let server: TlServer;

before(async () => {
  work = await tempDir('tl-serve-live-');
  env.cacheDir = join(work, 'cache');
  env.modelsDir = MODELS_DIR;
  env.allowDownloads = false;
  server = await startServer({ port: 0, projectsDir: join(work, 'projects'), webDir: null });
});

after(async () => {
  await server?.close();
  await cleanup(work);
});

async function apiCall<T = any>(method: string, path: string, body?: object | FormData): Promise<T> {
  const init: RequestInit = { method };
  if (body instanceof FormData) init.body = body;
  else if (body) {
    init.body = JSON.stringify(body);
    init.headers = { 'content-type': 'application/json' };
  }
  const res = await fetch(`${server.url}${path}`, init);
  const text = await res.text();
  assert.ok(res.ok, `${method} ${path}: ${res.status} ${text.slice(0, 300)}`);
  return (text ? JSON.parse(text) : undefined) as T;
}

const P = '/v1/projects/Live';

async function upload(cls: string, paths: string[]): Promise<void> {
  const form = new FormData();
  for (const f of paths) form.append('file', new Blob([await readFile(f)], { type: 'image/jpeg' }), f.split('/').pop());
  await apiCall('POST', `${P}/classes/${encodeURIComponent(cls)}/images`, form);
}

interface Sse {
  event: string;
  data: any;
}

/** An open event stream, parsed: `next(pred)` waits for the next event that matches (and skips the others). */
function openStream(path: string) {
  const ctrl = new AbortController();
  const events: Sse[] = [];
  const waiters: (() => void)[] = [];
  let comments = 0;
  let ended = false;
  const done = (async () => {
    const res = await fetch(`${server.url}${path}`, { signal: ctrl.signal });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /text\/event-stream/);
    const decoder = new TextDecoder();
    let buf = '';
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        buf += decoder.decode(chunk, { stream: true });
        let i: number;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          let event = 'message';
          let data = '';
          for (const line of block.split('\n')) {
            if (line.startsWith(':')) comments++;
            else if (line.startsWith('event: ')) event = line.slice(7);
            else if (line.startsWith('data: ')) data += line.slice(6);
          }
          if (data) events.push({ event, data: JSON.parse(data) });
          waiters.splice(0).forEach((w) => w());
        }
      }
    } catch {
      // aborted
    }
    ended = true;
    waiters.splice(0).forEach((w) => w());
  })();
  let read = 0;
  return {
    events,
    get ended() {
      return ended;
    },
    get comments() {
      return comments;
    },
    async next(pred: (e: Sse) => boolean = () => true, ms = 60_000): Promise<Sse> {
      const deadline = Date.now() + ms;
      for (;;) {
        while (read < events.length) {
          const e = events[read++];
          if (pred(e)) return e;
        }
        assert.ok(!ended, 'the stream ended');
        assert.ok(Date.now() < deadline, `no matching event within ${ms} ms; got ${events.map((e) => e.event)}`);
        await new Promise<void>((r) => {
          waiters.push(r);
          setTimeout(r, 250);
        });
      }
    },
    close: () => ctrl.abort(),
    done,
  };
}

test('the project stream: class, photo and job events in order; the model goes stale and fresh again', async (t) => {
  await apiCall('POST', '/v1/projects', { name: 'Live' });
  const s = openStream(`${P}/events`);
  const hello = await s.next();
  assert.equal(hello.event, 'hello');
  assert.equal(hello.data.project.name, 'Live');
  assert.equal(hello.data.project.model, null);

  const ants = (await filesIn(join(HYM, 'train', 'ants'))).slice(0, 8);
  const bees = (await filesIn(join(HYM, 'train', 'bees'))).slice(0, 8);
  await apiCall('POST', `${P}/classes`, { name: 'ants' });
  await apiCall('POST', `${P}/classes`, { name: 'bees' });
  await upload('ants', ants.slice(0, 6));
  await upload('bees', bees.slice(0, 6));
  const changes = [await s.next(), await s.next(), await s.next(), await s.next()];
  assert.deepEqual(
    changes.map((e) => [e.event, e.data.change, e.data.name ?? e.data.class]),
    [
      ['classes', 'added', 'ants'],
      ['classes', 'added', 'bees'],
      ['photos', 'added', 'ants'],
      ['photos', 'added', 'bees'],
    ],
  );
  assert.equal(changes[2].data.files.length, 6);
  assert.deepEqual(
    changes[3].data.project.classes.map((c: { name: string; images: number }) => [c.name, c.images]),
    [
      ['ants', 6],
      ['bees', 6],
    ],
  );

  // Training: job-started, the job's own events (state, dataset, ..., end), then model.
  const t0 = Date.now();
  const { job } = await apiCall<{ job: { id: string } }>('POST', `${P}/train`, { seed: 0, val: 0.25 });
  const started = await s.next();
  assert.equal(started.event, 'job-started');
  assert.equal(started.data.job.id, job.id);
  const jobEvents: string[] = [];
  for (;;) {
    const e = await s.next((x) => x.event === 'job', 120_000);
    assert.equal(e.data.job, job.id);
    jobEvents.push(e.data.event);
    if (e.data.event === 'end') {
      assert.equal(e.data.data.state, 'done', JSON.stringify(e.data));
      break;
    }
  }
  t.diagnostic(`training (child process, 12 photos) ${Date.now() - t0} ms; job events: ${[...new Set(jobEvents)]}`);
  for (const name of ['state', 'dataset', 'extract-start', 'done', 'end'])
    assert.ok(jobEvents.includes(name), `job event ${name} relayed`);
  assert.ok(jobEvents.indexOf('dataset') < jobEvents.indexOf('done'), 'job events in order');
  const model = await s.next();
  assert.equal(model.event, 'model');
  assert.equal(model.data.project.model.stale, false);
  assert.equal(model.data.project.model.bundle, model.data.bundle);

  const stale = async () => (await apiCall('GET', P)).model;
  assert.equal((await stale()).stale, false);

  // A class added after training: stale, named; removed again: fresh.
  await apiCall('POST', `${P}/classes`, { name: 'wasps' });
  const added = await s.next();
  assert.equal(added.data.project.model.stale, true);
  assert.deepEqual(added.data.project.model.changes.classesAdded, ['wasps']);
  assert.match(added.data.project.model.summary, /class “wasps” added/);
  await apiCall('DELETE', `${P}/classes/wasps`);
  assert.equal((await s.next()).data.project.model.stale, false);

  // Photos added and removed after training.
  await upload('ants', ants.slice(6, 8));
  const photos = await s.next();
  assert.equal(photos.event, 'photos');
  assert.equal(photos.data.project.model.changes.photosAdded, 2);
  assert.match(photos.data.project.model.summary, /2 photos added/);
  const [first] = (await apiCall('GET', `${P}/images?class=bees`)).images;
  await apiCall('DELETE', first.url);
  const removed = await s.next();
  assert.deepEqual([removed.event, removed.data.change, removed.data.files], ['photos', 'removed', [first.file]]);
  assert.equal(removed.data.project.model.changes.photosRemoved, 1);

  // A rename is a rename (the photos stayed), not a class removed and another added.
  await apiCall('PATCH', `${P}/classes/bees`, { name: 'honeybees' });
  const renamed = await s.next();
  assert.deepEqual([renamed.data.change, renamed.data.from, renamed.data.name], ['renamed', 'bees', 'honeybees']);
  assert.deepEqual(renamed.data.project.model.changes, {
    classesAdded: [],
    classesRemoved: [],
    classesRenamed: [{ from: 'bees', to: 'honeybees' }],
    photosAdded: 2,
    photosRemoved: 1,
  });
  assert.equal((await stale()).stale, true);

  // Retraining makes it fresh.
  await apiCall('POST', `${P}/train`, { seed: 0, val: 0.25 });
  const again = await s.next((e) => e.event === 'model', 120_000);
  assert.equal(again.data.project.model.stale, false);
  assert.equal((await stale()).stale, false);
  s.close();
  await s.done;
});

test('a page opened mid-training gets the running job in hello and its events so far', async () => {
  const { job } = await apiCall<{ job: { id: string } }>('POST', `${P}/train`, { seed: 1, val: 0.25 });
  const s = openStream(`${P}/events`);
  const hello = await s.next();
  assert.equal(hello.data.project.activeJob?.id, job.id);
  const first = await s.next();
  assert.deepEqual([first.event, first.data.job, first.data.id], ['job', job.id, 0], 'replayed from its first event');
  await s.next((e) => e.event === 'job' && e.data.event === 'end', 120_000);
  s.close();
  await s.done;
});

test('deleting the project ends its stream; an unknown project is a 404', async () => {
  await apiCall('POST', '/v1/projects', { name: 'Gone' });
  const s = openStream('/v1/projects/Gone/events');
  await s.next();
  await apiCall('DELETE', '/v1/projects/Gone');
  const e = await s.next();
  assert.deepEqual([e.event, e.data.name], ['project-removed', 'Gone']);
  await s.done;
  assert.equal(s.ended, true);
  const res = await fetch(`${server.url}/v1/projects/Nope/events`);
  assert.equal(res.status, 404);
  assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'project_not_found');
});

test('closing the server with event streams open takes under 2 s', async (t) => {
  const dir = await tempDir('tl-serve-live-close-');
  const other = await startServer({ port: 0, projectsDir: dir, webDir: null });
  try {
    await fetch(`${other.url}/v1/projects`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'Open' }),
    });
    const streams = await Promise.all(
      [0, 1, 2].map(async () => {
        const res = await fetch(`${other.url}/v1/projects/Open/events`);
        const reader = res.body!.getReader();
        await reader.read(); // connected
        return reader;
      }),
    );
    const t0 = performance.now();
    await other.close();
    const ms = performance.now() - t0;
    t.diagnostic(`server.close() with 3 open project streams: ${ms.toFixed(0)} ms`);
    assert.ok(ms < 2000, `close took ${ms} ms`);
    for (const r of streams) {
      // Each stream has ended (or its connection was closed) rather than hanging.
      const end = await Promise.race([
        (async () => {
          try {
            while (!(await r.read()).done);
          } catch {
            // closed
          }
          return true;
        })(),
        new Promise((res) => setTimeout(() => res(false), 2000)),
      ]);
      assert.equal(end, true, 'the stream ended');
    }
  } finally {
    await cleanup(dir);
  }
});
