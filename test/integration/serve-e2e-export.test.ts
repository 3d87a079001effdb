// Issue 25 item 1, in headless Chromium: a trained project's Results panel names the backbone and the rung, exports
// the classifier as ONNX from the page (the agreement check shown, the .tar downloads), and the page's own browser
// snippet, put beside the export's files in a second page, runs it with onnxruntime-web (from node_modules, served
// where the snippet's CDN URL points) giving the server's top-1 on 10 held-out photos.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { env } from '../../src/util/env.js';
import { startServer, type TlServer } from '../../src/serve/server.js';
import { cleanup, DATASETS_DIR, filesIn, MODELS_DIR, ROOT, sleep, tempDir } from '../helpers.js';
import { runSnippetInPage, serverTop1 } from './serve-browser.js';

const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const HYM = join(DATASETS_DIR, 'hymenoptera_data');
const WEB_SRC = join(ROOT, 'web');
const WEB_OUT = join(ROOT, 'dist/web');

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

async function ensureWebBuilt(): Promise<void> {
  const index = join(WEB_OUT, 'index.html');
  if (existsSync(index) && statSync(index).mtimeMs >= (await newestMtime(WEB_SRC))) return;
  const { build } = await import('vite');
  await build({ root: WEB_SRC, logLevel: 'warn', build: { outDir: WEB_OUT, emptyOutDir: true } });
}

async function api<T = any>(method: string, path: string, body?: object | FormData): Promise<T> {
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

before(async () => {
  assert.ok(existsSync(CHROMIUM), `Chromium not found at ${CHROMIUM}`);
  work = await tempDir('tl-serve-e2e-export-');
  env.cacheDir = join(work, 'cache');
  env.modelsDir = MODELS_DIR;
  env.allowDownloads = false;
  await ensureWebBuilt();
  server = await startServer({ port: 0, projectsDir: join(work, 'projects') });
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu'] });
});

after(async () => {
  await browser?.close();
  await server?.close();
  await cleanup(work);
});

test('export ONNX from the Results panel; its browser snippet runs it with onnxruntime-web: the same top-1 as the server on 10 photos', async (t) => {
  await api('POST', '/v1/projects', { name: 'bugs', classes: ['ants', 'bees'] });
  for (const cls of ['ants', 'bees']) {
    const form = new FormData();
    for (const f of (await filesIn(join(HYM, 'train', cls))).slice(0, 15))
      form.append('file', new Blob([await readFile(f)], { type: 'image/jpeg' }), f.split('/').pop());
    await api('POST', `/v1/projects/bugs/classes/${cls}/images`, form);
  }
  const { job } = await api('POST', '/v1/projects/bugs/train', { seed: 0 });
  for (let i = 0; i < 600 && (await api('GET', `/v1/jobs/${job.id}`)).state === 'running'; i++) await sleep(200);
  assert.equal((await api('GET', `/v1/jobs/${job.id}`)).state, 'done');
  const results = await api('GET', '/v1/projects/bugs/results');

  const context = await browser.newContext({ acceptDownloads: true });
  const page = await context.newPage();
  const pageErrors: string[] = [];
  page.on('pageerror', (e) => pageErrors.push(e.message));
  await page.goto(`${server.url}/#/p/bugs`);
  await page.locator('#accuracy').waitFor();
  assert.equal(await page.getByTestId('result-backbone').textContent(), results.backbone);
  assert.equal(await page.getByTestId('result-rung').textContent(), 'head');
  assert.match((await page.getByTestId('provenance').textContent()) ?? '', /validation split, never used in training/);

  const t0 = Date.now();
  await page.click('#export-onnx');
  const check = page.getByTestId('export-check-onnx');
  await check.waitFor({ timeout: 180_000 });
  t.diagnostic(`ONNX export + check from the page: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  assert.match((await check.textContent()) ?? '', /same top class as the classifier on 100\.0%/);
  const [download] = await Promise.all([
    page.waitForEvent('download'),
    page.getByTestId('export-download-onnx').click(),
  ]);
  const tarPath = join(work, 'export.tar');
  await download.saveAs(tarPath);
  const listing = spawnSync('tar', ['-tf', tarPath], { encoding: 'utf8' });
  assert.equal(listing.status, 0, listing.stderr);
  assert.match(listing.stdout, /model\.onnx/);
  assert.match(listing.stdout, /metadata\.json/);
  const snippet = (await page.getByTestId('snippet-onnx-browser').textContent()) ?? '';
  assert.match(snippet, /onnxruntime-web@[\d.]+\/dist\/ort\.min\.js/);
  assert.deepEqual(pageErrors, []);

  // A second page: the snippet beside the export's files (as a user who unpacked the .tar would serve them).
  const [onnx] = (await api('GET', results.exportsUrl)).exports;
  const photos = [
    ...(await filesIn(join(HYM, 'val', 'ants'))).slice(0, 5),
    ...(await filesIn(join(HYM, 'val', 'bees'))).slice(0, 5),
  ];
  const files = async (name: string) => {
    const res = await fetch(`${server.url}${onnx.filesUrl}${name}`);
    return { status: res.status, body: Buffer.from(await res.arrayBuffer()) };
  };
  const inBrowser = await runSnippetInPage(context, server.url, snippet, files, photos);
  const byServer = await serverTop1(server.url, 'bugs', photos);
  t.diagnostic(`server ${byServer.join(',')}; onnxruntime-web ${inBrowser.join(',')}`);
  assert.deepEqual(inBrowser, byServer);
  await context.close();
});
