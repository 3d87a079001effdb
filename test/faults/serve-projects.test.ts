// Issue 10 items 7-10 and 16: the project API under bad input, over real HTTP against a real server on 127.0.0.1 with
// real hymenoptera photos and a real (small) training run: malformed multipart bodies, all-or-nothing uploads, a
// damaged project.json, absolute server paths in what is downloaded, request-body validation, one image-type rule.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { cp, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { env } from '../../src/util/env.js';
import { startServer, type TlServer } from '../../src/serve/server.js';
import { cleanup, DATASETS_DIR, MODELS_DIR, sleep, tempDir } from '../helpers.js';

const HYM = join(DATASETS_DIR, 'hymenoptera_data');

let work: string;
let projectsDir: string;
let server: TlServer;

interface Res {
  status: number;
  text: string;
  json: any;
  bytes: Buffer;
}

async function call(path: string, init: RequestInit = {}): Promise<Res> {
  const res = await fetch(`${server.url}${path}`, init);
  const bytes = Buffer.from(await res.arrayBuffer());
  const text = bytes.toString('utf8');
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, text, json, bytes };
}

const postJson = (path: string, body: unknown, method = 'POST') =>
  call(path, { method, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

function expectError(r: Res, status: number, code: string, pattern?: RegExp): void {
  assert.equal(r.status, status, `expected ${status}, got ${r.status}: ${r.text}`);
  assert.equal(r.json?.error?.status, status, r.text);
  assert.equal(r.json.error.code, code, r.text);
  if (pattern) assert.match(r.json.error.message, pattern);
  assert.doesNotMatch(r.text, /\n\s+at /, 'no stack trace');
}

async function photos(split: 'train' | 'val', cls: string, n: number): Promise<string[]> {
  return (await readdir(join(HYM, split, cls)))
    .sort()
    .slice(0, n)
    .map((f) => join(HYM, split, cls, f));
}

async function form(files: { path?: string; name?: string; data?: Buffer; type?: string }[]): Promise<FormData> {
  const f = new FormData();
  for (const x of files)
    f.append(
      'file',
      new Blob([x.data ?? (await readFile(x.path!))], { type: x.type ?? 'image/jpeg' }),
      x.name ?? x.path!.split('/').pop(),
    );
  return f;
}

/** The image files of a class folder and what is left in the project's staging folder. */
async function onDisk(project: string, cls: string): Promise<{ images: string[]; staging: string[] }> {
  const dir = join(projectsDir, project);
  const images = existsSync(join(dir, 'images', cls)) ? await readdir(join(dir, 'images', cls)) : [];
  const staging = existsSync(join(dir, 'tmp')) ? await readdir(join(dir, 'tmp')) : [];
  return { images, staging };
}

const svg = Buffer.from(
  '<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64"><rect width="64" height="64" fill="red"/></svg>',
);
let gif: Buffer;

/** Multipart bodies that are not well-formed: no boundary, garbage, cut off inside a header, cut off inside a file. */
async function malformedBodies(): Promise<{ what: string; type: string; body: Buffer }[]> {
  const jpeg = await readFile((await photos('val', 'ants', 1))[0]);
  const head =
    '--XYZ\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"\r\nContent-Type: image/jpeg\r\n\r\n';
  return [
    { what: 'no boundary', type: 'multipart/form-data', body: Buffer.from('garbage garbage garbage') },
    { what: 'garbage', type: 'multipart/form-data; boundary=XYZ', body: Buffer.from('garbage garbage garbage') },
    {
      what: 'cut in a part header',
      type: 'multipart/form-data; boundary=XYZ',
      body: Buffer.from('--XYZ\r\nContent-Disposition: form-data; name="file"; filena'),
    },
    {
      what: 'cut in the file',
      type: 'multipart/form-data; boundary=XYZ',
      body: Buffer.concat([Buffer.from(head), jpeg.subarray(0, 5000)]),
    },
    {
      what: 'second file cut',
      type: 'multipart/form-data; boundary=XYZ',
      body: Buffer.concat([Buffer.from(head), jpeg, Buffer.from('\r\n' + head), jpeg.subarray(0, 100)]),
    },
  ];
}

before(async () => {
  work = await tempDir('tl-serve-faults-');
  projectsDir = join(work, 'projects');
  env.cacheDir = join(work, 'cache');
  env.modelsDir = MODELS_DIR;
  env.allowDownloads = false;
  gif = await sharp({ create: { width: 32, height: 32, channels: 3, background: { r: 200, g: 10, b: 10 } } })
    .gif()
    .toBuffer();
  server = await startServer({ port: 0, projectsDir, webDir: null });
});

after(async () => {
  await server?.close();
  await cleanup(work);
});

describe('request bodies (item 16)', () => {
  test('create: case-only duplicate classes, a non-array classes, unknown fields are 400; nothing is created', async () => {
    expectError(
      await postJson('/v1/projects', { name: 'dup', classes: ['x', 'X'] }),
      400,
      'duplicate_class',
      /"X" is listed twice/,
    );
    expectError(
      await postJson('/v1/projects', { name: 'notarray', classes: 'notarray' }),
      400,
      'invalid_body',
      /classes/,
    );
    expectError(await postJson('/v1/projects', { name: 'typo', clases: ['a', 'b'] }), 400, 'invalid_body', /clases/);
    expectError(await postJson('/v1/projects', { name: 'nums', classes: [1, 2] }), 400, 'invalid_body', /classes\.0/);
    expectError(await postJson('/v1/projects', ['a']), 400, 'invalid_body');
    expectError(await postJson('/v1/projects', { classes: ['a'] }), 400, 'invalid_body', /name/);
    assert.deepEqual((await call('/v1/projects')).json.projects, []);
    assert.deepEqual(existsSync(projectsDir) ? (await readdir(projectsDir)).filter((f) => !f.startsWith('.')) : [], []);
    // Adding or renaming a class checks its body the same way.
    assert.equal((await postJson('/v1/projects', { name: 'body', classes: ['a'] })).status, 201);
    expectError(await postJson('/v1/projects/body/classes', { name: 5 }), 400, 'invalid_body', /name/);
    expectError(await postJson('/v1/projects/body/classes', { name: 'A' }), 409, 'class_exists');
    expectError(await postJson('/v1/projects/body/classes/a', { name: ['b'] }, 'PATCH'), 400, 'invalid_body');
    assert.equal((await call('/v1/projects/body', { method: 'DELETE' })).status, 204);
  });
});

describe('uploads (items 7, 8)', () => {
  before(async () => {
    assert.equal((await postJson('/v1/projects', { name: 'up', classes: ['ants', 'bees'] })).status, 201);
  });

  test('malformed and truncated multipart bodies are 400 malformed_multipart, and store nothing', async () => {
    for (const m of await malformedBodies()) {
      const r = await call('/v1/projects/up/classes/ants/images', {
        method: 'POST',
        headers: { 'content-type': m.type },
        body: m.body,
      });
      expectError(r, 400, 'malformed_multipart', /malformed multipart/);
      assert.deepEqual(await onDisk('up', 'ants'), { images: [], staging: [] }, m.what);
    }
  });

  /** n distinct small PNGs (about 100 bytes each). */
  const tinyPngs = (n: number, salt = 0) =>
    Promise.all(
      Array.from({ length: n }, async (_, i) => ({
        name: `p${i}.png`,
        type: 'image/png',
        data: await sharp({
          create: { width: 4, height: 4, channels: 3, background: { r: i % 256, g: (i >> 8) % 256, b: salt } },
        })
          .png()
          .toBuffer(),
      })),
    );

  test('1001 files in one request: 413 too_many_parts and none of them stored, not even the first', async () => {
    const [ant] = await photos('train', 'ants', 1);
    assert.equal(
      (await call('/v1/projects/up/classes/ants/images', { method: 'POST', body: await form([{ path: ant }]) })).status,
      201,
    );
    expectError(
      await call('/v1/projects/up/classes/ants/images', { method: 'POST', body: await form(await tinyPngs(1001)) }),
      413,
      'too_many_parts',
      /at most 1000 files/,
    );
    const disk = await onDisk('up', 'ants');
    assert.equal(disk.images.length, 1, 'only the photo of the earlier request');
    assert.deepEqual(disk.staging, [], 'nothing left in the staging folder');
  });

  test('the file count is checked while receiving: refusing limit+1 files is much faster than storing limit files', async (t) => {
    const dir = join(work, 'small-limit');
    const small = await startServer({ port: 0, projectsDir: dir, webDir: null, maxFiles: 20 });
    try {
      const url = `${small.url}/v1/projects/s/classes/a/images`;
      assert.equal(
        (
          await fetch(`${small.url}/v1/projects`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: '{"name":"s","classes":["a"]}',
          })
        ).status,
        201,
      );
      // Small to send, slow to decode: 1500x1500 flat PNGs of a few KB each.
      const heavy = (n: number, salt: number) =>
        Promise.all(
          Array.from({ length: n }, async (_, i) => ({
            name: `h${i}.png`,
            type: 'image/png',
            data: await sharp({
              create: { width: 1500, height: 1500, channels: 3, background: { r: i, g: salt, b: 9 } },
            })
              .png()
              .toBuffer(),
          })),
        );
      const over = await form(await heavy(21, 1));
      const t0 = performance.now();
      const refused = await fetch(url, { method: 'POST', body: over });
      const refuseSeconds = (performance.now() - t0) / 1000;
      assert.equal(refused.status, 413);
      assert.deepEqual(await readdir(join(dir, 's', 'images', 'a')), []);
      const within = await form(await heavy(20, 2));
      const t1 = performance.now();
      const stored = await fetch(url, { method: 'POST', body: within });
      const storeSeconds = (performance.now() - t1) / 1000;
      assert.equal(stored.status, 201);
      assert.equal((await readdir(join(dir, 's', 'images', 'a'))).length, 20);
      t.diagnostic(
        `21 files refused in ${refuseSeconds.toFixed(2)} s; 20 files stored in ${storeSeconds.toFixed(2)} s`,
      );
      // Before: each file was decoded and stored as it arrived, so the refusal came after all that work.
      assert.ok(
        refuseSeconds * 2 < storeSeconds,
        `refusing (${refuseSeconds.toFixed(2)} s) is much faster than storing (${storeSeconds.toFixed(2)} s)`,
      );
    } finally {
      await small.close();
    }
  });

  test('SVG and GIF uploads: 415 unsupported_image_format; garbage: 422 undecodable_image; a good file beside them is kept', async () => {
    expectError(
      await call('/v1/projects/up/classes/ants/images', {
        method: 'POST',
        body: await form([{ data: svg, name: 'x.svg', type: 'image/svg+xml' }]),
      }),
      415,
      'unsupported_image_format',
      /"x.svg" is a SVG image/,
    );
    expectError(
      await call('/v1/projects/up/classes/ants/images', {
        method: 'POST',
        body: await form([{ data: gif, name: 'x.gif', type: 'image/gif' }]),
      }),
      415,
      'unsupported_image_format',
      /GIF/,
    );
    expectError(
      await call('/v1/projects/up/classes/ants/images', {
        method: 'POST',
        body: await form([{ data: Buffer.from('garbage'.repeat(50)), name: 'g.jpg' }]),
      }),
      422,
      'undecodable_image',
      /not an image/,
    );
    const [ant] = await photos('train', 'ants', 2).then((p) => p.slice(1));
    const mixed = await call('/v1/projects/up/classes/ants/images', {
      method: 'POST',
      body: await form([{ path: ant }, { data: gif, name: 'x.gif', type: 'image/gif' }]),
    });
    assert.equal(mixed.status, 201, mixed.text);
    assert.equal(mixed.json.added.length, 1);
    assert.deepEqual(
      mixed.json.rejected.map((x: any) => [x.file, x.code]),
      [['x.gif', 'unsupported_image_format']],
    );
    assert.equal((await onDisk('up', 'ants')).images.length, 2);
  });
});

describe('a trained project (items 7, 10, 16)', () => {
  before(async () => {
    assert.equal((await postJson('/v1/projects', { name: 'bugs', classes: ['ants', 'bees'] })).status, 201);
    for (const cls of ['ants', 'bees']) {
      const r = await call(`/v1/projects/bugs/classes/${cls}/images`, {
        method: 'POST',
        body: await form((await photos('train', cls, 10)).map((path) => ({ path }))),
      });
      assert.equal(r.status, 201, r.text);
    }
    const t = await postJson('/v1/projects/bugs/train', { seed: 0 });
    assert.equal(t.status, 202, t.text);
    for (let i = 0; i < 600; i++) {
      const job = (await call(`/v1/jobs/${t.json.job.id}`)).json;
      if (job.state === 'done') return;
      assert.ok(job.state === 'running', JSON.stringify(job));
      await sleep(250);
    }
    assert.fail('training did not finish in 150 s');
  });

  test('predict: malformed and truncated multipart bodies are 400 malformed_multipart', async () => {
    for (const m of await malformedBodies()) {
      expectError(
        await call('/v1/projects/bugs/predict', { method: 'POST', headers: { 'content-type': m.type }, body: m.body }),
        400,
        'malformed_multipart',
        undefined,
      );
    }
  });

  test('predict refuses what upload refuses: SVG and GIF 415 unsupported_image_format, garbage 422, in bodies and in multipart', async () => {
    const [ant] = await photos('val', 'ants', 1);
    const good = await call('/v1/projects/bugs/predict', {
      method: 'POST',
      headers: { 'content-type': 'image/jpeg' },
      body: await readFile(ant),
    });
    assert.equal(good.status, 200, good.text);
    expectError(
      await call('/v1/projects/bugs/predict', {
        method: 'POST',
        headers: { 'content-type': 'image/svg+xml' },
        body: svg,
      }),
      415,
      'unsupported_image_format',
      /SVG/,
    );
    expectError(
      await call('/v1/projects/bugs/predict', { method: 'POST', headers: { 'content-type': 'image/gif' }, body: gif }),
      415,
      'unsupported_image_format',
      /GIF/,
    );
    expectError(
      await call('/v1/projects/bugs/predict', {
        method: 'POST',
        headers: { 'content-type': 'application/octet-stream' },
        body: gif,
      }),
      415,
      'unsupported_image_format',
    );
    expectError(
      await call('/v1/projects/bugs/predict', {
        method: 'POST',
        headers: { 'content-type': 'image/jpeg' },
        body: Buffer.from('garbage'.repeat(50)),
      }),
      422,
      'undecodable_image',
      /not an image/,
    );
    const batch = await call('/v1/projects/bugs/predict', {
      method: 'POST',
      body: await form([
        { path: ant },
        { data: svg, name: 'x.svg', type: 'image/svg+xml' },
        { data: gif, name: 'x.gif', type: 'image/gif' },
      ]),
    });
    assert.equal(batch.status, 200, batch.text);
    assert.equal(batch.json.results[0].label !== undefined, true);
    assert.deepEqual(
      batch.json.results.slice(1).map((x: any) => [x.file, x.error.status, x.error.code]),
      [
        ['x.svg', 415, 'unsupported_image_format'],
        ['x.gif', 415, 'unsupported_image_format'],
      ],
    );
  });

  test('no absolute server path in the downloaded bundle, the report, the results or the job events', async () => {
    const projectDir = join(projectsDir, 'bugs');
    const tar = await call('/v1/projects/bugs/bundles/latest/download');
    assert.equal(tar.status, 200);
    const tarText = tar.bytes.toString('latin1');
    assert.ok(tarText.includes('classifier.json'));
    assert.ok(!tarText.includes(projectDir), 'the tar names the project folder');
    assert.ok(!tarText.includes(work), 'the tar names the server folder');
    assert.match(tarText, /"data": "images"/, 'config.data is relative to the project');
    const results = await call('/v1/projects/bugs/results');
    assert.equal(results.status, 200);
    const report = await call(`${results.json.reportUrl}`);
    assert.equal(report.status, 200);
    assert.match(report.text, /<html/i);
    for (const [what, text] of [
      ['report', report.text],
      ['results', results.text],
      ['bundles', (await call('/v1/projects/bugs/bundles')).text],
    ]) {
      assert.ok(!text.includes(work), `${what} names the server folder`);
    }
    // The saved bundle on disk says the same (it is what the download packs).
    const manifest = JSON.parse(
      await readFile(join(projectDir, 'bundles', results.json.bundle, 'classifier.json'), 'utf8'),
    );
    assert.equal(manifest.config.data, 'images');
    const metrics = await readFile(join(projectDir, 'bundles', results.json.bundle, 'metrics.json'), 'utf8');
    assert.ok(!metrics.includes(work));
    // A bundle saved before the fix (absolute paths in its files) is cleaned when downloaded or shown.
    const oldStamp = '2000-01-01T00-00-00-000Z';
    const oldDir = join(projectDir, 'bundles', oldStamp);
    await cp(join(projectDir, 'bundles', results.json.bundle), oldDir, { recursive: true });
    await writeFile(
      join(oldDir, 'classifier.json'),
      JSON.stringify({ ...manifest, config: { ...manifest.config, data: join(projectDir, 'images') } }, null, 2),
    );
    await writeFile(
      join(oldDir, 'report.html'),
      `<html><code>${join(projectDir, 'images', 'ants', 'x.jpg')}</code></html>`,
    );
    const oldTar = (await call(`/v1/projects/bugs/bundles/${oldStamp}/download`)).bytes.toString('latin1');
    assert.ok(oldTar.includes('"data": "images"') && !oldTar.includes(work), 'old bundle cleaned in the download');
    const oldReport = (await call(`/v1/projects/bugs/bundles/${oldStamp}/report`)).text;
    assert.ok(oldReport.includes('<code>images/ants/x.jpg</code>') && !oldReport.includes(work), oldReport);
  });
});

describe('a damaged project.json (item 9)', () => {
  const damages: [string, string, RegExp][] = [
    ['truncated JSON', '{"name": "broken", "classes": ["a"', /not valid JSON/],
    ['wrong shape', '{"name": "broken", "classes": "a", "createdAt": "x", "updatedAt": "x"}', /classes/],
  ];
  for (const [what, content, reason] of damages) {
    test(`${what}: listed as damaged with the reason, every endpoint 409 project_damaged, nothing changed or deleted`, async () => {
      const name = `broken-${what.split(' ')[0]}`;
      assert.equal((await postJson('/v1/projects', { name, classes: ['a', 'b'] })).status, 201);
      const [ant] = await photos('train', 'ants', 1);
      assert.equal(
        (await call(`/v1/projects/${name}/classes/a/images`, { method: 'POST', body: await form([{ path: ant }]) }))
          .status,
        201,
      );
      const jsonPath = join(projectsDir, name, 'project.json');
      await writeFile(jsonPath, content);
      const list = await call('/v1/projects');
      assert.equal(list.status, 200);
      assert.ok(!list.json.projects.some((p: any) => p.name === name));
      const entry = list.json.damaged.find((p: any) => p.name === name);
      assert.ok(entry, `listed as damaged: ${list.text}`);
      assert.equal(entry.damaged, true);
      assert.match(entry.reason, reason);
      const P = `/v1/projects/${name}`;
      const requests: [string, Promise<Res>][] = [
        ['GET project', call(P)],
        ['DELETE project', call(P, { method: 'DELETE' })],
        ['add class', postJson(`${P}/classes`, { name: 'c' })],
        ['rename class', postJson(`${P}/classes/a`, { name: 'c' }, 'PATCH')],
        ['remove class', call(`${P}/classes/a`, { method: 'DELETE' })],
        ['images', call(`${P}/images`)],
        ['upload', call(`${P}/classes/a/images`, { method: 'POST', body: await form([{ path: ant }]) })],
        ['train', postJson(`${P}/train`, {})],
        ['results', call(`${P}/results`)],
        ['bundles', call(`${P}/bundles`)],
        [
          'predict',
          call(`${P}/predict`, {
            method: 'POST',
            headers: { 'content-type': 'image/jpeg' },
            body: await readFile(ant),
          }),
        ],
      ];
      for (const [label, pending] of requests) {
        const r = await pending;
        assert.equal(r.status, 409, `${label}: ${r.status} ${r.text}`);
        assert.equal(r.json.error.code, 'project_damaged', label);
        assert.match(r.json.error.message, reason, label);
      }
      assert.equal(await readFile(jsonPath, 'utf8'), content, 'project.json untouched');
      assert.equal((await readdir(join(projectsDir, name, 'images', 'a'))).length, 1, 'the photo is still there');
    });
  }
});
