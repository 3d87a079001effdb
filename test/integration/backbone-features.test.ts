// Feature-extractor backbones (DINOv2, CLIP's vision model: no ImageNet classifier, outputs last_hidden_state /
// pooler_output / image_embeds) on tiny random-weight ViTs exported by torch (scripts/export-test-backbones.py,
// cached in test-fixtures/): which output is detected, each token pooling rule as ONNX nodes equals what torch
// computes, and `tl models add --preset dinov2 --pool cls+mean` → rung 1 through the feature cache → fused with
// MobileNetV2 → `tl export` agreeing with the bundle; fine-tuning a transformer is refused in one line.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import onnxProto from 'onnx-proto';
import { detectOnnxBackbone } from '../../src/backbone/runtimes/onnx/detect.js';
import { exposeFeatures, FEATURE_OUTPUT } from '../../src/backbone/runtimes/onnx/graph.js';
import type { TokenPool } from '../../src/backbone/types.js';
import { assertCleanError, cleanup, DATASETS_DIR, DOG, linkSubset, ROOT, runCli, tempDir } from '../helpers.js';

const FIXTURES = join(ROOT, 'test-fixtures/torchvision');

interface Summary {
  dim: number;
  head: number[];
  norm: number;
}
interface FeatureMeta {
  inputSize: number;
  outputs: string[];
  tokens: number;
  features: Record<string, Summary>;
}

before(() => {
  const python = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
  const r = spawnSync(python, [join(ROOT, 'scripts/export-test-backbones.py'), FIXTURES], {
    encoding: 'utf8',
    timeout: 900_000,
  });
  assert.equal(r.status, 0, `fixture export failed (needs apt python3-torch python3-torchvision): ${r.stderr}`);
});

const fixture = (name: string) => ({
  bytes: readFileSync(join(FIXTURES, `${name}.onnx`)),
  meta: JSON.parse(readFileSync(join(FIXTURES, `${name}.json`), 'utf8')) as FeatureMeta,
});

/** The fixed input the export script fed torch: x[i] = (i mod 251) / 251 - 0.5 over the NCHW buffer. */
function pattern(size: number): Float32Array {
  const x = new Float32Array(3 * size * size);
  for (let i = 0; i < x.length; i++) x[i] = (i % 251) / 251 - 0.5;
  return x;
}

/** The exposed feature of two copies of the pattern (a batch), second row, through onnxruntime. */
async function featureOf(bytes: Uint8Array, feature: Parameters<typeof exposeFeatures>[1], size: number) {
  const one = pattern(size);
  const batch = new Float32Array(one.length * 2);
  batch.set(one, 0);
  batch.set(one, one.length);
  const session = await ort.InferenceSession.create(exposeFeatures(bytes, feature));
  try {
    const out = await session.run({ pixel_values: new ort.Tensor('float32', batch, [2, 3, size, size]) }, [
      FEATURE_OUTPUT,
    ]);
    const f = out[FEATURE_OUTPUT];
    assert.deepEqual(f.dims, [2, feature.dim]);
    return (f.data as Float32Array).slice(feature.dim, 2 * feature.dim);
  } finally {
    await session.release();
  }
}

function assertMatchesTorch(row: Float32Array, torch: Summary): void {
  assert.equal(row.length, torch.dim);
  const norm = Math.hypot(...row);
  assert.ok(Math.abs(norm - torch.norm) <= 1e-4 * torch.norm, `norm ${norm} vs torch ${torch.norm}`);
  torch.head.forEach((v, i) => assert.ok(Math.abs(row[i] - v) <= 1e-4 * (1 + Math.abs(v)), `[${i}] ${row[i]} vs ${v}`));
}

describe('feature-extractor detection on random-weight ViT exports', () => {
  const cases: { name: string; pool?: TokenPool; tensor: string; dim: number; expect: string; how: RegExp }[] = [
    // No embedding output: the tokens, pooled by DINOv2's rule.
    { name: 'vit_tiny_hidden', tensor: 'last_hidden_state', dim: 128, expect: 'cls+mean', how: /default rule/ },
    // DINOv2's outputs: pooler_output (the class token) unless a rule is named.
    { name: 'dinov2_shaped', tensor: 'pooler_output', dim: 64, expect: 'pooler_output', how: /"pooler_output"/ },
    {
      name: 'dinov2_shaped',
      pool: 'cls+mean',
      tensor: 'last_hidden_state',
      dim: 128,
      expect: 'cls+mean',
      how: /named/,
    },
    { name: 'dinov2_shaped', pool: 'mean', tensor: 'last_hidden_state', dim: 64, expect: 'mean', how: /patch tokens/ },
    { name: 'dinov2_shaped', pool: 'cls', tensor: 'last_hidden_state', dim: 64, expect: 'cls', how: /class token/ },
    // CLIP's vision model: image_embeds before anything else.
    { name: 'clip_shaped', tensor: 'image_embeds', dim: 32, expect: 'image_embeds', how: /"image_embeds"/ },
  ];
  for (const c of cases) {
    test(`${c.name}${c.pool ? ` --pool ${c.pool}` : ''}: ${c.tensor} -> ${c.dim}-d equals torch's ${c.expect}`, async () => {
      const { bytes, meta } = fixture(c.name);
      const d = detectOnnxBackbone(bytes, { pool: c.pool });
      assert.deepEqual(d.input, { name: 'pixel_values', layout: 'NCHW', size: meta.inputSize, batch: 'dynamic' });
      assert.equal(d.feature.tensor, c.tensor);
      assert.equal(d.feature.dim, c.dim);
      assert.equal(d.feature.pool, c.tensor === 'last_hidden_state' ? c.expect : 'none');
      assert.equal(d.head, undefined, 'a feature extractor has no ImageNet head');
      assert.match(d.how, c.how);
      assertMatchesTorch(await featureOf(bytes, d.feature, meta.inputSize), meta.features[c.expect]);
    });
  }

  test('opset 18 graphs: ReduceMean takes its axes as an input and the pooled mean still equals torch', async () => {
    const { bytes, meta } = fixture('dinov2_shaped');
    const model = onnxProto.onnx.ModelProto.decode(bytes);
    // None of this graph's ops changed meaning at opset 18; the pooling nodes must follow the new ReduceMean.
    model.opsetImport = [onnxProto.onnx.OperatorSetIdProto.create({ domain: '', version: 18 })];
    const at18 = onnxProto.onnx.ModelProto.encode(model).finish();
    const d = detectOnnxBackbone(at18, { pool: 'cls+mean' });
    assertMatchesTorch(await featureOf(at18, d.feature, meta.inputSize), meta.features['cls+mean']);
  });

  test('a pooling rule on a graph without a token output is refused, naming its outputs', () => {
    const bytes = readFileSync(join(FIXTURES, 'mobilenet_v2.onnx'));
    assert.throws(
      () => detectOnnxBackbone(bytes, { pool: 'cls' }),
      /pooling rule "cls" needs a token output \[N, tokens, dim\] \("last_hidden_state"\); this graph's outputs are logits/,
    );
  });
});

describe('tl models add / train / export on a DINOv2-shaped ViT', () => {
  let tmp: string;
  let cacheDir: string;
  let data: string;
  before(async () => {
    tmp = await tempDir('tl-features-');
    cacheDir = join(tmp, 'cache');
    data = join(tmp, 'hym');
    // 8 per class to train on, 5 per class to validate.
    await linkSubset(join(DATASETS_DIR, 'hymenoptera_data/train'), join(data, 'train'), 8);
    await linkSubset(join(DATASETS_DIR, 'hymenoptera_data/val'), join(data, 'val'), 5);
  });
  after(() => cleanup(tmp));
  const tl = (args: string[]) => runCli(args, { cacheDir, cwd: tmp, timeoutMs: 240_000 });
  const model = join(FIXTURES, 'dinov2_shaped.onnx');

  test('an unknown --pool rule is refused in one line; nothing registered', async () => {
    const r = await tl(['models', 'add', model, '--preset', 'dinov2', '--pool', 'max', '--id', 'dino-tiny']);
    assertCleanError(r, /unknown pooling rule "max"/);
    assert.match(r.stderr, /cls, mean, cls\+mean/);
    const list = await tl(['models', 'list', '--json']);
    assert.ok(!(JSON.parse(list.stdout) as { id: string }[]).some((m) => m.id === 'dino-tiny'));
  });

  test('--preset dinov2 --pool cls+mean registers the graph (open size: the preset gives 224) with no head', async () => {
    const add = await tl(['models', 'add', model, '--preset', 'dinov2', '--pool', 'cls+mean', '--id', 'dino-tiny']);
    assert.equal(add.code, 0, add.stderr);
    assert.match(add.stdout, /feature: last_hidden_state \(class token \+ mean of the patch tokens\) -> 128-d/);
    assert.match(add.stdout, /head: none \(a feature extractor\)/);
    const info = JSON.parse((await tl(['models', 'info', 'dino-tiny', '--json'])).stdout) as {
      input: { size: number; cropFraction: number; mean: number[]; std: number[] };
      feature: { tensor: string; dim: number; pool: string };
    };
    assert.deepEqual(info.feature, { tensor: 'last_hidden_state', dim: 128, pool: 'cls+mean' });
    assert.equal(info.input.size, 224);
    assert.equal(info.input.cropFraction, 224 / 256);
    assert.deepEqual(info.input.std, [0.229, 0.224, 0.225]);
    const human = await tl(['models', 'info', 'dino-tiny']);
    assert.match(human.stdout, /original head\s+none \(a feature extractor\)/);
    const classify = await tl(['classify', DOG, '--model', 'dino-tiny']);
    assertCleanError(classify, /model dino-tiny has no ImageNet classifier \(it is a feature extractor\)/);
  });

  let bundle: string;
  test('rung 1 end to end; a second run takes every vector from the feature cache', async () => {
    bundle = join(tmp, 'dino-bundle');
    const train = await tl(['train', data, '--model', 'dino-tiny', '--strategy', 'head', '--out', bundle, '--json']);
    assert.equal(train.code, 0, train.stderr);
    const result = JSON.parse(train.stdout) as { count: number; labels: string[]; accuracy: number };
    assert.deepEqual([result.count, result.labels], [10, ['ants', 'bees']]);
    assert.ok(result.accuracy >= 0 && result.accuracy <= 1);
    assert.match(train.stderr, /features train: 16 embedded, 0 from cache/);
    const again = await tl(['train', data, '--model', 'dino-tiny', '--strategy', 'head', '--out', join(tmp, 'b2')]);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout + again.stderr, /features train: 0 embedded, 16 from cache/);
    const cls = JSON.parse(readFileSync(join(bundle, 'classifier.json'), 'utf8')) as {
      backbone: { id: string; featureDim?: number };
    };
    assert.equal(cls.backbone.id, 'dino-tiny');
  });

  test('tl export: the ViT + head ONNX agrees with the bundle (>= 99.5 % top-1) and its features equal torch', async () => {
    const out = join(tmp, 'dino-onnx');
    const r = await tl(['export', bundle, '--format', 'onnx', '--out', out, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout) as { check: { images: number; top1Agreement: number; maxProbDiff: number } };
    assert.equal(j.check.images, 10);
    assert.ok(j.check.top1Agreement >= 0.995, `agreement ${j.check.top1Agreement}`);
    assert.ok(j.check.maxProbDiff < 1e-4, `max |dp| ${j.check.maxProbDiff}`);
    // The pooling is in the exported graph itself: its `features` output is torch's class token + patch mean.
    const { meta } = fixture('dinov2_shaped');
    const session = await ort.InferenceSession.create(join(out, 'model.onnx'));
    try {
      const o = await session.run({
        [session.inputNames[0]]: new ort.Tensor('float32', pattern(224), [1, 3, 224, 224]),
      });
      assertMatchesTorch(o.features.data as Float32Array, meta.features['cls+mean']);
      assert.deepEqual(o.probabilities.dims, [1, 2]);
    } finally {
      await session.release();
    }
  });

  test('fused with MobileNetV2: dino-tiny+mobilenet-v2 trains on both cached parts (128 + 1280 = 1408-d)', async () => {
    const r = await tl([
      'train',
      data,
      '--model',
      'dino-tiny+mobilenet-v2',
      '--strategy',
      'head',
      '--out',
      join(tmp, 'fused'),
      '--json',
    ]);
    assert.equal(r.code, 0, r.stderr);
    const cls = JSON.parse(readFileSync(join(tmp, 'fused', 'classifier.json'), 'utf8')) as {
      backbone: { id: string };
      head: { layers: { inputs: number }[] };
    };
    assert.equal(cls.backbone.id, 'dino-tiny+mobilenet-v2');
    assert.equal(cls.head.layers[0].inputs, 1408);
    // The ViT part comes from the cache the runs above filled.
    assert.match(r.stderr, /16 from cache/);
  });

  test('fine-tuning a transformer is refused in one line that says why', async () => {
    const r = await tl(['train', data, '--model', 'dino-tiny', '--strategy', 'partial', '--out', join(tmp, 'ft')]);
    assertCleanError(
      r,
      /dino-tiny is a transformer \(attention and LayerNorm blocks\): fine-tuning \(rungs 2-3\) trains the blocks of CNNs only/,
    );
    assert.match(r.stderr, /--strategy head/);
    // --strategy auto plans rung 1 for it instead of failing.
    const auto = await tl(['train', data, '--model', 'dino-tiny', '--out', join(tmp, 'auto'), '--json']);
    assert.equal(auto.code, 0, auto.stderr);
  });
});
