// Any ImageNet ONNX classifier as a backbone without naming tensors (runtimes/onnx/detect.ts): on torchvision
// architectures exported here with random weights (scripts/export-test-backbones.py, cached in test-fixtures/), the
// detected feature, pushed through the toolkit's own graph edit and onnxruntime, equals what torch itself feeds the
// classifier; on the shared int8 MobileNetV2 it equals the hand-written zoo entry; `tl models add model.onnx` then
// `tl train` works end to end with no tensor name given.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { detectOnnxBackbone } from '../../src/backbone/runtimes/onnx/detect.js';
import { exposeFeatures, FEATURE_OUTPUT } from '../../src/backbone/runtimes/onnx/graph.js';
import { ZOO } from '../../src/backbone/zoo.js';
import { runtimeFor } from '../../src/backbone/runtimes/registry.js';
import { cleanup, DATASETS_DIR, DOG, linkSubset, MODELS_DIR, ROOT, runCli, tempDir } from '../helpers.js';

const FIXTURES = join(ROOT, 'test-fixtures/torchvision');
// The architectures the issue names (ViT-B/16 as its structure at 2 blocks), a 1x1-conv classifier, a fixed batch.
const ARCHS = [
  'resnet18',
  'mobilenet_v3_large',
  'efficientnet_b0',
  'convnext_tiny',
  'vit_b16_structure',
  'regnet_y_400mf',
  'mobilenet_v2',
  'squeezenet1_1',
  'resnet18_batch1',
];

interface TorchMeta {
  inputSize: number;
  layout: 'NCHW';
  batch?: number | 'dynamic';
  featureDim: number;
  pool: 'gap' | 'none';
  classes: number;
  featureHead: number[];
  featureNorm: number;
}

before(() => {
  // Debian's python3-torch lives in the system python (a pyenv shim may shadow `python3`).
  const python = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
  const r = spawnSync(python, [join(ROOT, 'scripts/export-test-backbones.py'), FIXTURES], {
    encoding: 'utf8',
    timeout: 900_000,
  });
  assert.equal(r.status, 0, `fixture export failed (needs apt python3-torch python3-torchvision): ${r.stderr}`);
});

/** The fixed input the export script fed torch: x[i] = (i mod 251) / 251 - 0.5 over the NCHW buffer. */
function pattern(size: number): Float32Array {
  const x = new Float32Array(3 * size * size);
  for (let i = 0; i < x.length; i++) x[i] = (i % 251) / 251 - 0.5;
  return x;
}

describe('feature detection on torchvision architectures', () => {
  for (const name of ARCHS) {
    test(`${name}: input spec, feature dim, pooling and the feature values match torch`, async () => {
      const bytes = readFileSync(join(FIXTURES, `${name}.onnx`));
      const meta = JSON.parse(readFileSync(join(FIXTURES, `${name}.json`), 'utf8')) as TorchMeta;
      const d = detectOnnxBackbone(bytes);
      assert.equal(d.input.layout, meta.layout);
      assert.equal(d.input.size, meta.inputSize);
      assert.equal(d.input.batch, meta.batch ?? 'dynamic');
      assert.equal(d.feature.dim, meta.featureDim);
      assert.equal(d.feature.pool, meta.pool);
      assert.equal(d.head.classes, meta.classes);
      assert.equal(d.head.output, 'logits');
      if (name.startsWith('vit')) assert.match(d.how, /class token/);

      // Two images per run: the exposed graph takes batches even when the export fixed the batch at 1.
      const s = meta.inputSize;
      const one = pattern(s);
      const batch = new Float32Array(one.length * 2);
      batch.set(one, 0);
      batch.set(one, one.length);
      const session = await ort.InferenceSession.create(exposeFeatures(bytes, d.feature));
      try {
        const out = await session.run({ [d.input.name]: new ort.Tensor('float32', batch, [2, 3, s, s]) }, [
          FEATURE_OUTPUT,
        ]);
        const f = out[FEATURE_OUTPUT];
        assert.deepEqual(f.dims, [2, meta.featureDim]);
        const row = (f.data as Float32Array).subarray(meta.featureDim, 2 * meta.featureDim);
        const norm = Math.hypot(...row);
        assert.ok(
          Math.abs(norm - meta.featureNorm) <= 1e-3 * meta.featureNorm + 1e-5,
          `norm ${norm} vs torch ${meta.featureNorm}`,
        );
        meta.featureHead.forEach((v, i) =>
          assert.ok(
            Math.abs(row[i] - v) <= 1e-3 * (Math.abs(v) + meta.featureNorm / Math.sqrt(meta.featureDim)),
            `feature[${i}] ${row[i]} vs torch ${v}`,
          ),
        );
      } finally {
        await session.release();
      }
    });
  }
});

describe('feature detection on the shared models (ONNX and TF.js layers)', () => {
  for (const entry of ZOO.filter((e) => !e.unverified)) {
    test(`${entry.id}: detection equals the hand-written zoo entry`, async () => {
      const d = await runtimeFor(entry.format).detect!(join(MODELS_DIR, entry.folder, entry.entry));
      assert.deepEqual(d.feature, entry.feature);
      assert.equal(d.input.size, entry.input.size);
      assert.equal(d.input.layout, entry.input.layout);
      assert.equal(d.head.output, entry.head.output);
      assert.equal(d.head.activation, entry.head.activation);
      assert.equal(d.head.classes, 1000);
    });
  }
  test('a TF.js graph model (no layers topology) is refused with a clear error', async () => {
    await assert.rejects(
      runtimeFor('tfjs-layers').detect!(join(MODELS_DIR, 'mobilenet_v1_025_tfjs_graph/model.json')),
      /no layers topology/,
    );
  });
});

describe('tl models add model.onnx', () => {
  let tmp: string;
  let cacheDir: string;
  before(async () => {
    tmp = await tempDir('tl-detect-');
    cacheDir = join(tmp, 'cache');
  });
  after(() => cleanup(tmp));
  const tl = (args: string[]) => runCli(args, { cacheDir, cwd: tmp, timeoutMs: 240_000 });

  test('without --preset or --mean/--std: a clean error that names the presets; nothing registered', async () => {
    const r = await tl(['models', 'add', join(FIXTURES, 'mobilenet_v2.onnx'), '--id', 'tv-mnv2']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /--preset imagenet-torch\|imagenet-tf\|inception/);
    assert.doesNotMatch(r.stderr, /\n\s+at /);
    const list = await tl(['models', 'list', '--json']);
    assert.ok(!(JSON.parse(list.stdout) as { id: string }[]).some((m) => m.id === 'tv-mnv2'));
  });

  test('a torchvision MobileNetV2 registers with no tensor name, shows what was detected, and trains end to end', async () => {
    const add = await tl([
      'models',
      'add',
      join(FIXTURES, 'mobilenet_v2.onnx'),
      '--preset',
      'imagenet-torch',
      '--id',
      'tv-mnv2',
    ]);
    assert.equal(add.code, 0, add.stderr);
    assert.match(add.stdout, /feature: \S+ -> 1280-d/);
    assert.match(add.stdout, /registered tv-mnv2/);

    const info = await tl(['models', 'info', 'tv-mnv2', '--json']);
    const m = JSON.parse(info.stdout) as {
      input: { size: number; layout: string; mean: number[]; cropFraction: number };
      feature: { dim: number; pool: string };
      detected: string;
    };
    assert.equal(m.input.size, 224);
    assert.equal(m.input.layout, 'NCHW');
    assert.deepEqual(m.input.mean, [0.485, 0.456, 0.406]);
    assert.equal(m.input.cropFraction, 0.875);
    assert.deepEqual([m.feature.dim, m.feature.pool], [1280, 'none']);
    assert.match(m.detected, /classifier Gemm .*1280 -> 1000/);
    const human = await tl(['models', 'info', 'tv-mnv2']);
    assert.match(human.stdout, /detected\s+classifier Gemm/);

    // A small hymenoptera subset: 10 per class to train on, 5 per class to validate.
    const data = join(tmp, 'hym');
    await linkSubset(join(DATASETS_DIR, 'hymenoptera_data/train'), join(data, 'train'), 10);
    await linkSubset(join(DATASETS_DIR, 'hymenoptera_data/val'), join(data, 'val'), 5);
    const bundle = join(tmp, 'bundle');
    const train = await tl(['train', data, '--model', 'tv-mnv2', '--out', bundle, '--json']);
    assert.equal(train.code, 0, train.stderr);
    const result = JSON.parse(train.stdout) as { count: number; labels: string[]; accuracy: number };
    assert.equal(result.count, 10);
    assert.deepEqual(result.labels, ['ants', 'bees']);
    assert.ok(result.accuracy >= 0 && result.accuracy <= 1);
    const cls = JSON.parse(readFileSync(join(bundle, 'classifier.json'), 'utf8')) as { backbone: { id: string } };
    assert.equal(cls.backbone.id, 'tv-mnv2');
    const predict = await tl(['predict', bundle, DOG, '--json']);
    assert.equal(predict.code, 0, predict.stderr);
  });

  test('a TF.js layers model.json is detected too (--dry-run registers nothing)', async () => {
    const r = await tl([
      'models',
      'add',
      join(MODELS_DIR, 'darknet_tiny_tfjs_layers/model.json'),
      '--preset',
      'imagenet-tf',
      '--dry-run',
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /feature: leaky_re_lu_15 \(global average pooled\) -> 128-d/);
    assert.match(r.stdout, /dry run: nothing registered \(id would be darknet_tiny_tfjs_layers\)/);
  });
});
