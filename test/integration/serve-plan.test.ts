// auto's plan before training (issue #25): POST /v1/projects/{project}/plan on a 3-class project of 20 real photos
// per class answers what `tl plan` answers (every rung, a choice, the reason, the domain check) from a child process
// (/v1/health stays fast meanwhile), a second call is answered from the cache, a new time budget is decided again
// without measuring, and an unknown option is a 400 naming it. Then in Chromium: the plan table is on the Train panel
// before Train is pressed, the budget refreshes it, picking "head" trains the head, and while the photos are
// described the progress line shows the stage and an ETA.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { mkdir, readdir, stat, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { env } from '../../src/util/env.js';
import { startServer, type TlServer } from '../../src/serve/server.js';
import { cleanup, DATASETS_DIR, MODELS_DIR, ROOT, tempDir } from '../helpers.js';

const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const WEB_SRC = join(ROOT, 'web');
const WEB_OUT = join(ROOT, 'dist/web');
const PER_CLASS = 20;
const CLASSES: Record<string, string> = {
  ants: join(DATASETS_DIR, 'hymenoptera_data/train/ants'),
  bees: join(DATASETS_DIR, 'hymenoptera_data/train/bees'),
  cats: join(DATASETS_DIR, 'cats_and_dogs_filtered/train/cats'),
};
const PROJECT = 'trio';
/** Screenshots of the Train panel are kept after the run (for people to look at). */
const SHOTS = join(tmpdir(), 'tl-serve-plan-screenshots');

let work: string;
let server: TlServer;
let browser: Browser;

async function newestMtime(dir: string): Promise<number> {
  let newest = 0;
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    newest = Math.max(newest, e.isDirectory() ? await newestMtime(p) : (await stat(p)).mtimeMs);
  }
  return newest;
}

/** Build the web app with Vite unless dist/web is newer than every source file. */
async function ensureWebBuilt(): Promise<void> {
  const index = join(WEB_OUT, 'index.html');
  if (existsSync(index) && statSync(index).mtimeMs >= (await newestMtime(WEB_SRC))) return;
  const { build } = await import('vite');
  await build({ root: WEB_SRC, logLevel: 'warn', build: { outDir: WEB_OUT, emptyOutDir: true } });
}

async function waitFor(ok: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    assert.ok(Date.now() < end, `timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function call(method: string, path: string, body?: unknown): Promise<{ status: number; json: any; ms: number }> {
  const t0 = performance.now();
  const res = await fetch(`${server.url}${path}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : undefined, ms: performance.now() - t0 };
}

before(async () => {
  work = await tempDir('tl-serve-plan-');
  env.cacheDir = join(work, 'cache');
  env.modelsDir = MODELS_DIR;
  env.allowDownloads = false;
  await mkdir(SHOTS, { recursive: true });
  await ensureWebBuilt();
  server = await startServer({ port: 0, projectsDir: join(work, 'projects') });
  assert.equal((await call('POST', '/v1/projects', { name: PROJECT })).status, 201);
  // The photos are linked into the project's class folders under the names an upload gives (16 hex digits).
  for (const [cls, src] of Object.entries(CLASSES)) {
    assert.equal((await call('POST', `/v1/projects/${PROJECT}/classes`, { name: cls })).status, 201);
    const dest = join(server.store.imagesDir(PROJECT), cls);
    await mkdir(dest, { recursive: true });
    for (const f of (await readdir(src)).sort().slice(0, PER_CLASS))
      await symlink(join(src, f), join(dest, `${createHash('sha256').update(f).digest('hex').slice(0, 16)}.jpg`));
  }
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu'] });
});

after(async () => {
  await browser?.close();
  await server?.close();
  await cleanup(work);
});

test('POST .../plan: rungs and a choice off the event loop, then cached; a new budget re-decided; unknown keys 400', async (t) => {
  // /v1/health every 50 ms while the plan is measured.
  const health: number[] = [];
  let planning = true;
  const poll = (async () => {
    while (planning) {
      const r = await call('GET', '/v1/health');
      assert.equal(r.status, 200);
      health.push(r.ms);
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
  const cold = await call('POST', `/v1/projects/${PROJECT}/plan`, { strategy: 'auto' });
  planning = false;
  await poll;
  assert.equal(cold.status, 200, JSON.stringify(cold.json));
  const plan = cold.json;
  t.diagnostic(
    `cold plan: ${cold.ms.toFixed(0)} ms (measuring in the child ${plan.computeMs} ms); choice ${plan.choice}`,
  );
  assert.equal(plan.cached, false);
  assert.deepEqual(
    plan.rungs.map((r: any) => r.rung),
    ['head', 'partial', 'full'],
  );
  assert.equal(plan.imagesPerClass, 16, '20 photos/class, 20% held out');
  assert.equal(plan.trainImages, 48);
  assert.deepEqual(
    plan.rungs.filter((r: any) => r.chosen).map((r: any) => r.rung),
    [plan.choice],
  );
  assert.match(plan.reason, /images\/class/);
  for (const r of plan.rungs) {
    assert.ok(r.seconds > 0 && r.trains.length > 0, JSON.stringify(r));
    assert.equal(r.fitsBudget, r.seconds <= plan.timeBudget);
  }
  assert.equal(plan.timeBudget, 900);
  assert.ok(plan.rungs[2].seconds > plan.rungs[0].seconds, 'the whole network costs more than the head');
  assert.equal(plan.rungs[0].expectedGain, 0);
  assert.ok(plan.domain && plan.domain.far === false, `photos are photo-like: ${JSON.stringify(plan.domain)}`);
  assert.match(plan.domain.summary, /photo-like/);
  assert.doesNotMatch(JSON.stringify(plan), new RegExp(work.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')), 'no server path');
  const worst = Math.max(...health);
  t.diagnostic(`/v1/health during the plan: ${health.length} calls, slowest ${worst.toFixed(1)} ms`);
  assert.ok(health.length >= 5, `${health.length} health calls`);
  assert.ok(worst < 750, `health took ${worst.toFixed(0)} ms while planning`);

  // The same photos and options (defaults named or not): from the cache.
  const warm = await call('POST', `/v1/projects/${PROJECT}/plan`, { seed: 0, val: 0.2, strategy: 'head' });
  t.diagnostic(`warm plan: ${warm.ms.toFixed(1)} ms`);
  assert.equal(warm.status, 200);
  assert.equal(warm.json.cached, true);
  assert.deepEqual(warm.json.rungs, plan.rungs);
  assert.ok(warm.ms < Math.max(300, cold.ms / 20), `warm ${warm.ms.toFixed(0)} ms vs cold ${cold.ms.toFixed(0)} ms`);

  // A budget below every estimate: decided again on the same measurements, the head (nothing else fits).
  const tight = await call('POST', `/v1/projects/${PROJECT}/plan`, { timeBudget: 0.5 });
  assert.equal(tight.status, 200);
  assert.equal(tight.json.cached, true);
  assert.equal(tight.json.timeBudget, 0.5);
  assert.equal(tight.json.choice, 'head');
  assert.deepEqual(tight.json.overBudget, ['head', 'partial', 'full']);
  assert.ok(tight.json.rungs.every((r: any) => !r.fitsBudget));

  const bad = await call('POST', `/v1/projects/${PROJECT}/plan`, { timeBudget: 60, bogus: 1 });
  assert.equal(bad.status, 400);
  assert.equal(bad.json.error.code, 'invalid_option');
  assert.match(bad.json.error.message, /unknown option "bogus"/);
  const negative = await call('POST', `/v1/projects/${PROJECT}/plan`, { timeBudget: -5 });
  assert.equal(negative.status, 400);
  assert.match(negative.json.error.message, /timeBudget/);
  assert.equal((await call('POST', '/v1/projects/nope/plan', {})).status, 404);

  // Another split (seed 1) is measured anew; the client hangs up: the measurement nobody waits for is stopped.
  const planChildren = () =>
    execFileSync('ps', ['-o', 'args=', '--ppid', String(process.pid)], { encoding: 'utf8' })
      .split('\n')
      .filter((l) => l.includes('plan-child'));
  const hangUp = new AbortController();
  const dropped = fetch(`${server.url}/v1/projects/${PROJECT}/plan`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ seed: 1 }),
    signal: hangUp.signal,
  }).catch((e: Error) => e.name);
  await waitFor(() => planChildren().length === 1, 10_000, 'a plan child for seed 1');
  hangUp.abort();
  assert.equal(await dropped, 'AbortError');
  await waitFor(() => planChildren().length === 0, 10_000, 'the abandoned plan child to be stopped');
});

test('Chromium: the plan table before Train; the budget refreshes it; "head" trains the head with a stage and an ETA', async () => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  const pageErrors: string[] = [];
  page.on('pageerror', (e) => pageErrors.push(e.message));
  try {
    await page.goto(`${server.url}/#/p/${PROJECT}`);
    await page.locator('#project-title', { hasText: PROJECT }).waitFor();
    // Before Train: the plan (from the cache of the test above), auto's choice marked, its reason beside it.
    const table = page.locator('#plan-table');
    await table.waitFor({ timeout: 60_000 });
    assert.equal(await page.locator('#plan-table tbody tr').count(), 3);
    assert.equal(await page.locator('#plan-table tr.chosen [data-testid=auto-choice]').count(), 1);
    assert.match(await page.locator('#plan-reason').innerText(), /^auto picks (head|partial|full): .*images\/class/);
    assert.match(await page.locator('#plan-status').innerText(), /measured earlier/);
    assert.match(await page.locator('#plan-domain').innerText(), /photo-like/);
    await page.locator('#train').screenshot({ path: join(SHOTS, 'plan-1280.png') });
    // The panel passes axe-core's WCAG 2 A/AA rules.
    await page.addScriptTag({ path: join(ROOT, 'node_modules/axe-core/axe.min.js') });
    const violations: string[] = await page.evaluate(async () => {
      const r = await (window as any).axe.run('#train', { runOnly: ['wcag2a', 'wcag2aa'] });
      return r.violations.map((v: any) => `${v.id}: ${v.nodes.map((n: any) => n.target.join(' ')).join(', ')}`);
    });
    assert.deepEqual(violations, []);
    // At 375 px the table scrolls inside its box; the page does not.
    await page.setViewportSize({ width: 375, height: 800 });
    const { scrollWidth, innerWidth } = await page.evaluate(() => ({
      scrollWidth: document.documentElement.scrollWidth,
      innerWidth: window.innerWidth,
    }));
    assert.ok(scrollWidth <= innerWidth, `page is ${scrollWidth}px wide in a ${innerWidth}px window`);
    await page.locator('#train').screenshot({ path: join(SHOTS, 'plan-375.png') });
    await page.setViewportSize({ width: 1280, height: 900 });
    // A one-minute budget: the plan is decided again (the caption names the budget).
    await page.locator('#opt-budget').fill('1');
    await page.locator('#plan-table caption', { hasText: '(60 s budget)' }).waitFor();
    await page.locator('#opt-budget').fill('15');
    await page.locator('#plan-table caption', { hasText: '(15 min budget)' }).waitFor();

    // Pick head and train; every stage and ETA text the page shows is recorded.
    await page.locator('#opt-rung').selectOption('head');
    await page.locator('#plan-table tr.picked[data-rung=head]').waitFor();
    await page.evaluate(() => {
      const seen: string[] = [];
      (window as any).__etaSeen = seen;
      const eta = document.getElementById('eta')!;
      const stage = document.getElementById('stage')!;
      new MutationObserver(() => {
        if (eta.textContent) seen.push(`${stage.dataset.stage}|${stage.textContent}|${eta.textContent}`);
      }).observe(eta, { childList: true, characterData: true, subtree: true });
    });
    await page.locator('#train-button').click();
    await page.locator('[data-testid=result-rung]').waitFor({ state: 'attached', timeout: 90_000 });
    assert.equal(await page.locator('[data-testid=result-rung]').textContent(), 'head');
    const seen: string[] = await page.evaluate(() => (window as any).__etaSeen);
    assert.ok(
      seen.some((s) => /^extracting\|Extracting features \(training photos\)\|about \d+ (s|min) left$/.test(s)),
      `ETA texts seen: ${JSON.stringify(seen.slice(0, 10))}`,
    );
    assert.match(await page.locator('#rate').innerText(), /images\/s/);
    assert.equal(await page.locator('#stage').getAttribute('data-stage'), 'done');
    assert.equal(await page.locator('#eta').innerText(), '');
    assert.deepEqual(pageErrors, []);
  } finally {
    await context.close();
  }
});
