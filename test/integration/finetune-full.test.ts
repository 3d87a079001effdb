// Rung 3 (full fine-tuning, freeze 0) at a small input size, the minibatch cap that keeps training steps inside the
// wasm heap, and --augment (cached augmented copies for partial, fresh draws for full). Small subsets, few epochs.
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
import { sha256 } from '../../src/util/hash.js';
import {
  loadNetwork,
  resolveFreeze,
  openCutBackbone,
  buildTrainableTail,
  trainingTf,
} from '../../src/finetune/network.js';
import { augmentImage, augmentedCut } from '../../src/finetune/augment.js';
import { pickNativeSize, MIN_TRAIN_SIZE } from '../../src/finetune/native-size.js';
import { cleanup, DATASETS_DIR, linkSubset, tempDir } from '../helpers.js';

let cacheDir: string;
let hym40: string;
let hym4: string;
before(async () => {
  cacheDir = await tempDir('tl-ftf-cache-');
  env.cacheDir = cacheDir;
  hym40 = await tempDir('tl-ftf-hym40-');
  await linkSubset(join(DATASETS_DIR, 'hymenoptera_data/train'), join(hym40, 'train'), 40);
  await linkSubset(join(DATASETS_DIR, 'hymenoptera_data/val'), join(hym40, 'val'), 20);
  hym4 = await tempDir('tl-ftf-hym4-');
  await linkSubset(join(DATASETS_DIR, 'hymenoptera_data/train'), join(hym4, 'train'), 4);
  await linkSubset(join(DATASETS_DIR, 'hymenoptera_data/val'), join(hym4, 'val'), 3);
});
after(() => cleanup(cacheDir, hym40, hym4));

const epochsOf = (ev: TrainEvent[]) =>
  ev.filter((e): e is Extract<TrainEvent, { type: 'finetune-epoch' }> => e.type === 'finetune-epoch');

describe('full fine-tuning, mobilenet-v1-0.25 at 144 px', () => {
  const events: TrainEvent[] = [];
  let r: Awaited<ReturnType<typeof trainClassifier>>;
  let bundle: string;
  before(async () => {
    bundle = join(await tempDir('tl-ftf-bundle-'), 'clf');
    r = await trainClassifier(hym40, {
      model: 'mobilenet-v1-0.25',
      strategy: 'full',
      size: 144,
      epochs: 2,
      patience: 100,
      restoreBest: false,
      finetuneBatchSize: 8,
      seed: 2,
      onEvent: (e) => events.push(e),
    });
  });
  after(async () => {
    await r?.classifier.dispose();
    await cleanup(join(bundle, '..'));
  });

  test('trains every layer from the input (v1-0.25 pinned for speed; rung 3 defaults to mobilenet-v2), memory flat', () => {
    const setup = events.find((e) => e.type === 'finetune-setup');
    assert.ok(setup?.type === 'finetune-setup');
    assert.equal(setup.cut, 'input_1');
    // Bees and ants are ImageNet-like photos: the pretrained layers get the photo rate, and the log says why.
    assert.equal(r.config.tailLr, r.config.lr / 50);
    assert.match(
      setup.rates ?? '',
      /: the ImageNet head sorts \d+ training images into \d+\.\d\d distinct ImageNet classes per class \(mean confidence 0\.\d\d\): photo-like \(below 0\.75 counts as far\), so its features move little/,
    );
    assert.ok(
      setup.trainable.some((l) => /conv1/.test(l)),
      'the first conv trains',
    );
    assert.equal(r.config.model, 'mobilenet-v1-0.25');
    assert.equal(r.config.imageSize, 144);
    const ep = epochsOf(events);
    assert.equal(ep.length, 2);
    assert.deepEqual(ep[1].memory, ep[0].memory);
    assert.equal(r.history.length, 3);
    assert.ok(r.metrics.accuracy >= 0.6, `val accuracy ${r.metrics.accuracy}`);
  });

  test('weights changed, including the first conv', async () => {
    const net = await loadNetwork(findModel('mobilenet-v1-0.25'));
    const { cut } = resolveFreeze(net, { freeze: 0 });
    const { tf } = await trainingTf();
    const fresh = await buildTrainableTail(tf, net, cut, [144, 144, 3]);
    try {
      const snap = r.classifier.data.tail!;
      assert.equal(snap.cut, cut);
      const first = snap.variables.find((v) => v.name.startsWith('conv1/'))!;
      const k0 = fresh.variables.get(first.name)!.dataSync();
      assert.ok(
        first.data.some((x, i) => x !== k0[i]),
        'conv1 kernel moved',
      );
    } finally {
      fresh.dispose();
    }
  });

  test('bundle records the input size; load + predict match the in-memory model (prob diff < 1e-5)', async () => {
    await r.classifier.save(bundle);
    const json = JSON.parse(await readFile(join(bundle, 'classifier.json'), 'utf8'));
    assert.equal(json.version, 2);
    assert.equal(json.tail.imageSize, 144);
    assert.deepEqual(json.tail.inputShape, [144, 144, 3]);
    const files = r.dataset.val.slice(0, 4).map((x) => x.path);
    const a = await Promise.all(files.map((f) => r.classifier.predict(f)));
    const loaded = await Classifier.load(bundle);
    try {
      assert.equal(loaded.backbone.input.size, 144);
      const b = await Promise.all(files.map((f) => loaded.predict(f)));
      for (let i = 0; i < files.length; i++) {
        assert.equal(b[i].label, a[i].label);
        assert.ok(Math.abs(b[i].probability - a[i].probability) < 1e-5, `${b[i].probability} vs ${a[i].probability}`);
      }
      // Batched prediction (predictFiles) agrees with one-by-one.
      const { predictions } = await loaded.predictFiles(files, { store: null });
      predictions.forEach((p, i) => assert.ok(Math.abs(p.probability - a[i].probability) < 1e-5));
    } finally {
      await loaded.dispose();
    }
  });
});

describe('minibatch cap and the int8 ONNX network trained whole', () => {
  test('a step that would not fit the heap budget runs in smaller passes, the minibatch kept', async () => {
    const ev: TrainEvent[] = [];
    process.env.TL_FT_MEMORY_MB = '1';
    try {
      const r = await trainClassifier(hym4, {
        model: 'mobilenet-v1-0.25',
        strategy: 'full',
        size: 96,
        epochs: 1,
        finetuneBatchSize: 8,
        l2: 1,
        seed: 0,
        onEvent: (e) => ev.push(e),
      });
      await r.classifier.dispose();
      const b = ev.find((e) => e.type === 'finetune-batch');
      assert.ok(b?.type === 'finetune-batch' && b.used < 8 && b.bytesPerImage > 0, JSON.stringify(b));
      // The optimizer still steps on the requested minibatch; only each forward/backward pass is smaller.
      assert.equal(r.config.batchSize, 8);
    } finally {
      delete process.env.TL_FT_MEMORY_MB;
    }
  });

  test('MobileNetV2 int8 converted from the input runs below 224 px (64 px), saves and loads', async () => {
    const r = await trainClassifier(hym4, {
      model: 'mobilenet-v2',
      strategy: 'full',
      size: 64,
      epochs: 1,
      patience: 100,
      restoreBest: false,
      finetuneBatchSize: 4,
      l2: 1,
      seed: 0,
    });
    const dir = join(await tempDir('tl-ftf-v2-'), 'clf');
    try {
      assert.equal(r.classifier.data.tail!.kind, 'onnx-tail');
      assert.equal(r.classifier.data.tail!.imageSize, 64);
      await r.classifier.save(dir);
      const f = r.dataset.val[0].path;
      const a = await r.classifier.predict(f);
      const loaded = await Classifier.load(dir);
      const b = await loaded.predict(f);
      await loaded.dispose();
      assert.ok(Math.abs(a.probability - b.probability) < 1e-5);
    } finally {
      await r.classifier.dispose();
      await cleanup(join(dir, '..'));
    }
  });
});

describe('--augment', () => {
  test('augmentImage: seeded, differs by copy, keeps the layout and range', async () => {
    const spec = findModel('mobilenet-v1-0.25').input;
    const x = await preprocess(join(DATASETS_DIR, 'hymenoptera_data/train/ants/0013035.jpg'), { ...spec, size: 64 });
    const a = augmentImage(x, spec, 64, spec.layout, { seed: 1, copy: 0 });
    const b = augmentImage(x, spec, 64, spec.layout, { seed: 1, copy: 0 });
    const c = augmentImage(x, spec, 64, spec.layout, { seed: 1, copy: 1 });
    assert.deepEqual(a, b);
    assert.notDeepEqual(a, c);
    assert.equal(a.length, x.length);
    const lo = (0 - spec.mean[0]) / spec.std[0] - 1e-5;
    const hi = (1 - spec.mean[0]) / spec.std[0] + 1e-5;
    for (let i = 0; i < a.length; i += 3) assert.ok(a[i] >= lo && a[i] <= hi);
  });

  test('partial --augment-copies 2: copies cached (second run computes 0), unlike the plain activations', async () => {
    const run = async () => {
      const ev: TrainEvent[] = [];
      const r = await trainClassifier(hym4, {
        model: 'mobilenet-v1-0.25',
        strategy: 'partial',
        trainLast: 1,
        augment: true,
        augmentCopies: 2,
        epochs: 2,
        patience: 100,
        finetuneBatchSize: 8,
        l2: 1,
        seed: 5,
        onEvent: (e) => ev.push(e),
      });
      await r.classifier.dispose();
      return {
        r,
        done: ev.filter((e): e is Extract<TrainEvent, { type: 'extract-done' }> => e.type === 'extract-done'),
      };
    };
    const first = await run();
    // train, val, then one extraction per augmented copy.
    assert.equal(first.done.length, 4);
    assert.equal(first.done[2].embedded, 8);
    assert.equal(first.done[3].embedded, 8);
    assert.deepEqual(first.r.config.augment, {
      recipe: first.r.config.augment && (first.r.config.augment as { recipe: string }).recipe,
      copies: 2,
      fresh: false,
    });
    const second = await run();
    assert.deepEqual(
      second.done.map((d) => d.embedded),
      [0, 0, 0, 0],
    );
    assert.deepEqual(
      second.done.slice(2).map((d) => d.cached),
      [8, 8],
    );

    // The cached copy differs from the plain activation of the same image, and copies differ from each other.
    const net = await loadNetwork(findModel('mobilenet-v1-0.25'));
    const { cut } = resolveFreeze(net, { trainLast: 1 });
    const frozen = await openCutBackbone(net, cut);
    const store = FeatureStore.open();
    try {
      const path = first.r.dataset.train[0].path;
      const h = sha256(await readFile(path));
      const plain = store.get(modelKeyFor(frozen).key, h, frozen.featureDim)!;
      const c0 = store.get(modelKeyFor(augmentedCut(frozen, { seed: 5, copy: 0 })).key, h, frozen.featureDim)!;
      const c1 = store.get(modelKeyFor(augmentedCut(frozen, { seed: 5, copy: 1 })).key, h, frozen.featureDim)!;
      assert.ok(plain && c0 && c1);
      assert.notDeepEqual(c0, plain);
      assert.notDeepEqual(c0, c1);
    } finally {
      store.close();
      await frozen.dispose();
    }
  });

  test('full --augment: fresh draws each epoch from the cached images (no extra extraction)', async () => {
    const ev: TrainEvent[] = [];
    const r = await trainClassifier(hym4, {
      model: 'mobilenet-v1-0.25',
      strategy: 'full',
      size: 96,
      augment: true,
      epochs: 2,
      patience: 100,
      finetuneBatchSize: 8,
      l2: 1,
      seed: 0,
      onEvent: (e) => ev.push(e),
    });
    await r.classifier.dispose();
    assert.equal(ev.filter((e) => e.type === 'extract-done').length, 2);
    assert.equal(epochsOf(ev).length, 2);
    assert.equal((r.config.augment as { fresh: boolean }).fresh, true);
  });
});

describe('rung 3 recipe defaults over 5 epochs', () => {
  test('augmentation on, rates warm up then decay (cosine), tf.memory() after epoch 5 == after epoch 1', async () => {
    const ev: TrainEvent[] = [];
    const r = await trainClassifier(hym4, {
      model: 'mobilenet-v1-0.25',
      strategy: 'full',
      size: 64,
      epochs: 5,
      patience: 100,
      restoreBest: false,
      finetuneBatchSize: 4,
      l2: 1,
      seed: 3,
      onEvent: (e) => ev.push(e),
    });
    await r.classifier.dispose();
    assert.equal((r.config.augment as { fresh: boolean } | null)?.fresh, true, 'augmented by default');
    assert.equal(r.config.tailLr, r.config.lr / 50, 'photos: the photo rate');
    const ep = epochsOf(ev);
    assert.equal(ep.length, 5);
    assert.ok(ep[0].memory.numTensors > 0);
    assert.deepEqual(ep[4].memory, ep[0].memory, 'no tensor or wasm buffer left behind per epoch');
  });
});

describe("rung 3 training size: the images' own size when below the backbone's, not below 128 px", () => {
  let euro: string;
  before(async () => {
    euro = await tempDir('tl-ftf-euro-');
    await linkSubset(join(DATASETS_DIR, 'eurosat/train'), join(euro, 'train'), 2);
    await linkSubset(join(DATASETS_DIR, 'eurosat/val'), join(euro, 'val'), 1);
  });
  after(() => cleanup(euro));

  test("pickNativeSize: EuroSAT (64 px photos) -> 128 (the floor); hymenoptera (over 224 px) -> the backbone's size", async () => {
    const eu = await pickNativeSize(
      [
        join(DATASETS_DIR, 'eurosat/train/Forest/Forest_1.jpg'),
        ...(await linkSubset(join(DATASETS_DIR, 'eurosat/val'), join(euro, 'probe'), 1)),
      ],
      224,
    );
    assert.equal(eu?.size, MIN_TRAIN_SIZE);
    assert.equal(MIN_TRAIN_SIZE, 128);
    assert.match(eu!.why, /128 px.*64 px.*upsampled.*224 px/);
    // A backbone smaller than the floor trains at its own size; one between the native size and the floor too.
    assert.equal(await pickNativeSize([join(DATASETS_DIR, 'eurosat/train/Forest/Forest_1.jpg')], 96), undefined);
    const hy = await linkSubset(join(DATASETS_DIR, 'hymenoptera_data/val'), join(euro, 'hy'), 3);
    assert.equal(await pickNativeSize(hy, 224), undefined);
  });

  test('a rung-3 run without --size trains at 128 px on EuroSAT and says so; --size overrides', async () => {
    const ev: TrainEvent[] = [];
    const r = await trainClassifier(euro, {
      model: 'mobilenet-v2',
      strategy: 'full',
      epochs: 1,
      patience: 100,
      finetuneBatchSize: 4,
      l2: 1,
      seed: 0,
      onEvent: (e) => ev.push(e),
    });
    await r.classifier.dispose();
    assert.equal(r.config.imageSize, 128);
    const setup = ev.find((e) => e.type === 'finetune-setup');
    assert.ok(setup?.type === 'finetune-setup' && /training at 128 px/.test(setup.size ?? ''), JSON.stringify(setup));
    // Satellite patches are far from ImageNet: the pretrained layers keep the higher far rate.
    assert.equal(r.config.tailLr, r.config.lr / 5);
    assert.match(
      setup.rates ?? '',
      /ImageNet classes per class \(mean confidence 0\.\d\d\): far from ImageNet \(below 0\.75 counts as far\), so the pretrained features must move/,
    );
    const r2 = await trainClassifier(euro, {
      model: 'mobilenet-v2',
      strategy: 'full',
      size: 96,
      epochs: 1,
      patience: 100,
      finetuneBatchSize: 4,
      l2: 1,
      seed: 0,
    });
    await r2.classifier.dispose();
    assert.equal(r2.config.imageSize, 96);
  });
});
