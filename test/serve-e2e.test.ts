// The web app end to end in headless Chromium (playwright-core + Debian's /usr/bin/chromium): create a project, two
// classes, upload the real hymenoptera training photos, train, read the accuracy on the page, try a photo, download
// the bundle; screenshots at 1280x800 and 390x844 with no horizontal overflow.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, statSync } from 'node:fs';
import { mkdir, readdir, readFile, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { env } from '../src/env.js';
import { startServer, type TlServer } from '../src/serve/server.js';
import { cleanup, DATASETS_DIR, MODELS_DIR, ROOT, tempDir } from './helpers.js';

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
  const { scrollWidth, innerWidth } = await page.evaluate(() => ({ scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth }));
  assert.ok(scrollWidth <= innerWidth, `${what}: page is ${scrollWidth}px wide in a ${innerWidth}px window`);
}

async function files(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((f) => !f.startsWith('.')).sort().map((f) => join(dir, f));
}

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
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
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
      await page.locator(`article[data-class="${cls}"] [data-testid=class-count]`, { hasText: `${paths.length} photos` }).waitFor({ timeout: 90_000 });
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
