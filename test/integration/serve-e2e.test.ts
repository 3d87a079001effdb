// The web app end to end in headless Chromium (playwright-core + Debian's /usr/bin/chromium): create a project, two
// classes, upload the real hymenoptera training photos, train, read the accuracy on the page, try a photo, download
// the bundle; screenshots at 1280x800 and 390x844 with no horizontal overflow. Then the other ways in: drag and drop,
// a folder upload, removing a photo, renaming and removing classes, and the webcam (Chromium's fake camera).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, statSync } from 'node:fs';
import { copyFile, mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { env } from '../../src/util/env.js';
import { startServer, type TlServer } from '../../src/serve/server.js';
import { cleanup, DATASETS_DIR, MODELS_DIR, ROOT, tempDir } from '../helpers.js';
import { dropFiles } from './serve-browser.js';

const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const HYM = join(DATASETS_DIR, 'hymenoptera_data');
const WEB_SRC = join(ROOT, 'web');
const WEB_OUT = join(ROOT, 'dist/web');
/** Screenshots are kept after the run (for people to look at); the rest of the temp files are removed. */
const SHOTS = join(tmpdir(), 'tl-serve-e2e-screenshots');

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

async function noHorizontalOverflow(page: Page, what: string): Promise<void> {
  const { scrollWidth, innerWidth } = await page.evaluate(() => ({
    scrollWidth: document.documentElement.scrollWidth,
    innerWidth: window.innerWidth,
  }));
  assert.ok(scrollWidth <= innerWidth, `${what}: page is ${scrollWidth}px wide in a ${innerWidth}px window`);
}

async function files(dir: string): Promise<string[]> {
  return (await readdir(dir))
    .filter((f) => !f.startsWith('.'))
    .sort()
    .map((f) => join(dir, f));
}

const LAUNCH_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

/** A JSON call to the test server from Node (to set up, and to check what the page did). */
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

const projectPath = (name: string) => `/v1/projects/${encodeURIComponent(name)}`;

/** Project with the given classes (and photos of each, sent by the API), the page opened on it. */
async function setupProject(name: string, classes: Record<string, string[]>): Promise<void> {
  await apiCall('POST', '/v1/projects', { name });
  for (const [cls, paths] of Object.entries(classes)) {
    await apiCall('POST', `${projectPath(name)}/classes`, { name: cls });
    if (!paths.length) continue;
    const form = new FormData();
    for (const f of paths)
      form.append('file', new Blob([await readFile(f)], { type: 'image/jpeg' }), f.split('/').pop());
    await apiCall('POST', `${projectPath(name)}/classes/${encodeURIComponent(cls)}/images`, form);
  }
}

async function openPage(context: BrowserContext, project: string): Promise<{ page: Page; pageErrors: string[] }> {
  const page = await context.newPage();
  const pageErrors: string[] = [];
  page.on('pageerror', (e) => pageErrors.push(e.message));
  page.on('dialog', (d) => void d.accept());
  await page.goto(`${server.url}/#/p/${encodeURIComponent(project)}`);
  await page.locator('#project-title', { hasText: project }).waitFor();
  return { page, pageErrors };
}

const countOf = (page: Page, cls: string) => page.locator(`article[data-class="${cls}"] [data-testid=class-count]`);

before(async () => {
  assert.ok(existsSync(CHROMIUM), `Chromium not found at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH)`);
  work = await tempDir('tl-serve-e2e-');
  env.cacheDir = join(work, 'cache');
  env.modelsDir = MODELS_DIR;
  env.allowDownloads = false;
  await mkdir(SHOTS, { recursive: true });
  await ensureWebBuilt();
  server = await startServer({ port: 0, projectsDir: join(work, 'projects') });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: LAUNCH_ARGS,
  });
});

after(async () => {
  await browser?.close();
  await server?.close();
  await cleanup(work);
});

test('create → classes → upload → train (accuracy ≥ 0.9) → try it → download, at 1280x800 and 390x844', async (t) => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, acceptDownloads: true });
  const page = await context.newPage();
  const pageErrors: string[] = [];
  page.on('pageerror', (e) => pageErrors.push(e.message));
  page.on('dialog', (d) => void d.accept());
  try {
    await page.goto(`${server.url}/`);
    await page.getByRole('heading', { name: /Teach the computer/ }).waitFor();
    await page.screenshot({ path: join(SHOTS, 'home-1280.png') });

    // Project and classes.
    await page.getByLabel('New project').fill('Ants and bees');
    await page.getByRole('button', { name: 'Create' }).click();
    await page.locator('#project-title', { hasText: 'Ants and bees' }).waitFor();
    for (const cls of ['ants', 'bees']) {
      await page.getByLabel('New class').fill(cls);
      await page.getByRole('button', { name: 'Add class' }).click();
      await page.locator(`article[data-class="${cls}"]`).waitFor();
    }
    assert.equal(await page.locator('#train-button').isDisabled(), true, 'cannot train classes without photos');

    // Upload the real training photos with the file picker of each class.
    const counts: Record<string, number> = {};
    for (const cls of ['ants', 'bees']) {
      const paths = await files(join(HYM, 'train', cls));
      counts[cls] = paths.length;
      await page.locator(`article[data-class="${cls}"] input[type=file]:not([webkitdirectory])`).setInputFiles(paths);
      await page
        .locator(`article[data-class="${cls}"] [data-testid=class-count]`, { hasText: `${paths.length} photos` })
        .waitFor({ timeout: 90_000 });
    }
    assert.equal(await page.locator('article[data-class="ants"] .thumbs img').count(), counts.ants);
    await page.locator('article[data-class="bees"] .thumbs img').first().waitFor();
    await page.screenshot({ path: join(SHOTS, 'classes-1280.png') });
    await noHorizontalOverflow(page, 'classes at 1280x800');

    // Train: live progress, then results.
    await page.locator('#train-button').click();
    await page.locator('#progress:not([hidden])').waitFor();
    await page.locator('#accuracy').waitFor({ timeout: 150_000 });
    const accuracy = Number(await page.locator('#accuracy').getAttribute('data-value'));
    t.diagnostic(`accuracy on the page: ${accuracy}`);
    assert.ok(accuracy >= 0.9, `accuracy ${accuracy}`);
    assert.match(await page.locator('#accuracy').innerText(), /^\d+\.\d%$/);
    assert.equal(await page.locator('#charts svg').count(), 2, 'loss and accuracy curves drawn');
    assert.match(await page.locator('#rate').innerText(), /images\/s/);
    assert.equal(await page.locator('table.confusion tbody tr').count(), 2);
    assert.equal(await page.locator('table.per-class tbody tr').count(), 2);
    await page.getByRole('heading', { name: /Misclassified photos/ }).waitFor();
    await page.locator('#results').screenshot({ path: join(SHOTS, 'results-1280.png') });

    // Try it with a validation photo.
    const [bee] = await files(join(HYM, 'val', 'bees'));
    await page.locator('#try-file').setInputFiles(bee);
    await page.locator('#try-top-label').waitFor();
    assert.equal(await page.locator('#try-top-label').innerText(), 'bees');
    assert.equal(await page.locator('#try-result .bars li').count(), 2);

    // Download the bundle.
    const [download] = await Promise.all([page.waitForEvent('download'), page.locator('#download-link').click()]);
    assert.match(download.suggestedFilename(), /^Ants_and_bees-.*\.tar$/);
    const saved = join(work, download.suggestedFilename());
    await download.saveAs(saved);
    const tar = await readFile(saved);
    assert.ok(tar.length > 10_000 && tar.length % 512 === 0, `tar of ${tar.length} bytes`);
    assert.ok(tar.includes(Buffer.from('classifier.json')));

    await page.screenshot({ path: join(SHOTS, 'project-1280.png'), fullPage: true });
    await noHorizontalOverflow(page, 'project at 1280x800');

    // Narrow window.
    await page.setViewportSize({ width: 390, height: 844 });
    await page.screenshot({ path: join(SHOTS, 'project-390.png'), fullPage: true });
    await noHorizontalOverflow(page, 'project at 390x844');
    await page.goto(`${server.url}/#`);
    await page.getByRole('heading', { name: /Teach the computer/ }).waitFor();
    await page.screenshot({ path: join(SHOTS, 'home-390.png') });
    await noHorizontalOverflow(page, 'home at 390x844');
    assert.deepEqual(pageErrors, [], 'no JavaScript errors on the page');
    t.diagnostic(`screenshots: ${SHOTS}`);
  } finally {
    await context.close();
  }
});

test('drag and drop, folder upload, remove a photo, rename and remove classes', async () => {
  const name = 'Editing';
  await setupProject(name, { ants: [], bees: [], wasps: [] });
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const { page, pageErrors } = await openPage(context, name);
  try {
    // Drag and drop three real JPEGs onto the ants drop zone.
    const ants = (await files(join(HYM, 'train', 'ants'))).slice(0, 3);
    const dragging = await dropFiles(page, 'article[data-class="ants"] .dropzone', ants);
    assert.deepEqual(dragging, { highlighted: true, after: false }, 'the card is highlighted while dragging over it');
    await countOf(page, 'ants').filter({ hasText: '3 photos' }).waitFor();
    assert.equal(await page.locator('article[data-class="ants"] .thumbs img').count(), 3);
    await page.locator('#status', { hasText: 'Added 3 photos to “ants”' }).waitFor();

    // A folder (with a file that is not a photo) through the webkitdirectory input.
    const folder = join(work, 'bee-folder');
    await mkdir(folder, { recursive: true });
    const bees = (await files(join(HYM, 'train', 'bees'))).slice(0, 4);
    for (const f of bees) await copyFile(f, join(folder, f.split('/').pop()!));
    await writeFile(join(folder, 'notes.txt'), 'not a photo');
    await page.locator('article[data-class="bees"] input[webkitdirectory]').setInputFiles(folder);
    await countOf(page, 'bees').filter({ hasText: '4 photos' }).waitFor();
    assert.equal(await page.locator('article[data-class="bees"] .thumbs img').count(), 4);
    assert.match(await page.locator('#status').innerText(), /Added 4 photos to “bees”, 1 non-image file ignored/);

    // The thumbnails really load.
    await page.waitForFunction(() =>
      [...document.querySelectorAll<HTMLImageElement>('.thumbs img')].every((i) => i.complete && i.naturalWidth > 0),
    );

    // Remove a wrong photo.
    await page.locator('article[data-class="ants"] [role=option]').nth(1).locator('.remove').click();
    await countOf(page, 'ants').filter({ hasText: '2 photos' }).waitFor();
    assert.equal(await page.locator('article[data-class="ants"] .thumbs img').count(), 2);
    const antImages = await apiCall<{ images: unknown[] }>('GET', `${projectPath(name)}/images?class=ants`);
    assert.equal(antImages.images.length, 2, 'the server has 2 ants photos left');

    // Rename a class with photos, and one without.
    for (const [from, to] of [
      ['bees', 'honeybees'],
      ['wasps', 'hornets'],
    ]) {
      await page.locator(`article[data-class="${from}"]`).getByRole('button', { name: 'Rename' }).click();
      await page.getByLabel(`New name for ${from}`).fill(to);
      await page.getByRole('button', { name: 'Save' }).click();
      await page.locator(`article[data-class="${to}"]`).waitFor();
      assert.equal(await page.locator(`article[data-class="${from}"]`).count(), 0);
    }
    assert.match(await countOf(page, 'honeybees').innerText(), /^4 photos$/, 'the photos moved with the renamed class');
    await page.waitForFunction(() =>
      [...document.querySelectorAll<HTMLImageElement>('article[data-class="honeybees"] .thumbs img')].every(
        (i) => i.complete && i.naturalWidth > 0,
      ),
    );
    let project = await apiCall<{ classes: { name: string; images: number }[]; images: number }>(
      'GET',
      projectPath(name),
    );
    assert.deepEqual(project.classes.map((c) => [c.name, c.images]).sort(), [
      ['ants', 2],
      ['honeybees', 4],
      ['hornets', 0],
    ]);

    // Remove an empty class (no question asked), then one with photos (confirmed).
    await page.locator('article[data-class="hornets"]').getByRole('button', { name: 'Remove', exact: true }).click();
    await page.locator('article[data-class="hornets"]').waitFor({ state: 'detached' });
    await page.locator('article[data-class="honeybees"]').getByRole('button', { name: 'Remove', exact: true }).click();
    await page.locator('article[data-class="honeybees"]').waitFor({ state: 'detached' });
    assert.deepEqual(
      await page.locator('article.class-card').evaluateAll((els) => els.map((e) => e.getAttribute('data-class'))),
      ['ants'],
    );
    project = await apiCall('GET', projectPath(name));
    assert.deepEqual(project.classes, [{ name: 'ants', images: 2 }]);
    assert.equal(project.images, 2);
    assert.match(await page.locator('#train-hint').innerText(), /at least two classes/);
    assert.equal(await page.locator('#train-button').isDisabled(), true);
    // The project list in the sidebar follows.
    await page.locator('#project-list a[aria-current=page]', { hasText: '1 class · 2 photos' }).waitFor();
    assert.deepEqual(pageErrors, [], 'no JavaScript errors on the page');
  } finally {
    await context.close();
  }
});

test('webcam: the fake camera streams into the video and its frames are classified live', async (t) => {
  const name = 'Webcam';
  const pick = async (cls: string) => (await files(join(HYM, 'train', cls))).slice(-12);
  await setupProject(name, { ants: await pick('ants'), bees: await pick('bees') });
  await apiCall('POST', `${projectPath(name)}/train`, { seed: 0, val: 0.2 });
  for (let i = 0; ; i++) {
    const p = await apiCall<{
      latestBundle: string | null;
      activeJob?: { state: string; error: string | null } | null;
    }>('GET', projectPath(name));
    if (p.latestBundle && !p.activeJob) break;
    assert.ok(!p.activeJob || p.activeJob.state === 'running', `training: ${JSON.stringify(p.activeJob)}`);
    assert.ok(i < 600, 'training finished within 60 s');
    await new Promise((r) => setTimeout(r, 100));
  }

  const camBrowser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [...LAUNCH_ARGS, '--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream'],
  });
  try {
    const context = await camBrowser.newContext({ viewport: { width: 1280, height: 800 } });
    await context.grantPermissions(['camera'], { origin: server.url });
    const { page, pageErrors } = await openPage(context, name);
    const button = page.locator('#webcam-button');
    await button.waitFor();
    assert.equal(await button.innerText(), 'Use webcam');
    await button.click();
    await page.locator('#try-video:not([hidden])').waitFor();
    await page.waitForFunction(() => {
      const v = document.getElementById('try-video') as HTMLVideoElement;
      const s = v.srcObject as MediaStream | null;
      return !!s && s.active && s.getVideoTracks()[0]?.readyState === 'live' && v.readyState >= 2 && v.videoWidth > 0;
    });
    assert.equal(await button.innerText(), 'Stop webcam');

    // The frames are sent to the classifier on their own (every 250 ms); the bars show a distribution.
    await page.locator('#try-result .bars li').first().waitFor({ timeout: 20_000 });
    const label = await page.locator('#try-top-label').innerText();
    const values = await page.locator('#try-result .bars .bar-value').allInnerTexts();
    const probs = values.map((v) => Number(v.replace('%', '')) / 100);
    t.diagnostic(`fake camera frame → ${label}: ${values.join(', ')}`);
    assert.equal(probs.length, 2);
    assert.ok(['ants', 'bees'].includes(label));
    assert.ok(probs.every((p) => p >= 0 && p <= 1));
    assert.ok(
      Math.abs(probs.reduce((a, b) => a + b, 0) - 1) < 0.005,
      `probabilities sum to ${probs.reduce((a, b) => a + b, 0)}`,
    );
    // Live: a later frame is classified again (the timing line is redrawn).
    const first = await page.locator('#try-result').evaluate((el) => el.firstElementChild);
    await page.waitForFunction((old) => document.querySelector('#try-result')!.firstElementChild !== old, first, {
      timeout: 10_000,
    });
    await page.screenshot({ path: join(SHOTS, 'webcam-1280.png') });

    // Choosing a photo while a webcam frame is still being classified: the photo's answer is the one that stays.
    // (Webcam frames are held back 800 ms by the route, so one is always in flight when the photo is chosen.)
    const [bee] = await files(join(HYM, 'val', 'bees'));
    const beeBytes = await readFile(bee);
    await page.route('**/predict*', async (route) => {
      if (route.request().postDataBuffer()?.length !== beeBytes.length) await new Promise((r) => setTimeout(r, 800));
      await route.continue();
    });
    await page.waitForTimeout(300);
    await page.locator('#try-file').setInputFiles(bee);
    await page.locator('#try-top-label', { hasText: 'bees' }).waitFor();
    await page.waitForTimeout(1200);
    assert.equal(
      await page.locator('#try-top-label').innerText(),
      'bees',
      'a late webcam frame does not replace the answer for the chosen photo',
    );
    assert.equal(await page.locator('#try-video').isHidden(), true);
    assert.equal(await button.innerText(), 'Use webcam');
    await page.unroute('**/predict*');

    // Webcam again, then stop it.
    await button.click();
    await page.locator('#try-video:not([hidden])').waitFor();
    await page.locator('#try-top-label', { hasText: /ants|bees/ }).waitFor();

    // Stop: the camera is released.
    await button.click();
    assert.equal(await button.innerText(), 'Use webcam');
    await page.locator('#try-video[hidden]').waitFor({ state: 'attached' });
    assert.equal(await page.locator('#try-video').evaluate((v: HTMLVideoElement) => v.srcObject), null);
    assert.deepEqual(pageErrors, [], 'no JavaScript errors on the page');
    await context.close();
  } finally {
    await camBrowser.close();
  }
});
