// The four zoo backbones load from ../shared/models, classify a real photo, give finite features of the right size,
// and are fed exactly as they were trained (ImageNet top-1 on Imagenette val); corrupted copies and custom
// registrations fail or work as documented.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { cp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { env } from '../../src/util/env.js';
import { loadBackbone } from '../../src/backbone/load.js';
import { classifyImagenet } from '../../src/backbone/classify.js';
import { headSynsets } from '../../src/backbone/labels.js';
import { decodeModel, exposeFeatures, FEATURE_OUTPUT } from '../../src/backbone/runtimes/onnx/graph.js';
import { findModel, listModels, registerModel } from '../../src/backbone/registry.js';
import { preprocess } from '../../src/data/image.js';
import { TlError } from '../../src/util/errors.js';
import type { Backbone } from '../../src/backbone/types.js';
import { cleanup, cosine, DATASETS_DIR, DOG, FIXTURES, MODELS_DIR, tempDir, ZOO_IDS } from '../helpers.js';

/** ImageNet-1k dog breeds are the contiguous standard indices 151..268 (Chihuahua .. Mexican hairless). */
const STANDARD_SYNSETS = headSynsets({ synsets: 'imagenet-synsets' } as Parameters<typeof headSynsets>[0]);
function isDogSynset(wnid: string): boolean {
  const i = STANDARD_SYNSETS.indexOf(wnid);
  return i >= 151 && i <= 268;
}

const EXPECTED_DIM: Record<(typeof ZOO_IDS)[number], number> = {
  'mobilenet-v2': 1280,
  'mobilenet-v1-0.75': 768,
  'mobilenet-v1-0.25': 256,
  'darknet-tiny': 128,
};

// Models are read from TL_MODELS_DIR; nothing is ever written to the user's cache.
let cacheDir: string;
const savedCacheDir = env.cacheDir;
const savedModelsDir = env.modelsDir;
before(async () => {
  cacheDir = await tempDir('tl-backbones-');
  env.cacheDir = cacheDir;
  env.modelsDir = MODELS_DIR;
});
after(async () => {
  env.cacheDir = savedCacheDir;
  env.modelsDir = savedModelsDir;
  await cleanup(cacheDir);
});

async function features(b: Backbone, paths: string[]): Promise<Float32Array[]> {
  return b.embed(await Promise.all(paths.map((p) => preprocess(p, b.input))));
}

describe('zoo backbones', () => {
  for (const id of ZOO_IDS) {
    test(`${id}: a dog breed in the top-5 for dog.jpg; ${EXPECTED_DIM[id]}-d finite features`, async () => {
      const b = await loadBackbone(id);
      try {
        assert.equal(b.featureDim, EXPECTED_DIM[id]);
        const { results, skipped } = await classifyImagenet(b, [DOG], { top: 5 });
        assert.equal(skipped.length, 0);
        assert.equal(results.length, 1);
        const preds = results[0].predictions;
        assert.equal(preds.length, 5);
        for (let i = 1; i < preds.length; i++)
          assert.ok(preds[i - 1].probability >= preds[i].probability, 'predictions in order');
        const dogs = preds.filter((p) => isDogSynset(p.synset));
        assert.ok(
          dogs.length > 0,
          `no dog breed in the top-5 of ${id}: ${preds.map((p) => `${p.label} (${p.synset})`).join(', ')}`,
        );
        assert.ok(dogs[0].probability > 0.04, `dog breed probability too low: ${dogs[0].label} ${dogs[0].probability}`);

        // Head probabilities are a distribution.
        const { probabilities, features: f2 } = await b.embedAndClassify([await preprocess(DOG, b.input)]);
        const sum = probabilities[0].reduce((s, v) => s + v, 0);
        assert.ok(Math.abs(sum - 1) < 1e-3, `probabilities sum to ${sum}`);

        const [dog, eagle] = await features(b, [DOG, join(FIXTURES, 'eagle.jpg')]);
        for (const v of [dog, eagle]) {
          assert.equal(v.length, EXPECTED_DIM[id]);
          assert.ok(v.every(Number.isFinite), 'features are finite');
          assert.ok(
            v.some((x) => x !== 0),
            'features are not all zero',
          );
        }
        // embed() and embedAndClassify() give the same features for the same input.
        assert.ok(cosine(dog, f2[0]) > 0.9999, 'embed and embedAndClassify agree');
        // Different photos give clearly different features.
        assert.ok(cosine(dog, eagle) < 0.95, `dog vs eagle cosine ${cosine(dog, eagle)}`);
        if (id.startsWith('mobilenet')) {
          // Average-pooled ReLU6 activations: within [0, 6] (a wrong tensor or a missing dequantize breaks this).
          const lo = Math.min(...dog);
          const hi = Math.max(...dog);
          assert.ok(lo >= -1e-4 && hi <= 6.001 && hi > 0.5, `features in [${lo}, ${hi}]`);
        }
      } finally {
        await b.dispose();
      }
    });
  }

  test('ONNX features come from the toolkit graph edit, not a pre-edited file', async () => {
    const entry = findModel('mobilenet-v2');
    const bytes = await readFile(join(MODELS_DIR, entry.folder, entry.entry));
    const original = decodeModel(bytes);
    const originalOutputs = original.graph!.output!.map((o) => o.name);
    assert.ok(!originalOutputs.includes(FEATURE_OUTPUT), `original file already has ${FEATURE_OUTPUT}`);
    assert.ok(!originalOutputs.includes(entry.feature.tensor), 'feature tensor is not an output of the original file');
    assert.deepEqual(originalOutputs, [entry.head.output]);

    const edited = decodeModel(exposeFeatures(bytes, entry.feature));
    const outs = edited.graph!.output!.map((o) => o.name);
    assert.deepEqual(outs, [entry.head.output, FEATURE_OUTPUT]);
    // The int8 tensor is dequantized with its consumer's scale and flattened.
    const ops = edited.graph!.node!.filter((n) => n.name?.startsWith('tl_')).map((n) => n.opType);
    assert.deepEqual(ops, ['DequantizeLinear', 'Flatten']);
    assert.equal(edited.graph!.node!.length, original.graph!.node!.length + 2);
    assert.throws(
      () => exposeFeatures(bytes, { tensor: 'no_such_tensor', dim: 10, pool: 'none' }),
      /no tensor named "no_such_tensor"/,
    );
  });
});

describe('preprocessing exactness: ImageNet top-1 of the original head on Imagenette val', () => {
  const valDir = join(DATASETS_DIR, 'imagenette/val');
  // [model, minimum top-1, val images per class]. v1-0.75 (TF.js, ~15 images/s) reads the first 25 of each class's
  // 50: 0.760 there (0.774 on all 500); at 0.74 these 250 give the verdicts all 500 give at 0.75 on the bugs tried:
  // ImageNet mean/std 0.668 (all 0.686) and pixels in [0, 1] 0.728 (all 0.742) fail; a 0.875 crop passes both.
  const minimum: [string, number, number][] = [
    ['mobilenet-v2', 0.72, 50],
    ['mobilenet-v1-0.75', 0.74, 25],
  ];
  for (const [id, min, perClass] of minimum) {
    test(`${id} top-1 >= ${min} (${perClass} val images per class)`, async () => {
      const b = await loadBackbone(id);
      try {
        const synsetsInHead = new Set(headSynsets(b.entry.head));
        const paths: string[] = [];
        const truth: string[] = [];
        for (const wnid of (await readdir(valDir)).sort()) {
          if (!/^n\d{8}$/.test(wnid)) continue;
          assert.ok(synsetsInHead.has(wnid), `${wnid} is one of the head's classes`);
          for (const f of (await readdir(join(valDir, wnid))).sort().slice(0, perClass)) {
            paths.push(join(valDir, wnid, f));
            truth.push(wnid);
          }
        }
        assert.equal(paths.length, 10 * perClass, `Imagenette val: ${perClass} images of each of its 10 classes`);
        const { results, skipped } = await classifyImagenet(b, paths, { top: 1, batchSize: 32 });
        assert.equal(skipped.length, 0, `skipped: ${skipped.map((s) => s.path).join(', ')}`);
        assert.equal(results.length, paths.length);
        let correct = 0;
        results.forEach((r, i) => {
          assert.equal(r.path, paths[i]);
          if (r.predictions[0].synset === truth[i]) correct++;
        });
        const top1 = correct / paths.length;
        console.log(`# ${id}: Imagenette val top-1 ${(top1 * 100).toFixed(1)}% (${correct}/${paths.length})`);
        assert.ok(top1 >= min, `${id} top-1 ${top1.toFixed(3)} < ${min}`);
      } finally {
        await b.dispose();
      }
    });
  }
});

describe('model files and custom backbones', () => {
  test('a corrupted model copy fails with a TlError naming the file and the checksum', async () => {
    const entry = findModel('mobilenet-v1-0.25');
    const dir = await tempDir('tl-corrupt-');
    try {
      await cp(join(MODELS_DIR, entry.folder), dir, { recursive: true });
      // The copy loads as it is...
      const ok = await loadBackbone('mobilenet-v1-0.25', { path: dir });
      await ok.dispose();
      // ...and not once one byte of one shard is flipped.
      const victim = entry.files.find((f) => f.name !== 'model.json' && f.size > 1000)!;
      const bytes = await readFile(join(dir, victim.name));
      bytes[Math.floor(bytes.length / 2)] ^= 0xff;
      await writeFile(join(dir, victim.name), bytes);
      await assert.rejects(loadBackbone('mobilenet-v1-0.25', { path: dir }), (err: unknown) => {
        assert.ok(err instanceof TlError, `expected a TlError, got ${err}`);
        assert.match(err.message, /checksum/);
        assert.ok(err.message.includes(join(dir, victim.name)), `message names the file: ${err.message}`);
        return true;
      });
      // A folder missing a file is a clear error too.
      await rm(join(dir, victim.name));
      await assert.rejects(
        loadBackbone('mobilenet-v1-0.25', { path: dir }),
        (err: unknown) => err instanceof TlError && /does not hold every file/.test(err.message),
      );
    } finally {
      await cleanup(dir);
    }
  });

  test('a custom ONNX backbone (same file, feature tensor 472_quantized) gives the zoo features', async () => {
    const zoo = findModel('mobilenet-v2');
    const m = await registerModel({
      id: 'my-mobilenetv2',
      format: 'onnx',
      path: join(MODELS_DIR, zoo.folder, zoo.entry),
      input: {
        size: 224,
        layout: 'NCHW',
        resize: 'cover',
        cropFraction: zoo.input.cropFraction,
        mean: zoo.input.mean,
        std: zoo.input.std,
      },
      feature: { tensor: '472_quantized', dim: 1280, pool: 'none' },
      head: { output: 'output', activation: 'logits' },
    });
    assert.equal(m.custom, true);
    // It is stored in this test's TL_CACHE_DIR and listed with the zoo.
    const registry = JSON.parse(await readFile(join(cacheDir, 'models.json'), 'utf8'));
    assert.deepEqual(
      registry.map((e: { id: string }) => e.id),
      ['my-mobilenetv2'],
    );
    assert.ok(listModels().some((e) => e.id === 'my-mobilenetv2'));

    const custom = await loadBackbone('my-mobilenetv2');
    const builtin = await loadBackbone('mobilenet-v2');
    try {
      assert.equal(custom.featureDim, 1280);
      assert.notEqual(custom.weightsHash, '');
      const paths = [DOG, join(FIXTURES, 'horses.jpg')];
      const a = await features(custom, paths);
      const b = await features(builtin, paths);
      for (let i = 0; i < paths.length; i++) assert.deepEqual(a[i], b[i]);
      const { results } = await classifyImagenet(custom, [DOG], { top: 5 });
      assert.ok(results[0].predictions.some((p) => isDogSynset(p.synset)));
    } finally {
      await custom.dispose();
      await builtin.dispose();
    }
  });

  test('an invalid custom backbone description gives a clear error', async () => {
    const good = {
      id: 'x-model',
      format: 'onnx' as const,
      path: join(MODELS_DIR, 'mobilenetv2_int8_onnx/mobilenetv2-12-int8.onnx'),
      input: {
        size: 224,
        layout: 'NCHW' as const,
        mean: [0, 0, 0] as [number, number, number],
        std: [1, 1, 1] as [number, number, number],
      },
      feature: { tensor: '472_quantized', dim: 1280 },
    };
    await assert.rejects(
      registerModel({ ...good, format: 'pytorch' as never }),
      (e: unknown) => e instanceof TlError && /invalid model description: format/.test(e.message),
    );
    await assert.rejects(
      registerModel({ ...good, input: { ...good.input, size: 'big' as never } }),
      (e: unknown) => e instanceof TlError && /input\.size/.test(e.message),
    );
    await assert.rejects(
      registerModel({ ...good, feature: { tensor: 'x', dim: -3 } }),
      (e: unknown) => e instanceof TlError && /feature\.dim/.test(e.message),
    );
    await assert.rejects(
      registerModel({ ...good, id: 'mobilenet-v2' }),
      (e: unknown) => e instanceof TlError && /built-in model id/.test(e.message),
    );
    await assert.rejects(
      registerModel({ ...good, path: join(cacheDir, 'nope.onnx') }),
      (e: unknown) => e instanceof TlError && /not found/.test(e.message),
    );
    await assert.rejects(
      registerModel({ ...good, path: undefined }),
      (e: unknown) => e instanceof TlError && /"path"/.test(e.message),
    );
    // A valid description naming a tensor the graph does not have is refused when registering (the model is loaded
    // once then), naming the tensor.
    await assert.rejects(
      registerModel({ ...good, id: 'bad-tensor', feature: { tensor: 'no_such_tensor', dim: 8 } }),
      (e: unknown) => e instanceof TlError && /no_such_tensor/.test(e.message),
    );
    assert.ok(!listModels().some((e) => e.id === 'x-model'), 'nothing invalid was registered');
  });
});

describe('onnxruntime in a worker thread', () => {
  test('the worker session gives the features and ImageNet scores of an in-process session, bit for bit', async () => {
    const entry = findModel('mobilenet-v2');
    const x = await preprocess(DOG, entry.input);
    const saved = process.env.TL_ORT_WORKER;
    process.env.TL_ORT_WORKER = '0';
    const here = await loadBackbone('mobilenet-v2');
    if (saved === undefined) delete process.env.TL_ORT_WORKER;
    else process.env.TL_ORT_WORKER = saved;
    const worker = await loadBackbone('mobilenet-v2');
    try {
      const a = await here.embedAndClassify([x, x]);
      const b = await worker.embedAndClassify([x, x]);
      assert.deepEqual(b.features, a.features);
      assert.deepEqual(b.probabilities, a.probabilities);
      // Several batches in flight at once come back to the right callers.
      const batches = await Promise.all([worker.embed([x]), worker.embed([x, x, x]), worker.embed([x, x])]);
      assert.deepEqual(
        batches.map((r) => r.length),
        [1, 3, 2],
      );
      for (const r of batches) for (const f of r) assert.deepEqual(f, a.features[0]);
    } finally {
      await here.dispose();
      await worker.dispose();
    }
    // A disposed backbone refuses work with a clear error instead of hanging.
    await assert.rejects(worker.embed([x]), /disposed/);
  });
});
