// The project's live stream (GET /v1/projects/{project}/events), "retrain needed" and the page staying current.
// Over HTTP: class, photo and job events arrive in order with the project's new counts; the model is marked stale
// when a class or photo changes after training and fresh again after retraining; closing the server with streams open
// is quick. In Chromium (playwright-core + Debian's /usr/bin/chromium): two tabs on one project follow each other's
// changes without a reload; a `tl serve` killed mid-training shows the "can't reach" banner, and once restarted the
// page re-attaches to the resumed job with nothing lost and no control left pending.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { env } from '../../src/util/env.js';
import { startServer, type TlServer } from '../../src/serve/server.js';
import { cleanup, DATASETS_DIR, filesIn, MODELS_DIR, ROOT, spawnCli, tempDir } from '../helpers.js';
import { CHROMIUM, ensureWebBuilt, LAUNCH_ARGS } from './serve-browser.js';

const HYM = join(DATASETS_DIR, 'hymenoptera_data');
let work: string;
let server: TlServer;
let browser: Browser | undefined;

async function chromiumBrowser(): Promise<Browser> {
  assert.ok(existsSync(CHROMIUM), `Chromium not found at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH)`);
  browser ??= await chromium.launch({ executablePath: CHROMIUM, args: LAUNCH_ARGS });
  return browser;
}

before(async () => {
  work = await tempDir('tl-serve-live-');
  env.cacheDir = join(work, 'cache');
  env.modelsDir = MODELS_DIR;
  env.allowDownloads = false;
  await ensureWebBuilt();
  server = await startServer({ port: 0, projectsDir: join(work, 'projects') });
});

after(async () => {
  await browser?.close();
  await server?.close();
  await cleanup(work);
});

async function apiCall<T = any>(method: string, path: string, body?: object | FormData, base?: string): Promise<T> {
  const init: RequestInit = { method };
  if (body instanceof FormData) init.body = body;
  else if (body) {
    init.body = JSON.stringify(body);
    init.headers = { 'content-type': 'application/json' };
  }
  const res = await fetch(`${base ?? server.url}${path}`, init);
  const text = await res.text();
  assert.ok(res.ok, `${method} ${path}: ${res.status} ${text.slice(0, 300)}`);
  return (text ? JSON.parse(text) : undefined) as T;
}

const P = '/v1/projects/Live';

async function upload(cls: string, paths: string[], project = P, base?: string): Promise<void> {
  for (let i = 0; i < paths.length; i += 50) {
    const form = new FormData();
    for (const f of paths.slice(i, i + 50))
      form.append('file', new Blob([await readFile(f)], { type: 'image/jpeg' }), f.split('/').pop());
    await apiCall('POST', `${project}/classes/${encodeURIComponent(cls)}/images`, form, base);
  }
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
  assert.equal((await apiCall('GET', `${P}/results`)).model.stale, true, 'the results say it too');
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

  // Retraining makes it fresh. A stream opened meanwhile (a page opened mid-training) gets the running job in its
  // hello, and the job's events from the first.
  const retrain = (await apiCall<{ job: { id: string } }>('POST', `${P}/train`, { seed: 0, val: 0.25 })).job;
  const late = openStream(`${P}/events`);
  const lateHello = await late.next();
  assert.equal(lateHello.data.project.activeJob?.id, retrain.id);
  const firstJobEvent = await late.next();
  assert.deepEqual([firstJobEvent.event, firstJobEvent.data.job, firstJobEvent.data.id], ['job', retrain.id, 0]);
  late.close();
  await late.done;
  const again = await s.next((e) => e.event === 'model', 120_000);
  assert.equal(again.data.project.model.stale, false);
  assert.equal((await stale()).stale, false);
  assert.equal((await apiCall('GET', `${P}/results?bundle=${model.data.bundle}`)).model, null, 'an older bundle');
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

/** Open the project in a new tab of `context`; JavaScript errors and console errors are collected. */
async function openTab(page: Page, base: string, project: string) {
  const errors: string[] = [];
  const consoleErrors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  const network: string[] = [];
  // Chromium's own line for each failed request ("Failed to load resource: …") is the browser's, not the app's.
  page.on('console', (m) => {
    if (m.type() === 'error') (/^Failed to load resource/.test(m.text()) ? network : consoleErrors).push(m.text());
  });
  page.on('dialog', (d) => void d.accept());
  await page.goto(`${base}/#/p/${encodeURIComponent(project)}`);
  await page.locator('#project-title', { hasText: project }).waitFor();
  return { errors, consoleErrors, network };
}

/** axe-core's WCAG 2 A/AA violations inside the elements this feature adds (the rest of the page is others' to check). */
async function axeViolations(page: Page, selectors: string[]): Promise<string[]> {
  await page.addScriptTag({ path: join(ROOT, 'node_modules/axe-core/axe.min.js') });
  return page.evaluate(async (include) => {
    const axe = (window as unknown as { axe: any }).axe;
    const present = include.filter((sel) => document.querySelector(sel));
    const r = await axe.run(
      { include: present.map((sel) => [sel]) },
      { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa'] } },
    );
    return r.violations.map((v: { id: string; nodes: unknown[] }) => `${v.id} (${v.nodes.length})`);
  }, selectors);
}

const countOf = (page: Page, cls: string) => page.locator(`article[data-class="${cls}"] [data-testid=class-count]`);

/** Wait for a project's job to end (through the API); its summary. */
async function trained(project: string, base?: string): Promise<void> {
  for (let i = 0; ; i++) {
    const p = await apiCall('GET', project, undefined, base);
    if (p.latestBundle && !p.activeJob) return;
    assert.ok(i < 1200, 'training finished within 120 s');
    await new Promise((r) => setTimeout(r, 100));
  }
}

test('two tabs on one project: a change in one shows in the other within 2 s, without a reload', async (t) => {
  // The project of the first test: ants (8 photos) and honeybees, its model fresh.
  const name = 'Live';
  const TP = P;
  await trained(TP);
  assert.equal((await apiCall('GET', TP)).model.stale, false);
  const ants = (await filesIn(join(HYM, 'train', 'ants'))).slice(0, 12);

  const context = await (await chromiumBrowser()).newContext({ viewport: { width: 1280, height: 800 } });
  try {
    const a = await context.newPage();
    const b = await context.newPage();
    const aLog = await openTab(a, server.url, name);
    const bLog = await openTab(b, server.url, name);
    await a.locator('#accuracy').waitFor();
    await b.locator('#accuracy').waitFor();
    assert.equal(await b.locator('#results-stale').isHidden(), true, 'a fresh model: no notice');
    const seen: Record<string, number> = {};
    const within2s = async (what: string, wait: () => Promise<unknown>) => {
      const t0 = Date.now();
      await wait();
      seen[what] = Date.now() - t0;
      assert.ok(seen[what] < 2000, `${what}: ${seen[what]} ms`);
    };

    // Tab A uploads two photos with its file picker: tab B's count and the "Retrain needed" notices follow.
    await a
      .locator('article[data-class="ants"] input[type=file]:not([webkitdirectory])')
      .setInputFiles(ants.slice(10, 12));
    await countOf(a, 'ants').filter({ hasText: '10 photos' }).waitFor();
    await within2s('photos', () => countOf(b, 'ants').filter({ hasText: '10 photos' }).waitFor({ timeout: 2000 }));
    await b.locator('#results-stale', { hasText: 'Retrain needed: 2 photos added' }).waitFor({ timeout: 2000 });
    await b.locator('#try-stale', { hasText: 'Retrain needed' }).waitFor({ timeout: 2000 });
    assert.equal(await b.locator('article[data-class="ants"] .thumbs img').count(), 10);

    // Tab A adds a class, then renames it.
    await a.getByLabel('New class').fill('wasps');
    await a.getByRole('button', { name: 'Add class' }).click();
    await within2s('class added', () => b.locator('article[data-class="wasps"]').waitFor({ timeout: 2000 }));
    await b.locator('#results-stale', { hasText: 'class “wasps” added' }).waitFor({ timeout: 2000 });
    await a.locator('article[data-class="wasps"]').getByRole('button', { name: 'Rename' }).click();
    await a.getByLabel('New name for wasps').fill('hornets');
    await a.getByRole('button', { name: 'Save' }).click();
    await within2s('class renamed', () => b.locator('article[data-class="hornets"]').waitFor({ timeout: 2000 }));
    assert.equal(await b.locator('article[data-class="wasps"]').count(), 0);
    assert.match(await b.locator('#train-hint').innerText(), /Add photos to “hornets”/);

    // An error is said next to the control that caused it, not only at the top of the page.
    await a.getByLabel('New class').fill('ants');
    await a.getByRole('button', { name: 'Add class' }).click();
    const inline = a.locator('#add-class-error[role=alert]');
    await inline.filter({ hasText: 'already exists' }).waitFor();
    assert.doesNotMatch(await a.locator('#status').innerText(), /already exists/);

    // Removing a photo: gone in both tabs at once, and Undo puts the same photo back.
    await a.locator('article[data-class="hornets"]').getByRole('button', { name: 'Remove', exact: true }).click();
    await b.locator('article[data-class="hornets"]').waitFor({ state: 'detached', timeout: 2000 });
    await a.locator('article[data-class="ants"] [role=option]').first().locator('.remove').click();
    await within2s('photo removed', () =>
      countOf(b, 'ants').filter({ hasText: '9 photos' }).waitFor({ timeout: 2000 }),
    );
    await a.locator('.toast', { hasText: 'Removed a photo from “ants”' }).waitFor();
    assert.deepEqual(
      await axeViolations(a, ['#results-stale', '#try-stale', '.field-error', '.toast']),
      [],
      'the notices, the inline message and the Undo toast pass axe (WCAG 2 A/AA)',
    );
    await a.locator('.toast', { hasText: 'Removed a photo from “ants”' }).getByRole('button', { name: 'Undo' }).click();
    await within2s('photo restored', () =>
      countOf(b, 'ants').filter({ hasText: '10 photos' }).waitFor({ timeout: 2000 }),
    );
    await a.locator('.toast').waitFor({ state: 'detached' });
    assert.equal((await apiCall('GET', `${TP}/images?class=ants`)).images.length, 10, 'the server has it back');

    // Tab B trains: tab A follows the job's progress from its own stream; the notice goes once it is done.
    await b.locator('#train-button').click();
    await a.locator('#progress:not([hidden])').waitFor({ timeout: 2000 });
    await a.locator('#phase', { hasText: /^Done in/ }).waitFor({ timeout: 60_000 });
    await a.locator('#results-stale').waitFor({ state: 'hidden', timeout: 5000 });
    await b.locator('#results-stale').waitFor({ state: 'hidden', timeout: 5000 });
    assert.equal(await a.locator('#train-button').isDisabled(), false);
    t.diagnostic(`tab B saw tab A's change after (ms): ${JSON.stringify(seen)}`);
    assert.deepEqual([...aLog.errors, ...bLog.errors], [], 'no JavaScript errors');
    assert.deepEqual(
      [...aLog.consoleErrors, ...bLog.consoleErrors],
      [],
      'no console errors (but the browser’s 409 line)',
    );
  } finally {
    await context.close();
  }
});

/** A free TCP port on 127.0.0.1 (for a server that must come back on the same one). */
async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

/** `tl serve` as its own process (as a user runs it); resolves once it answers. */
async function startCliServer(port: number, projectsDir: string, cacheDir: string): Promise<ChildProcess> {
  const child = spawnCli(['serve', '--port', String(port), '--projects', projectsDir], { cacheDir });
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output += d));
  child.stderr!.on('data', (d: Buffer) => (output += d));
  for (let i = 0; ; i++) {
    try {
      if ((await fetch(`http://127.0.0.1:${port}/v1/health`)).ok) return child;
    } catch {
      // not yet
    }
    assert.ok(i < 300 && child.exitCode === null, `tl serve did not start: ${output}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test('tl serve killed mid-training: banner, then back on the same port: the job resumes, nothing lost or stuck', async (t) => {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const projectsDir = join(work, 'cli-projects');
  const cacheDir = join(work, 'cli-cache'); // a cold feature cache: training takes a while
  let child = await startCliServer(port, projectsDir, cacheDir);
  const name = 'Outage';
  const OP = `/v1/projects/${name}`;
  const counts: Record<string, number> = {};
  const setupAt = Date.now();
  try {
    await apiCall('POST', '/v1/projects', { name, classes: ['ants', 'bees'] }, base);
    for (const cls of ['ants', 'bees']) {
      const paths = [...(await filesIn(join(HYM, 'train', cls))), ...(await filesIn(join(HYM, 'val', cls)))];
      counts[cls] = paths.length;
      await upload(cls, paths, OP, base);
    }
    const setupMs = Date.now() - setupAt;
    const context = await (await chromiumBrowser()).newContext({ viewport: { width: 1280, height: 800 } });
    const page = await context.newPage();
    const log = await openTab(page, base, name);
    await page.locator('#train-button').click();
    await page.locator('#rate', { hasText: 'photos' }).waitFor({ timeout: 30_000 });

    // Reload mid-training: the page re-attaches to the running job's progress.
    await page.reload();
    await page.locator('#project-title', { hasText: name }).waitFor();
    await page.locator('#progress:not([hidden])').waitFor({ timeout: 5000 });
    await page.locator('#rate', { hasText: 'photos' }).waitFor({ timeout: 10_000 });
    assert.equal(await page.locator('#train-button').isDisabled(), true, 'no second job while one runs');
    const job = (await apiCall('GET', OP, undefined, base)).activeJob;
    assert.equal(job?.state, 'running', 'still training when the server is killed');

    // The server dies: the banner says so within a few seconds.
    const killedAt = Date.now();
    child.kill('SIGKILL');
    await page
      .locator('#server-banner:not([hidden])', { hasText: `Can't reach the tl server at 127.0.0.1:${port}` })
      .waitFor({ timeout: 5000 });
    const bannerMs = Date.now() - killedAt;
    assert.deepEqual(await axeViolations(page, ['#server-banner']), [], 'the banner passes axe (WCAG 2 A/AA)');
    // A control used during the outage does not stay pending (its request fails; the banner already says why).
    await page.getByLabel('New class').fill('wasps');
    await page.getByRole('button', { name: 'Add class' }).click();
    await page.waitForTimeout(300);

    // Back on the same port and data folder: the banner goes, the job resumes (same id) and the page follows it.
    child = await startCliServer(port, projectsDir, cacheDir);
    const restartedAt = Date.now();
    await page.locator('#server-banner').waitFor({ state: 'hidden', timeout: 15_000 });
    const backMs = Date.now() - restartedAt;
    await page.locator('#accuracy').waitFor({ timeout: 90_000 });
    const doneMs = Date.now() - restartedAt;
    const after = await apiCall('GET', OP, undefined, base);
    assert.equal(after.activeJob, null);
    assert.ok(after.latestBundle, 'the resumed job saved its model');
    assert.deepEqual(
      after.classes.map((c: { name: string; images: number }) => [c.name, c.images]),
      [
        ['ants', counts.ants],
        ['bees', counts.bees],
      ],
      'every photo and class is still there',
    );
    for (const cls of ['ants', 'bees']) assert.equal(await countOf(page, cls).innerText(), `${counts[cls]} photos`);
    assert.match(await page.locator('#status').innerText(), /server restarted|Training finished/);
    // Nothing left pending or disabled.
    assert.equal(await page.locator('#train-button').isDisabled(), false, 'Train is enabled again');
    assert.equal(await page.locator('#cancel-button').isHidden(), true);
    assert.equal(await page.getByRole('button', { name: 'Add class' }).isDisabled(), false);
    const text = await page.locator('#view').innerText();
    assert.doesNotMatch(text, /Cancelling…|Classifying…|Uploading \d|Starting…/);
    assert.deepEqual(log.errors, [], 'no JavaScript errors');
    assert.deepEqual(
      log.consoleErrors,
      [`tl: cannot reach the server at 127.0.0.1:${port}; retrying until it answers`],
      'one console error for the outage',
    );
    t.diagnostic(
      `${counts.ants + counts.bees} photos (set up in ${setupMs} ms); banner ${bannerMs} ms after the kill, gone ${backMs} ms after the restart, done ${doneMs} ms after it; ${log.network.length} requests failed in Chromium (its own log lines: thumbnails in flight at the kill, probes, the stream)`,
    );
    await context.close();
  } finally {
    child.kill('SIGKILL');
  }
});
