// Rungs 2/3: partial fine-tuning on cached cut activations (ONNX MobileNetV2 and a TF.js layers backbone), the
// float16 cache encoding, bundle v2 save/load/predict, no tensor leak across epochs, frozen vs trained weights,
// `auto`/`tl plan` choices and CLI flag validation. Small subsets: each training run is a few minibatches.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { env } from '../../src/util/env.js';
import { trainClassifier, type TrainEvent } from '../../src/training/train.js';
import { Classifier } from '../../src/classifier/classifier.js';
import { findModel } from '../../src/backbone/registry.js';
import { preprocess } from '../../src/data/image.js';
import { FeatureStore, modelKeyFor } from '../../src/features/store.js';
import { decodeF16, encodeF16, toHalf, fromHalf } from '../../src/util/f16.js';
import {
  loadNetwork,
  resolveFreeze,
  openCutBackbone,
  buildTrainableTail,
  trainingTf,
} from '../../src/finetune/network.js';
import { exportClassifier } from '../../src/export/export.js';
import { cleanup, DATASETS_DIR, linkSubset, runCli, tempDir } from '../helpers.js';

let cacheDir: string;
let hym: string;
before(async () => {
  cacheDir = await tempDir('tl-ft-cache-');
  env.cacheDir = cacheDir;
  hym = await tempDir('tl-ft-hym-');
  await linkSubset(join(DATASETS_DIR, 'hymenoptera_data/train'), join(hym, 'train'), 8);
  await linkSubset(join(DATASETS_DIR, 'hymenoptera_data/val'), join(hym, 'val'), 6);
});
after(() => cleanup(cacheDir, hym));

describe('float16 cache encoding', () => {
  test('round trip: exact on halves, <= 2^-11 relative error otherwise; specials kept', () => {
    const exact = Float32Array.from([0, -0, 1, -2, 0.5, 65504, 2 ** -24, 1.5, -1000.5]);
    assert.deepEqual(Array.from(decodeF16(encodeF16(exact))), Array.from(exact));
    const v = Float32Array.from({ length: 1000 }, (_, i) => Math.sin(i) * 10 ** ((i % 7) - 3));
    const back = decodeF16(encodeF16(v));
    for (let i = 0; i < v.length; i++)
      if (Math.abs(v[i]) > 6.2e-5)
        assert.ok(Math.abs(back[i] - v[i]) <= Math.abs(v[i]) * 2 ** -11, `${v[i]} -> ${back[i]}`);
    assert.equal(fromHalf(toHalf(Infinity)), Infinity);
    assert.ok(Number.isNaN(fromHalf(toHalf(NaN))));
    assert.equal(fromHalf(toHalf(1e6)), Infinity);
  });

  test('the store keeps f16 rows at 2 bytes per value under their own key', () => {
    const store = FeatureStore.open(':memory:');
    try {
      const base = {
        id: 'x',
        weightsHash: 'h',
        input: findModel('mobilenet-v2').input,
        featureDim: 4,
        entry: { feature: { tensor: 't', dim: 4, pool: 'none' } },
      };
      const k32 = modelKeyFor(base);
      const k16 = modelKeyFor({ ...base, vectors: { source: 't', encoding: 'f16' } });
      assert.notEqual(k32.key, k16.key);
      store.registerModel(k16);
      store.putMany(k16.key, [{ contentHash: 'a', vector: Float32Array.from([1, 2.5, -3, 0.1]) }]);
      const got = store.get(k16.key, 'a', 4)!;
      assert.deepEqual(Array.from(got.subarray(0, 3)), [1, 2.5, -3]);
      assert.equal(store.stats().models.find((m) => m.key === k16.key)!.bytes, 8);
    } finally {
      store.close();
    }
  });
});

describe('partial fine-tuning, MobileNetV2 int8 (ONNX tail)', () => {
  const events: TrainEvent[] = [];
  let r: Awaited<ReturnType<typeof trainClassifier>>;
  let bundle: string;
  before(async () => {
    bundle = join(await tempDir('tl-ft-bundle-'), 'clf');
    r = await trainClassifier(hym, {
      strategy: 'partial',
      trainLast: 1,
      epochs: 10,
      patience: 100,
      restoreBest: false,
      finetuneBatchSize: 8,
      seed: 3,
      onEvent: (e) => events.push(e),
    });
  });
  after(async () => {
    await r?.classifier.dispose();
    await cleanup(join(bundle, '..'));
  });

  test('trains the head conv on cached activations, memory flat across epochs', () => {
    const setup = events.find((e) => e.type === 'finetune-setup')!;
    assert.ok(setup.type === 'finetune-setup' && setup.backend === 'wasm' && setup.trainable.length === 1);
    const epochs = events.filter(
      (e): e is Extract<TrainEvent, { type: 'finetune-epoch' }> => e.type === 'finetune-epoch',
    );
    assert.equal(epochs.length, 10);
    assert.deepEqual(epochs[9].memory, epochs[1].memory, 'tf.memory() after epoch 10 equals after epoch 2');
    assert.equal(r.config.strategy, 'partial');
    assert.ok(r.metrics.accuracy >= 0.75, `val accuracy ${r.metrics.accuracy}`);
  });

  test('frozen part bit-identical (activations at the cut), trained tail changed', async () => {
    const net = await loadNetwork(findModel('mobilenet-v2'));
    const { cut } = resolveFreeze(net, { trainLast: 1 });
    const frozen = await openCutBackbone(net, cut);
    const { tf } = await trainingTf();
    const fresh = await buildTrainableTail(tf, net, cut, frozen.cutShape);
    try {
      // The frozen part computes exactly what was cached before training (up to the float16 rounding of the cache).
      const img = r.dataset.train[0].path;
      const [act] = await frozen.embed([await preprocess(img, frozen.input)]);
      const store = FeatureStore.open();
      const key = modelKeyFor(frozen).key;
      const { sha256 } = await import('../../src/util/hash.js');
      const cached = store.get(key, sha256(await readFile(img)), frozen.featureDim)!;
      store.close();
      assert.deepEqual(Array.from(cached), Array.from(decodeF16(encodeF16(act))));
      const snap = r.classifier.data.tail!;
      assert.equal(snap.cut, cut);
      let changed = 0;
      for (const v of snap.variables) {
        const before = fresh.variables.get(v.name)!.dataSync();
        if (v.data.some((x, i) => x !== before[i])) changed++;
      }
      assert.ok(changed > 0, 'some tail weights moved');
    } finally {
      fresh.dispose();
      await frozen.dispose();
    }
  });

  test('bundle v2 saves, loads and predicts like the in-memory model', async () => {
    await r.classifier.save(bundle);
    const json = JSON.parse(await readFile(join(bundle, 'classifier.json'), 'utf8'));
    assert.equal(json.version, 2);
    assert.equal(json.tail.kind, 'onnx-tail');
    const files = r.dataset.val.slice(0, 3).map((x) => x.path);
    const a = await Promise.all(files.map((f) => r.classifier.predict(f)));
    const loaded = await Classifier.load(bundle);
    try {
      const b = await Promise.all(files.map((f) => loaded.predict(f)));
      for (let i = 0; i < files.length; i++) {
        assert.equal(b[i].label, a[i].label);
        assert.ok(Math.abs(b[i].probability - a[i].probability) < 1e-6);
      }
      // A fine-tuned bundle exports with its tail (agreement is measured in test/integration/export-finetuned.test.ts).
      const ex = await exportClassifier(bundle, { format: 'onnx', out: join(bundle, 'export') });
      assert.equal(ex.metadata.outputs.features?.shape[1], r.classifier.data.tail!.featureDim);
    } finally {
      await loaded.dispose();
    }
  });
});

describe('partial fine-tuning, TF.js layers backbone (mobilenet-v1-0.25)', () => {
  test('BatchNorm statistics stay bit-identical, conv kernels move', async () => {
    const net = await loadNetwork(findModel('mobilenet-v1-0.25'));
    const { cut, trainable } = resolveFreeze(net, { trainLast: 2 });
    assert.equal(trainable.length, 2);
    const { tf } = await trainingTf();
    const mem: TrainEvent[] = [];
    const r = await trainClassifier(hym, {
      model: 'mobilenet-v1-0.25',
      strategy: 'partial',
      trainLast: 2,
      epochs: 3,
      patience: 100,
      restoreBest: false,
      finetuneBatchSize: 8,
      seed: 1,
      onEvent: (e) => e.type === 'finetune-epoch' && mem.push(e),
    });
    try {
      const frozen = await openCutBackbone(net, cut);
      const fresh = await buildTrainableTail(tf, net, cut, frozen.cutShape);
      const { loadLayersModelFromDir } = await import('../../src/backbone/runtimes/tfjs/backbone.js');
      const model = await loadLayersModelFromDir(tf, net.dir, net.entry.entry);
      try {
        const snap = r.classifier.data.tail!;
        assert.equal(snap.kind, 'tfjs-layers');
        assert.equal(mem.length, 3);
        assert.deepEqual((mem[2] as { memory: unknown }).memory, (mem[1] as { memory: unknown }).memory);
        const kernel = snap.variables.find((v) => /kernel/.test(v.name))!;
        const k0 = fresh.variables.get(kernel.name)!.dataSync();
        assert.ok(
          kernel.data.some((x, i) => x !== k0[i]),
          'an unfrozen kernel changed',
        );
        // BatchNorm moving statistics (inside the trained blocks) are frozen: bit-identical after training.
        assert.ok(snap.variables.every((v) => !/moving_/.test(v.name)));
        const trained = await (
          r.classifier.backbone as unknown as { tail: { frozenWeights(): Promise<Map<string, Float32Array>> } }
        ).tail.frozenWeights();
        const initial = await fresh.frozenWeights();
        assert.ok(initial.size >= 4, `BN statistics in the tail: ${[...initial.keys()]}`);
        for (const [name, w] of initial) assert.deepEqual(trained.get(name), w, name);
        // A layer before the cut (frozen, in the cached part) is not part of the trained tail at all.
        const firstConv = model.layers.find((l) => l.name === 'conv1')!;
        assert.ok(snap.variables.every((v) => !v.name.startsWith(`${firstConv.name}/`)));
      } finally {
        fresh.dispose();
        model.dispose();
        await frozen.dispose();
      }
    } finally {
      await r.classifier.dispose();
    }
  });
});

describe('auto and tl plan', () => {
  // auto's choices and the recipe it picks: test/integration/plan-auto.test.ts.
  test('CLI: bad rung flags give one clear error line', async () => {
    const data = join(DATASETS_DIR, 'hymenoptera_data');
    for (const [args, re] of [
      [['--freeze', 'abc'], /--freeze/],
      [['--strategy', 'foo'], /--strategy must be one of head, partial, full, auto/],
      [['--replace', 'wide'], /--replace must be/],
    ] as const) {
      const c = await runCli(['train', data, ...args], { cacheDir });
      assert.notEqual(c.code, 0);
      const lines = c.stderr.split('\n').filter((l) => l.trim() && !l.startsWith('(run with'));
      assert.equal(lines.length, 1, c.stderr);
      assert.match(lines[0], re);
    }
  });
});
