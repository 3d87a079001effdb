// Issue 25: a project archive that is damaged, hostile or clashes is refused with a clear 4xx, and nothing is created:
// a truncated download, a tar entry `../../x`, a photo whose bytes do not match its sha256, a name that exists, an
// archive over TL_MAX_ARCHIVE_BYTES, a photo that is not an image. The projects folder is listed before and after.
// Real server on 127.0.0.1, real photos.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { dirname, join, relative } from 'node:path';
import { pack as tarPack } from 'tar-stream';
import { env } from '../../src/util/env.js';
import { startServer, type TlServer } from '../../src/serve/server.js';
import { cleanup, DATASETS_DIR, filesIn, MODELS_DIR, sleep, tempDir } from '../helpers.js';

const HYM_TRAIN = join(DATASETS_DIR, 'hymenoptera_data/train');

let work: string;
let projectsDir: string;
let server: TlServer;
let archive: Buffer;

async function call(path: string, init: RequestInit = {}) {
  const res = await fetch(`${server.url}${path}`, init);
  const text = await res.text();
  let body: any;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  return { status: res.status, text, json: body };
}

const importTar = (tar: Buffer, name?: string) =>
  call(`/v1/projects/import${name ? `?name=${encodeURIComponent(name)}` : ''}`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-tar' },
    body: tar,
  });

/** Every path under the projects folder (files and folders), to show that a refused import left nothing. */
async function listing(dir = projectsDir): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    out.push(relative(projectsDir, join(dir, e.name)));
    if (e.isDirectory()) out.push(...(await listing(join(dir, e.name))));
  }
  return out.sort();
}

/** A tar entry (header, data, padding) as tar-stream packs it (the archive's end blocks left off). */
async function entry(path: string, data: Buffer): Promise<Buffer> {
  const pack = tarPack();
  pack.entry({ name: path, mtime: new Date() }, data);
  pack.finalize();
  const parts: Buffer[] = [];
  for await (const piece of pack) parts.push(Buffer.from(piece as Uint8Array));
  const tar = Buffer.concat(parts);
  return tar.subarray(0, tar.length - 1024);
}

/** Offset of the entry after the one starting at `at`. */
function nextEntry(tar: Buffer, at: number): number {
  const size = parseInt(
    tar
      .subarray(at + 124, at + 136)
      .toString('ascii')
      .replace(/\0.*$/, ''),
    8,
  );
  return at + 512 + Math.ceil(size / 512) * 512;
}

function manifestOf(tar: Buffer): any {
  const size = nextEntry(tar, 0) - 512;
  return JSON.parse(
    tar
      .subarray(512, 512 + size)
      .toString('utf8')
      .replace(/\0+$/, ''),
  );
}

/** The archive rebuilt from a (changed) manifest and (changed) entries. */
async function rebuild(
  tar: Buffer,
  manifest: unknown,
  change: (path: string, data: Buffer) => Buffer = (_p, d) => d,
): Promise<Buffer> {
  const parts = [await entry('tl-project.json', Buffer.from(JSON.stringify(manifest)))];
  for (let at = nextEntry(tar, 0); tar[at] !== 0; at = nextEntry(tar, at)) {
    const name = tar
      .subarray(at, at + 100)
      .toString('utf8')
      .replace(/\0.*$/s, '');
    const prefix = tar
      .subarray(at + 345, at + 500)
      .toString('utf8')
      .replace(/\0.*$/s, '');
    const size = parseInt(
      tar
        .subarray(at + 124, at + 136)
        .toString('ascii')
        .replace(/\0.*$/, ''),
      8,
    );
    const path = prefix ? `${prefix}/${name}` : name;
    parts.push(await entry(path, change(path, tar.subarray(at + 512, at + 512 + size))));
  }
  return Buffer.concat([...parts, Buffer.alloc(1024)]);
}

async function expectRefused(
  r: { status: number; text: string; json: any },
  status: number,
  code: string,
  message: RegExp,
  before: string[],
) {
  assert.equal(r.status, status, r.text);
  assert.equal(r.json?.error?.code, code, r.text);
  assert.match(r.json.error.message, message);
  assert.match(r.json.error.message, /nothing was imported/);
  assert.deepEqual(await listing(), before, 'the projects folder is as it was');
}

before(async () => {
  work = await tempDir('tl-faults-archive-');
  projectsDir = join(work, 'projects');
  env.cacheDir = join(work, 'cache');
  env.modelsDir = MODELS_DIR;
  env.allowDownloads = false;
  server = await startServer({ port: 0, projectsDir, webDir: null });
  const create = await call('/v1/projects', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'bugs', classes: ['ants', 'bees'] }),
  });
  assert.equal(create.status, 201, create.text);
  for (const cls of ['ants', 'bees']) {
    const form = new FormData();
    for (const f of (await filesIn(join(HYM_TRAIN, cls))).slice(0, 3))
      form.append('file', new Blob([await readFile(f)], { type: 'image/jpeg' }), f.split('/').pop());
    const r = await call(`/v1/projects/bugs/classes/${cls}/images`, { method: 'POST', body: form });
    assert.equal(r.status, 201, r.text);
  }
  const res = await fetch(`${server.url}/v1/projects/bugs/archive`);
  assert.equal(res.status, 200);
  archive = Buffer.from(await res.arrayBuffer());
});

after(async () => {
  await server?.close();
  await cleanup(work);
});

describe('importing a bad project archive (issue 25): a clear 4xx, nothing created', () => {
  test('the archive itself imports under a new name (the fixtures are sound)', async () => {
    const r = await importTar(archive, 'bugs copy');
    assert.equal(r.status, 201, r.text);
    assert.equal(r.json.imported.photos, 6);
    assert.equal((await call('/v1/projects/bugs%20copy', { method: 'DELETE' })).status, 204);
  });

  test('a truncated download: 400 archive_truncated', async () => {
    const before = await listing();
    for (const cut of [0.5, 0.999]) {
      const r = await importTar(archive.subarray(0, Math.floor(archive.length * cut)), 'cut');
      await expectRefused(r, 400, 'archive_truncated', /truncated/, before);
    }
    // Whole entries only, but the end marker and the last photos are missing.
    let at = 0;
    for (let i = 0; i < 4; i++) at = nextEntry(archive, at);
    await expectRefused(await importTar(archive.subarray(0, at), 'cut'), 400, 'archive_truncated', /truncated/, before);
  });

  test('a tar entry ../../x: 400 archive_unsafe_path, and no x is written outside', async () => {
    const before = await listing();
    const afterManifest = nextEntry(archive, 0);
    const hostile = Buffer.concat([
      archive.subarray(0, afterManifest),
      await entry('../../x', Buffer.from('owned\n')),
      archive.subarray(afterManifest),
    ]);
    await expectRefused(await importTar(hostile, 'hostile'), 400, 'archive_unsafe_path', /\.\.\/\.\.\/x/, before);
    assert.ok(!existsSync(join(dirname(dirname(projectsDir)), 'x')) && !existsSync(join(dirname(projectsDir), 'x')));
    // The same path named by the manifest itself.
    const m = manifestOf(archive);
    m.photos[0].path = '../../x';
    await expectRefused(
      await importTar(await rebuild(archive, m, (p, d) => d), 'hostile'),
      400,
      'archive_unsafe_path',
      /\.\.\/\.\.\/x/,
      before,
    );
  });

  test('a photo whose bytes do not match its sha256: 422 archive_hash_mismatch', async () => {
    const before = await listing();
    const m = manifestOf(archive);
    const target = m.photos[2].path;
    const altered = await rebuild(archive, m, (path, data) => {
      if (path !== target) return data;
      const copy = Buffer.from(data);
      copy[copy.length >> 1] ^= 0xff;
      return copy;
    });
    await expectRefused(
      await importTar(altered, 'altered'),
      422,
      'archive_hash_mismatch',
      new RegExp(`${target.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} does not match its sha256`),
      before,
    );
  });

  test('a photo that is not an image (its sha256 right): refused as an upload is, 422 undecodable_image', async () => {
    const before = await listing();
    const m = manifestOf(archive);
    const text = Buffer.from('<html>not a photo</html>\n');
    m.photos[1].sha256 = createHash('sha256').update(text).digest('hex');
    m.photos[1].bytes = text.length;
    const r = await importTar(
      await rebuild(archive, m, (path, data) => (path === m.photos[1].path ? text : data)),
      'html',
    );
    await expectRefused(r, 422, 'undecodable_image', /archive photo: cannot decode/, before);
  });

  test('a name that exists: 409 project_exists (its own name, or the new name), never overwritten', async () => {
    const before = await listing();
    const project = await call('/v1/projects/bugs');
    await expectRefused(
      await importTar(archive),
      409,
      'project_exists',
      /"bugs" already exists; import it under a new name/,
      before,
    );
    await expectRefused(await importTar(archive, 'bugs'), 409, 'project_exists', /"bugs" already exists/, before);
    assert.deepEqual((await call('/v1/projects/bugs')).json, project.json, 'the existing project is unchanged');
  });

  test('over TL_MAX_ARCHIVE_BYTES: 413 payload_too_large; not a tar, or an empty body: 400', async () => {
    const before = await listing();
    env.maxArchiveBytes = 4096;
    try {
      const r = await importTar(archive, 'big');
      await expectRefused(r, 413, 'payload_too_large', /TL_MAX_ARCHIVE_BYTES/, before);
    } finally {
      env.maxArchiveBytes = undefined;
    }
    await expectRefused(
      await importTar(Buffer.alloc(2048, 0x41), 'junk'),
      400,
      'archive_invalid',
      /not a tar archive/,
      before,
    );
    await expectRefused(await importTar(Buffer.alloc(0), 'empty'), 400, 'archive_truncated', /truncated/, before);
  });

  test('a client that goes away half-way, and a server killed during an import: nothing is left', async () => {
    const before = await listing();
    // Half the archive, then the connection is dropped.
    await new Promise<void>((resolve, reject) => {
      const req = request(`${server.url}/v1/projects/import?name=dropped`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-tar', 'content-length': archive.length },
      });
      req.on('error', () => resolve());
      req.on('response', () => reject(new Error('the server answered a request that was never finished')));
      req.write(archive.subarray(0, archive.length >> 1), () => setTimeout(() => req.destroy(), 300));
    });
    for (let i = 0; i < 50 && (await listing()).some((p) => p.startsWith('.importing-')); i++) await sleep(100);
    assert.deepEqual(await listing(), before, 'the staging folder of the dropped import is gone');
    // A kill leaves its staging folder (never listed: not a project name); the next start removes it.
    await mkdir(join(projectsDir, '.importing-0123456789abcdef', 'incoming'), { recursive: true });
    await writeFile(join(projectsDir, '.importing-0123456789abcdef', 'incoming', '0'), 'half a photo');
    assert.deepEqual(
      (await call('/v1/projects')).json.projects.map((p: { name: string }) => p.name),
      ['bugs'],
    );
    await server.close();
    server = await startServer({ port: 0, projectsDir, webDir: null });
    // (a start also empties each project's upload staging folder, tmp/)
    assert.deepEqual(
      await listing(),
      before.filter((p) => p !== 'bugs/tmp'),
    );
  });

  test('multipart: a refused archive is answered (the rest of the upload is read), not a reset connection', async () => {
    const before = await listing();
    const form = new FormData();
    form.append('name', 'bugs');
    form.append('file', new Blob([archive], { type: 'application/x-tar' }), 'bugs.tl-project.tar');
    await expectRefused(
      await call('/v1/projects/import', { method: 'POST', body: form }),
      409,
      'project_exists',
      /"bugs" already exists/,
      before,
    );
    const truncated = new FormData();
    truncated.append('name', 'cut');
    truncated.append('file', new Blob([archive.subarray(0, 5000)]), 'cut.tar');
    await expectRefused(
      await call('/v1/projects/import', { method: 'POST', body: truncated }),
      400,
      'archive_truncated',
      /truncated/,
      before,
    );
  });
});
