// Issue 25: a project moves between machines as one .tar. A trained project is exported from one server and imported
// under a new name by a second server with its own projects folder: the same classes, the same photos (by sha256),
// the bundle, and its classifier gives the same top-1 (and probabilities) on held-out photos. Real servers, photos
// and training.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { env } from '../../src/util/env.js';
import { startServer, type TlServer } from '../../src/serve/server.js';
import { cleanup, DATASETS_DIR, filesIn, MODELS_DIR, ROOT, sleep, tempDir } from '../helpers.js';

const HYM = join(DATASETS_DIR, 'hymenoptera_data');
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const WEB_SRC = join(ROOT, 'web');
const WEB_OUT = join(ROOT, 'dist/web');

/** The archive the first test exported (the page test imports it). */
let exportedArchive: Buffer | undefined;

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

/** The manifest of a project archive (its first entry). */
function manifestOf(tar: Buffer): any {
  return JSON.parse(tar.subarray(512, 512 + parseInt(tar.subarray(124, 136).toString('ascii'), 8)).toString('utf8'));
}

let work: string;
let a: TlServer;
let b: TlServer;

async function call(server: TlServer, method: string, path: string, body?: BodyInit, type?: string) {
  const res = await fetch(`${server.url}${path}`, {
    method,
    body,
    headers: type ? { 'content-type': type } : undefined,
  });
  const buf = Buffer.from(await res.arrayBuffer());
  let json: any;
  try {
    json = JSON.parse(buf.toString('utf8'));
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, buf, json, text: buf.toString('utf8').slice(0, 500) };
}

/** sha256 of every photo of a project, by class (read from its folder). */
async function photoHashes(projectDir: string): Promise<Record<string, string[]>> {
  const out: Record<string, string[]> = {};
  for (const cls of (await readdir(join(projectDir, 'images'))).sort())
    out[cls] = (
      await Promise.all(
        (await readdir(join(projectDir, 'images', cls))).map(async (f) =>
          createHash('sha256')
            .update(await readFile(join(projectDir, 'images', cls, f)))
            .digest('hex'),
        ),
      )
    ).sort();
  return out;
}

before(async () => {
  work = await tempDir('tl-serve-archive-');
  env.cacheDir = join(work, 'cache');
  env.modelsDir = MODELS_DIR;
  env.allowDownloads = false;
  a = await startServer({ port: 0, projectsDir: join(work, 'machine-a'), webDir: null });
  b = await startServer({ port: 0, projectsDir: join(work, 'machine-b'), webDir: null });
});

after(async () => {
  await a?.close();
  await b?.close();
  await cleanup(work);
});

test('export a trained project, import it under a new name on another server: same classes, photos, bundle and top-1', async () => {
  const created = await call(
    a,
    'POST',
    '/v1/projects',
    JSON.stringify({ name: 'bugs', classes: ['ants', 'bees'] }),
    'application/json',
  );
  assert.equal(created.status, 201, created.text);
  for (const cls of ['ants', 'bees']) {
    const form = new FormData();
    for (const f of (await filesIn(join(HYM, 'train', cls))).slice(0, 10))
      form.append('file', new Blob([await readFile(f)], { type: 'image/jpeg' }), f.split('/').pop());
    const r = await call(a, 'POST', `/v1/projects/bugs/classes/${cls}/images`, form);
    assert.equal(r.status, 201, r.text);
  }
  const t = await call(a, 'POST', '/v1/projects/bugs/train', JSON.stringify({ seed: 0 }), 'application/json');
  assert.equal(t.status, 202, t.text);
  let job = t.json.job;
  for (let i = 0; i < 1200 && job.state === 'running'; i++) {
    await sleep(200);
    job = (await call(a, 'GET', `/v1/jobs/${job.id}`)).json;
  }
  assert.equal(job.state, 'done', job.error ?? '');

  const archive = await call(a, 'GET', '/v1/projects/bugs/archive');
  assert.equal(archive.status, 200, archive.text);
  assert.equal(archive.headers.get('content-type'), 'application/x-tar');
  assert.match(archive.headers.get('content-disposition') ?? '', /attachment; filename="bugs\.tl-project\.tar"/);
  exportedArchive = archive.buf;
  const manifest = manifestOf(archive.buf);
  assert.equal(manifest.format, 'tl-project');
  assert.equal(manifest.formatVersion, 1);
  assert.match(manifest.tlVersion, /^\d+\.\d+\.\d+/);
  assert.deepEqual(manifest.classes, ['ants', 'bees']);
  assert.equal(manifest.photos.length, 20);
  assert.equal(manifest.bundles.length, 1);
  assert.ok(manifest.bundles[0].files.some((f: { name: string }) => f.name === 'classifier.json'));

  // Raw body with a new name; a multipart upload (the page's way) with the name as a field.
  const imported = await call(b, 'POST', '/v1/projects/import?name=bugs%20moved', archive.buf, 'application/x-tar');
  assert.equal(imported.status, 201, imported.text);
  assert.deepEqual(imported.json.imported, { photos: 20, bundles: 1 });
  assert.equal(imported.json.project.name, 'bugs moved');
  const form = new FormData();
  form.append('name', 'bugs again');
  form.append('file', new Blob([archive.buf], { type: 'application/x-tar' }), 'bugs.tl-project.tar');
  const viaForm = await call(b, 'POST', '/v1/projects/import', form);
  assert.equal(viaForm.status, 201, viaForm.text);
  assert.equal(viaForm.json.project.name, 'bugs again');

  const [pa, pb] = [
    (await call(a, 'GET', '/v1/projects/bugs')).json,
    (await call(b, 'GET', '/v1/projects/bugs%20moved')).json,
  ];
  assert.deepEqual(pb.classes, pa.classes, 'the same classes, in order, with the same counts');
  assert.equal(pb.latestBundle, pa.latestBundle);
  assert.deepEqual(
    await photoHashes(join(work, 'machine-b', 'bugs moved')),
    await photoHashes(join(work, 'machine-a', 'bugs')),
  );
  const order = (r: { json: { images: { class: string; file: string }[] } }) =>
    r.json.images.map((i) => `${i.class}/${i.file}`);
  assert.deepEqual(
    order(await call(b, 'GET', '/v1/projects/bugs%20moved/images')),
    order(await call(a, 'GET', '/v1/projects/bugs/images')),
    'photos keep their order (time added)',
  );
  const results = await call(b, 'GET', '/v1/projects/bugs%20moved/results');
  assert.equal(results.status, 200, results.text);
  assert.equal(results.json.accuracy, (await call(a, 'GET', '/v1/projects/bugs/results')).json.accuracy);

  const held = [
    ...(await filesIn(join(HYM, 'val/ants'))).slice(0, 3),
    ...(await filesIn(join(HYM, 'val/bees'))).slice(0, 2),
  ];
  for (const f of held) {
    const bytes = await readFile(f);
    const pa = await call(a, 'POST', '/v1/projects/bugs/predict', bytes, 'image/jpeg');
    const pb = await call(b, 'POST', '/v1/projects/bugs%20moved/predict', bytes, 'image/jpeg');
    assert.equal(pa.status, 200, pa.text);
    assert.equal(pb.status, 200, pb.text);
    assert.equal(pb.json.label, pa.json.label, f);
    assert.ok(
      Math.abs(pb.json.probability - pa.json.probability) < 1e-6,
      `${f}: ${pa.json.probability} vs ${pb.json.probability}`,
    );
  }
  // Nothing is left of the import's staging folders.
  assert.deepEqual((await readdir(join(work, 'machine-b'))).sort(), ['bugs again', 'bugs moved']);
});

test('the page: "Import a project" (file + new name) opens the imported project; its "Download project (.tar)" gives the same photos', async () => {
  assert.ok(exportedArchive, 'the first test exported an archive');
  assert.ok(existsSync(CHROMIUM), `Chromium not found at ${CHROMIUM}`);
  await ensureWebBuilt();
  const web = await startServer({ port: 0, projectsDir: join(work, 'machine-c') });
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu'] });
  try {
    const tarPath = join(work, 'bugs.tl-project.tar');
    await writeFile(tarPath, exportedArchive);
    const context = await browser.newContext({ acceptDownloads: true });
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(web.url);
    await page.getByRole('heading', { name: 'Import a project' }).waitFor();
    await page.getByLabel('Project file (.tar)').setInputFiles(tarPath);
    await page.getByLabel('Name (optional)').fill('Bugs from elsewhere');
    await page.getByRole('button', { name: 'Import' }).click();
    await page.waitForURL(/#\/p\/Bugs%20from%20elsewhere$/);
    await page.locator('#project-title', { hasText: 'Bugs from elsewhere' }).waitFor();
    assert.match(
      (await page.locator('#status').textContent()) ?? '',
      /Imported project “Bugs from elsewhere”: 20 photos, 1 trained classifier\./,
    );
    await page.locator('#project-list a', { hasText: 'Bugs from elsewhere' }).waitFor();
    // An import under a name that exists is refused with the server's message, and nothing changes.
    await page.getByLabel('Project file (.tar)').setInputFiles(tarPath);
    await page.getByLabel('Name (optional)').fill('Bugs from elsewhere');
    await page.getByRole('button', { name: 'Import' }).click();
    await page.locator('#status[data-kind=error]', { hasText: 'already exists' }).waitFor();
    assert.deepEqual(await readdir(join(work, 'machine-c')), ['Bugs from elsewhere']);

    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.getByRole('link', { name: 'Download project (.tar)' }).click(),
    ]);
    assert.equal(download.suggestedFilename(), 'Bugs_from_elsewhere.tl-project.tar');
    const again = await readFile((await download.path())!);
    const [before, after] = [manifestOf(exportedArchive), manifestOf(again)];
    assert.equal(after.project, 'Bugs from elsewhere');
    assert.deepEqual(after.classes, before.classes);
    const hashes = (m: { photos: { class: string; sha256: string }[] }) =>
      m.photos.map((p) => `${p.class} ${p.sha256}`).sort();
    assert.deepEqual(hashes(after), hashes(before));
    assert.deepEqual(
      after.bundles.map((b: { stamp: string }) => b.stamp),
      before.bundles.map((b: { stamp: string }) => b.stamp),
    );
    assert.deepEqual(errors, []);
    await context.close();
  } finally {
    await browser.close();
    await web.close();
  }
});
