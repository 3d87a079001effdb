// The feature-extractor zoo entries (DINOv2, CLIP, MobileCLIP: pinned Hugging Face URLs, size and sha256 of their
// LFS objects, published linear probes) are well formed; an entry of that shape, its file served by a local HTTP
// server (a random-weight DINOv2-shaped export), loads through detection + its pooling rule and gives torch's
// features; `tl models pull` fetches and verifies such a file (URL, size, sha256; a tampered or truncated copy:
// test/faults/model-download.test.ts); `tl models list` / `info` say size, ImageNet figure and use.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { ZOO } from '../../src/backbone/zoo.js';
import { DETECT_FROM_GRAPH, type ModelEntry } from '../../src/backbone/types.js';
import { loadBackbone } from '../../src/backbone/load.js';
import { env } from '../../src/util/env.js';
import { cleanup, ROOT, runCli, tempDir } from '../helpers.js';

const FEATURE_ZOO = ZOO.filter((e) => e.unverified && e.head.output === '');
const FIXTURES = join(ROOT, 'test-fixtures/torchvision');
const MODEL = join(FIXTURES, 'dinov2_shaped.onnx');

let tmp: string;
let server: Server;
let base: string;
let bytes: Buffer;
const saved = { cacheDir: env.cacheDir, modelsDir: env.modelsDir, allowDownloads: env.allowDownloads };
before(async () => {
  const python = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
  const r = spawnSync(python, [join(ROOT, 'scripts/export-test-backbones.py'), FIXTURES], { encoding: 'utf8' });
  assert.equal(r.status, 0, `fixture export failed (needs apt python3-torch python3-torchvision): ${r.stderr}`);
  tmp = await tempDir('tl-pull-');
  bytes = readFileSync(MODEL);
  // The export as published (a tampered or truncated copy: test/faults/model-download.test.ts).
  const files: Record<string, Buffer> = { '/model.onnx': bytes };
  server = createServer((req, res) => {
    const body = files[req.url ?? ''];
    if (!body) return void res.writeHead(404).end();
    res.writeHead(200, { 'content-length': body.length }).end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(async () => {
  Object.assign(env, saved);
  await new Promise((r) => server.close(r));
  await cleanup(tmp);
});

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

describe('feature-extractor zoo entries', () => {
  test('DINOv2 S/14 and B/14, CLIP ViT-B/32 and MobileCLIP-S0: pinned URL, LFS size and sha256, rule, sources', () => {
    assert.deepEqual(
      FEATURE_ZOO.map((e) => e.id),
      ['dinov2-small', 'dinov2-base', 'clip-vit-b32', 'mobileclip-s0'],
    );
    for (const e of FEATURE_ZOO) {
      assert.equal(e.format, 'onnx');
      const [f] = e.files;
      assert.equal(e.files.length, 1);
      assert.equal(f.name, e.entry);
      assert.match(
        f.url,
        /^https:\/\/huggingface\.co\/(onnx-community|Xenova)\/[\w.-]+\/resolve\/[0-9a-f]{40}\/onnx\//,
      );
      assert.ok(f.url.endsWith('/' + f.name));
      assert.match(f.sha256, /^[0-9a-f]{64}$/);
      assert.ok(Number.isInteger(f.size) && f.size > 40_000_000, `${e.id} size ${f.size}`);
      assert.equal(e.feature.tensor, DETECT_FROM_GRAPH);
      assert.match(
        e.unverified!,
        /LFS object at revision [0-9a-f]{8}.*not downloaded or run on the offline build machine/,
      );
      assert.match(e.imagenetSource!, /arXiv \d{4}\.\d{5}/);
      assert.ok(e.goodFor && e.license && e.params > 1e6);
      assert.ok(e.imagenetTop1 > 0.6 && e.imagenetTop1 < 0.9);
    }
    const dino = FEATURE_ZOO.find((e) => e.id === 'dinov2-small')!;
    // The paper's linear evaluation: class token + mean of the 384-d patch tokens.
    assert.deepEqual(dino.feature, { tensor: DETECT_FROM_GRAPH, dim: 768, pool: 'cls+mean' });
    assert.deepEqual([dino.imagenetTop1, dino.imagenetMetric], [0.811, 'linear']);
    assert.deepEqual(
      dino.linearProbes!.results.map((r) => [r.dataset, r.top1]),
      [
        ['Food-101', 0.891],
        ['Oxford Pets', 0.951],
        ['Flowers-102', 0.996],
        ['Stanford Cars', 0.816],
      ],
    );
    assert.match(dino.linearProbes!.source, /2304\.07193.*Table 8/);
    assert.deepEqual(
      [dino.input.size, dino.input.cropFraction, dino.input.mean],
      [224, 224 / 256, [0.485, 0.456, 0.406]],
    );
    const clip = FEATURE_ZOO.find((e) => e.id === 'clip-vit-b32')!;
    assert.deepEqual([clip.feature.dim, clip.feature.pool, clip.input.cropFraction], [512, 'none', 1]);
  });

  test('an entry of that shape, served over HTTP, downloads, detects its token output, pools cls+mean like torch', async () => {
    Object.assign(env, { cacheDir: join(tmp, 'cache-lib'), modelsDir: undefined, allowDownloads: true });
    const dino = FEATURE_ZOO.find((e) => e.id === 'dinov2-small')!;
    const entry: ModelEntry = {
      ...dino,
      id: 'dinov2-shaped-local',
      folder: 'dinov2-shaped-local',
      feature: { ...dino.feature, dim: 128 },
      files: [{ name: 'model.onnx', size: bytes.length, sha256: sha256(bytes), url: `${base}/model.onnx` }],
    };
    const backbone = await loadBackbone(entry);
    try {
      const s = 224;
      const x = new Float32Array(3 * s * s);
      for (let i = 0; i < x.length; i++) x[i] = (i % 251) / 251 - 0.5;
      const [v] = await backbone.embed([x]);
      const meta = JSON.parse(readFileSync(join(FIXTURES, 'dinov2_shaped.json'), 'utf8')) as {
        features: Record<string, { norm: number; head: number[] }>;
      };
      const torch = meta.features['cls+mean'];
      assert.equal(v.length, 128);
      assert.ok(Math.abs(Math.hypot(...v) - torch.norm) < 1e-4 * torch.norm);
      torch.head.forEach((t, i) => assert.ok(Math.abs(v[i] - t) < 1e-4 * (1 + Math.abs(t)), `[${i}] ${v[i]} vs ${t}`));
    } finally {
      await backbone.dispose();
    }
    // The entry's dim is checked against what the rule gives on the file.
    const lying: ModelEntry = { ...entry, feature: { ...entry.feature, dim: 768 } };
    await assert.rejects(loadBackbone(lying), /detected in this ONNX graph is 128-d, the model entry says 768-d/);
  });
});

describe('tl models pull (local HTTP server, random-weight file)', () => {
  const cacheDir = () => join(tmp, 'cache-cli');
  const online = () => ({ cacheDir: cacheDir(), env: { TL_OFFLINE: undefined, TL_MODELS_DIR: undefined } });
  /** Register a description pointing at `path` on the server, with the genuine file's size and sha256. */
  async function register(id: string, path: string) {
    const desc = join(tmp, `${id}.json`);
    await writeFile(
      desc,
      JSON.stringify({
        id,
        format: 'onnx',
        url: `${base}${path}`,
        sha256: sha256(bytes),
        size: bytes.length,
        input: { size: 224, layout: 'NCHW', mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] },
        feature: { tensor: 'last_hidden_state', dim: 128, pool: 'cls+mean' },
      }),
    );
    const r = await runCli(['models', 'add', desc], online());
    assert.equal(r.code, 0, r.stderr);
  }
  const leftIn = (id: string) => {
    const dir = join(cacheDir(), 'models', id);
    return existsSync(dir) ? readdirSync(dir) : null;
  };

  test('fetches the file, checks size and sha256, and says where it is', async () => {
    await register('dino-local', '/model.onnx');
    const r = await runCli(['models', 'pull', 'dino-local'], online());
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^dino-local: 1 files verified in .*dino-local \(download\)$/m);
    assert.deepEqual(leftIn('dino-local'), ['model.onnx']);
    assert.equal(sha256(readFileSync(join(cacheDir(), 'models', 'dino-local', 'model.onnx'))), sha256(bytes));
    const again = await runCli(['models', 'pull', 'dino-local'], online());
    assert.match(again.stdout, /\(cache\)$/m);
  });
});

describe('tl models list / info', () => {
  test('list: download size, ImageNet figure and what it measures, what each model is good for', async () => {
    const r = await runCli(['models', 'list'], { cacheDir: join(tmp, 'cache-list') });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^id\s+format\s+input\s+feature dim\s+ImageNet\s+size\s+licence\s+good for\s+on disk$/m);
    assert.match(
      r.stdout,
      /^dinov2-small\s+onnx\s+224px\s+768\s+81\.1% linear\s+84\.4 MiB\s+Apache-2\.0\s+fine-grained.*no \(not verified offline\)$/m,
    );
    assert.match(r.stdout, /^mobileclip-s0\s+onnx\s+256px\s+512\s+67\.8% zero-shot\s+43\.4 MiB\s/m);
    assert.match(
      r.stdout,
      /^mobilenet-v2 \(default\)\s+onnx\s+224px\s+1280\s+68\.3% top-1\s+\S+ \S+\s+Apache-2\.0\s+everyday photos.*yes$/m,
    );
    const info = await runCli(['models', 'info', 'dinov2-small'], { cacheDir: join(tmp, 'cache-list') });
    assert.match(
      info.stdout,
      /^linear probes\s+Food-101 89\.1%, Oxford Pets 95\.1%, Flowers-102 99\.6%, Stanford Cars 81\.6% \(.*2304\.07193/m,
    );
    assert.match(
      info.stdout,
      /^feature\s+\(detected from the graph\) \(class token \+ mean of the patch tokens\) → 768-d$/m,
    );
    assert.match(info.stdout, /^original head\s+none \(a feature extractor\)$/m);
  });
});
