// The zoo's online-only entries (stronger networks whose size and sha256 come from the publisher's Git LFS pointers):
// well-formed; the download + sha256 logic they rely on, run on local copies served over real HTTP; an entry that
// leaves its feature tensor to detection loads and gives the same features as the hand-written entry; `tl models
// list` says what is on disk and what was never verified here.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { createReadStream, existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { ZOO } from '../../src/backbone/zoo.js';
import { DETECT_FROM_GRAPH, type ModelEntry } from '../../src/backbone/types.js';
import { resolveModel, verifyFiles } from '../../src/backbone/resolve.js';
import { loadBackbone } from '../../src/backbone/load.js';
import { preprocess } from '../../src/data/image.js';
import { env } from '../../src/util/env.js';
import { sha256File } from '../../src/util/hash.js';
import { TlError } from '../../src/util/errors.js';
import { cleanup, DOG, MODELS_DIR, runCli, tempDir } from '../helpers.js';

const ONLINE = ZOO.filter((e) => e.unverified);
// The ONNX Model Zoo classifiers (feature extractors such as DINOv2 are checked in backbone-pull.test.ts).
const ONLINE_CLASSIFIERS = ONLINE.filter((e) => e.head.output === DETECT_FROM_GRAPH);
const MNV2 = ZOO.find((e) => e.id === 'mobilenet-v2')!;
const MNV2_FILE = join(MODELS_DIR, MNV2.folder, MNV2.entry);

let tmp: string;
let server: Server;
let base: string;
const saved = { cacheDir: env.cacheDir, modelsDir: env.modelsDir, allowDownloads: env.allowDownloads };
before(async () => {
  tmp = await tempDir('tl-zoo-');
  // A real HTTP server serving the shared int8 MobileNetV2 under /m.onnx (what GitHub serves for an LFS file).
  server = createServer((req, res) => {
    if (req.url !== '/m.onnx') return void res.writeHead(404).end();
    res.writeHead(200, { 'content-length': statSync(MNV2_FILE).size });
    createReadStream(MNV2_FILE).pipe(res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(async () => {
  Object.assign(env, saved);
  await new Promise((r) => server.close(r));
  await cleanup(tmp);
});

describe('online zoo entries', () => {
  test('at least 3 stronger networks than the 68% ones, each well-formed', () => {
    assert.ok(
      ONLINE_CLASSIFIERS.filter((e) => e.imagenetTop1 > 0.69).length >= 3,
      ONLINE_CLASSIFIERS.map((e) => `${e.id} ${e.imagenetTop1}`).join(', '),
    );
    const ids = new Set<string>();
    const folders = new Set<string>();
    for (const e of ONLINE_CLASSIFIERS) {
      assert.match(e.id, /^[a-z0-9][a-z0-9.-]*$/);
      assert.ok(!ids.has(e.id) && !folders.has(e.folder), `${e.id} unique`);
      ids.add(e.id);
      folders.add(e.folder);
      assert.equal(e.format, 'onnx');
      assert.equal(e.files.length, 1);
      const [f] = e.files;
      assert.equal(f.name, e.entry);
      assert.match(f.sha256, /^[0-9a-f]{64}$/);
      assert.ok(Number.isInteger(f.size) && f.size > 1_000_000, `${e.id} size ${f.size}`);
      // The current path on main, or the pre-2024 path pinned to the commit whose LFS pointer gave the sha256.
      assert.match(
        f.url,
        /^https:\/\/github\.com\/onnx\/models\/raw\/(main\/validated|[0-9a-f]{40})\/vision\/classification\/[a-z0-9-]+\/model\/[^/]+\.onnx$/,
      );
      assert.ok(f.url.endsWith('/' + f.name), f.url);
      assert.equal(e.feature.tensor, DETECT_FROM_GRAPH);
      assert.equal(e.head.output, DETECT_FROM_GRAPH);
      assert.ok([512, 1280, 2048].includes(e.feature.dim));
      assert.ok(e.imagenetTop1 > 0.5 && e.imagenetTop1 < 0.9);
      assert.deepEqual([e.input.size, e.input.cropFraction], [224, 0.875]);
      assert.equal(e.input.layout, e.id.startsWith('efficientnet') ? 'NHWC' : 'NCHW');
      assert.match(e.unverified!, /Git LFS pointer/);
    }
  });

  test('sha256 check on a local copy: the right hash passes, a wrong one names the file, the URL and the fix', async () => {
    await verifyFiles(join(MODELS_DIR, MNV2.folder), MNV2);
    const wrong: ModelEntry = { ...MNV2, files: [{ ...MNV2.files[0], sha256: '0'.repeat(64) }] };
    await assert.rejects(verifyFiles(join(MODELS_DIR, MNV2.folder), wrong), (err: unknown) => {
      assert.ok(err instanceof TlError);
      assert.match(err.message, /checksum mismatch .*mobilenetv2-12-int8\.onnx/);
      assert.match(err.hint ?? '', /tl models pull mobilenet-v2/);
      return true;
    });
  });

  test('a download over HTTP is verified and atomic; a wrong sha256 leaves nothing behind', async () => {
    Object.assign(env, { cacheDir: join(tmp, 'cache'), modelsDir: undefined, allowDownloads: true });
    const sha = await sha256File(MNV2_FILE);
    const size = statSync(MNV2_FILE).size;
    const entry = (id: string, sha256: string): ModelEntry => ({
      ...ONLINE[0],
      id,
      folder: id,
      entry: 'm.onnx',
      files: [{ name: 'm.onnx', size, sha256, url: `${base}/m.onnx` }],
    });
    const ok = await resolveModel(entry('dl-ok', sha));
    assert.equal(ok.where, 'download');
    assert.equal(await sha256File(join(ok.dir, 'm.onnx')), sha);
    // Found on disk the second time: no download.
    assert.equal((await resolveModel(entry('dl-ok', sha))).where, 'cache');

    await assert.rejects(resolveModel(entry('dl-bad', 'f'.repeat(64))), /is not the registered file \(sha256 /);
    const badDir = join(tmp, 'cache', 'models', 'dl-bad');
    assert.deepEqual(existsSync(badDir) ? readdirSync(badDir) : [], [], 'no file and no .part left');
    assert.ok(!existsSync(badDir), 'not even the empty model folder');
  });

  test("an entry that leaves feature and head to detection gives the hand-written entry's features and ImageNet head", async () => {
    Object.assign(env, { cacheDir: join(tmp, 'cache2'), modelsDir: MODELS_DIR, allowDownloads: false });
    const detected: ModelEntry = {
      ...MNV2,
      id: 'mobilenet-v2-detected',
      feature: { ...MNV2.feature, tensor: DETECT_FROM_GRAPH },
      head: { ...MNV2.head, output: DETECT_FROM_GRAPH },
    };
    const [a, b] = [await loadBackbone(MNV2), await loadBackbone(detected)];
    try {
      const x = [await preprocess(DOG, MNV2.input)];
      const [fa, fb] = [await a.embedAndClassify(x), await b.embedAndClassify(x)];
      assert.deepEqual(Array.from(fb.features[0]), Array.from(fa.features[0]));
      assert.deepEqual(Array.from(fb.probabilities[0]), Array.from(fa.probabilities[0]));
    } finally {
      await Promise.all([a.dispose(), b.dispose()]);
    }
    // A file that is not the network the entry describes: the dim check says so.
    const lying: ModelEntry = { ...detected, feature: { ...detected.feature, dim: 2048 } };
    await assert.rejects(loadBackbone(lying), /detected in this ONNX graph is 1280-d, the model entry says 2048-d/);
  });

  test('tl models add URL --sha256: downloads, checks, detects and registers; a wrong sha256 registers nothing', async () => {
    const cacheDir = join(tmp, 'cache4');
    const online = { cacheDir, env: { TL_OFFLINE: undefined, TL_MODELS_DIR: undefined } };
    const url = `${base}/m.onnx`;
    const add = (sha: string, id: string) =>
      runCli(['models', 'add', url, '--sha256', sha, '--preset', 'imagenet-torch', '--id', id], online);
    const bad = await add('f'.repeat(64), 'url-bad');
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /is not the registered file \(sha256 [0-9a-f]{64}, expected f{64}\); nothing was kept/);
    const ok = await add(await sha256File(MNV2_FILE), 'url-mnv2');
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /feature: 472_quantized -> 1280-d/);
    const models = JSON.parse((await runCli(['models', 'list', '--json'], { cacheDir })).stdout) as (ModelEntry & {
      onDisk: string | null;
    })[];
    assert.ok(!models.some((m) => m.id === 'url-bad'));
    const m = models.find((x) => x.id === 'url-mnv2')!;
    assert.deepEqual(m.feature, MNV2.feature);
    assert.deepEqual(m.input, MNV2.input);
    assert.equal(m.files[0].url, url);
    // Offline afterwards: the checked download in the cache is what loads.
    assert.equal(m.onDisk, 'cache');
  });

  test('tl models list marks what is on disk and what was never verified offline', async () => {
    const r = await runCli(['models', 'list'], { cacheDir: join(tmp, 'cache3') });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^mobilenet-v2 \(default\).*\byes\s*$/m);
    for (const e of ONLINE)
      assert.match(r.stdout, new RegExp(`^${e.id}\\b.*\\bno \\(not verified offline\\)\\s*$`, 'm'));
    const json = JSON.parse((await runCli(['models', 'list', '--json'], { cacheDir: join(tmp, 'cache3') })).stdout) as {
      id: string;
      onDisk: string | null;
    }[];
    assert.equal(json.find((m) => m.id === 'mobilenet-v2')!.onDisk, 'models-dir');
    assert.equal(json.find((m) => m.id === ONLINE[0].id)!.onDisk, null);
  });
});
