// The library API end to end on real photos: trainClassifier (accuracy targets, the feature cache, determinism, MLP
// head, class weights), saved bundles (load, predict, refusals) and the unknown-image detector. One temp cache and
// one feature store for the whole file, so every photo is embedded once.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { cp, readdir, readFile, truncate, writeFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { env } from '../../src/util/env.js';
import { trainClassifier, type TrainEvent, type TrainResult, type TrainOptions } from '../../src/training/train.js';
import { Classifier } from '../../src/classifier/classifier.js';
import { FeatureStore } from '../../src/features/store.js';
import { extractFeatures } from '../../src/features/extract.js';
import { loadDataset, type Dataset } from '../../src/data/dataset.js';
import { TlError } from '../../src/util/errors.js';
import { cleanup, collect, DATASETS_DIR, FIXTURES, filesIn, ROOT, tempDir } from '../helpers.js';

const HYM = join(DATASETS_DIR, 'hymenoptera_data');
const WOOF = join(DATASETS_DIR, 'imagewoof');
const EUROSAT_VAL = join(DATASETS_DIR, 'eurosat/val');
/** Everyday photos from Debian's darknet package: none shows an ant or a bee. */
const NOT_INSECTS = ['scream.jpg', 'horses.jpg', 'giraffe.jpg', 'kite.jpg', 'person.jpg'].map((f) => join(FIXTURES, f));

let tmp: string;
let store: FeatureStore;
/** The reference run: hymenoptera_data, default options (rung 1). */
let hym: TrainResult;
let hymEvents: TrainEvent[];

// Rung 1 named, not auto: auto picks it on every set here, and its plan's probes (fine-tuning epochs timed on a few
// images, 5-20 s a call) would be most of this file's time; auto's default is test/unit/one-of-each's concern.
async function train(
  data: string | Dataset,
  opts: TrainOptions = {},
): Promise<{ r: TrainResult; events: TrainEvent[] }> {
  const events: TrainEvent[] = [];
  const r = await trainClassifier(data, {
    store,
    strategy: 'head',
    ...opts,
    onEvent: (e) => e.type !== 'extract' && e.type !== 'progress' && events.push(e),
  });
  return { r, events };
}
const extractDone = (events: TrainEvent[]) =>
  events.filter((e): e is Extract<TrainEvent, { type: 'extract-done' }> => e.type === 'extract-done');

before(async () => {
  tmp = await tempDir('tl-train-');
  env.cacheDir = tmp; // the library's cache (and default feature store) is the temp dir, never the user's
  store = FeatureStore.open(join(tmp, 'features.sqlite'));
  ({ r: hym, events: hymEvents } = await train(HYM));
});
after(async () => {
  await hym?.classifier.dispose();
  store?.close();
  await cleanup(tmp);
});

describe('trainClassifier', () => {
  test('hymenoptera_data, default backbone: val accuracy >= 0.95', () => {
    const m = hym.metrics;
    assert.equal(hym.config.model, 'mobilenet-v2');
    assert.equal(hym.config.split, 'folders');
    assert.equal(m.count, 153);
    assert.ok(m.accuracy >= 0.95, `accuracy ${m.accuracy}`);
    assert.deepEqual(
      m.perClass.map((c) => c.label),
      ['ants', 'bees'],
    );
    assert.deepEqual(
      hym.counts.map((c) => [c.train, c.val]),
      [
        [123, 70],
        [121, 83],
      ],
    );
    const done = extractDone(hymEvents);
    assert.deepEqual(
      done.map((e) => [e.split, e.embedded + e.cached, e.skipped]),
      [
        ['train', 244, 0],
        ['val', 153, 0],
      ],
    );
    assert.ok(hym.selection, 'L2 chosen by cross-validation');
    assert.equal(hym.config.l2SelectedBy, 'cv5-on-train');
  });

  test('a second identical call embeds nothing: every feature comes from the store, training dominates', async () => {
    const { r, events } = await train(HYM);
    try {
      const done = extractDone(events);
      assert.deepEqual(
        done.map((e) => [e.split, e.embedded, e.cached]),
        [
          ['train', 0, 244],
          ['val', 0, 153],
        ],
      );
      assert.equal(r.metrics.accuracy, hym.metrics.accuracy);
      assert.ok(
        r.timings.trainSeconds > r.timings.extractSeconds,
        `train ${r.timings.trainSeconds} s vs extract ${r.timings.extractSeconds} s`,
      );
    } finally {
      await r.classifier.dispose();
    }
  });

  test('seed 1 twice: byte-identical weights.bin', async () => {
    const dirs: string[] = [];
    for (let i = 0; i < 2; i++) {
      const { r } = await train(HYM, { seed: 1 });
      const dir = join(tmp, `seed1-${i}`);
      await r.classifier.save(dir);
      await r.classifier.dispose();
      dirs.push(dir);
    }
    const [a, b] = await Promise.all(dirs.map((d) => readFile(join(d, 'weights.bin'))));
    assert.ok(a.length > 1280 * 4 * 3, `weights.bin holds the head (${a.length} bytes)`);
    assert.ok(a.equals(b), 'same seed: same bytes');
    const [ja, jb] = await Promise.all(
      dirs.map(async (d) => JSON.parse(await readFile(join(d, 'classifier.json'), 'utf8'))),
    );
    delete ja.createdAt;
    delete jb.createdAt;
    assert.deepEqual(ja, jb);
    assert.deepEqual((await readdir(dirs[0])).sort(), ['classifier.json', 'metrics.json', 'weights.bin']);
  });

  test('imagewoof (10 dog breeds): val accuracy >= 0.87', async () => {
    const { r } = await train(WOOF);
    try {
      assert.equal(r.metrics.count, 500);
      assert.equal(r.dataset.classes.length, 10);
      assert.ok(r.metrics.accuracy >= 0.87, `accuracy ${r.metrics.accuracy}`);
    } finally {
      await r.classifier.dispose();
    }
  });

  test('MLP head (64 hidden, dropout 0.2, 30 epochs) reaches >= 0.9 on hymenoptera', async () => {
    const { r, events } = await train(HYM, { head: { kind: 'mlp', hidden: 64, dropout: 0.2 }, epochs: 30 });
    try {
      assert.equal(r.classifier.data.head.kind, 'mlp');
      assert.deepEqual(
        r.classifier.data.head.layers.map((l) => [l.inputs, l.outputs, l.activation]),
        [
          [1280, 64, 'relu'],
          [64, 2, 'softmax'],
        ],
      );
      // Early stopping on the validation loss may end it before 30 epochs.
      assert.ok(r.history.length >= 2 && r.history.length <= 30, `epochs run: ${r.history.length}`);
      assert.ok(r.history.every((p) => Number.isFinite(p.trainLoss)));
      assert.ok(r.metrics.accuracy >= 0.9, `accuracy ${r.metrics.accuracy}`);
      assert.ok(extractDone(events).every((e) => e.embedded === 0));
      // Saved and loaded, the MLP predicts exactly what it predicted in memory.
      const dir = join(tmp, 'mlp');
      await r.classifier.save(dir);
      const clf = await Classifier.load(dir);
      try {
        const f = (await extractFeatures(clf.backbone, [r.dataset.val[0].path], { store })).features[0]!;
        assert.deepEqual(Array.from(clf.probabilities(f)), Array.from(r.classifier.probabilities(f)));
      } finally {
        await clf.dispose();
      }
    } finally {
      await r.classifier.dispose();
    }
  });

  test("class weights: on 100 ants vs 15 bees, 'balanced' raises bees recall over 'none'", async () => {
    const ds = loadDataset(HYM);
    const sub: Dataset = {
      ...ds,
      train: [
        ...ds.train.filter((x) => x.label === 'ants').slice(0, 100),
        ...ds.train.filter((x) => x.label === 'bees').slice(0, 15),
      ],
    };
    const recall = async (classWeights: 'none' | 'balanced' | 'auto') => {
      const { r } = await train(sub, { classWeights });
      await r.classifier.dispose();
      assert.ok(
        r.warnings.some((w) => /imbalanced \(100 vs 15/.test(w)),
        r.warnings.join('\n'),
      );
      return { bees: r.metrics.perClass.find((c) => c.label === 'bees')!.recall, config: r.config.classWeights };
    };
    const none = await recall('none');
    const balanced = await recall('balanced');
    const auto = await recall('auto');
    assert.equal(none.config, 'none');
    assert.equal(balanced.config, 'balanced');
    assert.equal(auto.config, 'balanced', "'auto' turns weights on for a 100:15 imbalance");
    assert.ok(balanced.bees > none.bees + 0.03, `bees recall: balanced ${balanced.bees} vs none ${none.bees}`);
  });
});

describe('saved classifier', () => {
  let bundle: string;
  before(async () => {
    bundle = join(tmp, 'hym-bundle');
    await hym.classifier.save(bundle);
  });

  /** A copy of the bundle with classifier.json edited (or a file damaged) by `edit`. */
  async function variant(
    name: string,
    edit: (dir: string, json: Record<string, any>) => Promise<void> | void,
  ): Promise<string> {
    const dir = join(tmp, name);
    await cp(bundle, dir, { recursive: true });
    const json = JSON.parse(await readFile(join(dir, 'classifier.json'), 'utf8'));
    await edit(dir, json);
    await writeFile(join(dir, 'classifier.json'), JSON.stringify(json));
    return dir;
  }

  test('Classifier.load(dir): predict(path) and predict(Buffer) agree with predictFeature', async () => {
    const clf = await Classifier.load(bundle);
    try {
      assert.deepEqual(clf.labels, ['ants', 'bees']);
      const image = (await filesIn(join(HYM, 'val/bees')))[3];
      const feature = (await extractFeatures(clf.backbone, [image], { store })).features[0]!;
      const expected = clf.predictFeature(feature, 2);
      assert.equal(expected.label, 'bees');
      const fromPath = await clf.predict(image, { top: 2 });
      const fromBytes = await clf.predict(await readFile(image), { top: 2 });
      for (const p of [fromPath, fromBytes]) {
        assert.equal(p.label, expected.label);
        assert.equal(p.unknown, expected.unknown);
        assert.ok(Math.abs(p.probability - expected.probability) < 1e-5, `${p.probability} vs ${expected.probability}`);
        assert.ok(Math.abs(p.distance - expected.distance) < 1e-5);
        assert.deepEqual(
          p.top.map((t) => t.label),
          expected.top.map((t) => t.label),
        );
      }
      // The loaded head is the trained one.
      assert.deepEqual(Array.from(clf.probabilities(feature)), Array.from(hym.classifier.probabilities(feature)));
      await assert.rejects(
        clf.predict(Buffer.from('not an image')),
        (e: Error) => e instanceof TlError && /cannot classify image/.test(e.message),
      );
    } finally {
      await clf.dispose();
    }
  });

  test('a bundle whose weightsHash differs from the backbone here is refused, naming the backbone and its weights', async () => {
    const dir = await variant('other-weights', (_d, j) => {
      j.backbone.weightsHash = 'ab'.repeat(32);
    });
    await assert.rejects(
      Classifier.load(dir),
      (e: Error) => e instanceof TlError && /mobilenet-v2/.test(e.message) && /weights/.test(e.message),
    );
  });

  test('a bundle trained on an unknown backbone id is refused clearly', async () => {
    const dir = await variant('unknown-backbone', (_d, j) => {
      j.backbone.id = 'resnet-9000';
    });
    await assert.rejects(
      Classifier.load(dir),
      (e: Error) => e instanceof TlError && /backbone "resnet-9000"/.test(e.message) && /not available/.test(e.message),
    );
  });

  test('a damaged bundle (truncated or missing weights.bin, broken JSON, not a bundle) is refused clearly', async () => {
    const isDamaged = (e: Error) => e instanceof TlError && /damaged/.test(e.message);
    const size = (await readFile(join(bundle, 'weights.bin'))).length;
    const half = await variant('truncated', (d) => truncate(join(d, 'weights.bin'), size / 2));
    await assert.rejects(Classifier.load(half), isDamaged);
    const odd = await variant('truncated-odd', (d) => truncate(join(d, 'weights.bin'), size - 3));
    await assert.rejects(
      Classifier.load(odd),
      (e: Error) => isDamaged(e) && /weights\.bin has \d+ bytes/.test(e.message),
    );
    const missing = await variant('missing-weights', (d) => rm(join(d, 'weights.bin')));
    await assert.rejects(Classifier.load(missing), (e: Error) => isDamaged(e) && /weights\.bin/.test(e.message));
    const broken = join(tmp, 'broken-json');
    await cp(bundle, broken, { recursive: true });
    await writeFile(join(broken, 'classifier.json'), '{"format": "tl-classifier", "version": 1, "labels": [');
    await assert.rejects(Classifier.load(broken), isDamaged);
    await assert.rejects(
      Classifier.load(tmp),
      (e: Error) => e instanceof TlError && /not a classifier bundle/.test(e.message),
    );
  });
});

describe('unknown images', () => {
  /** Share of `paths` the hymenoptera classifier flags as unknown. */
  async function unknownRate(paths: string[]): Promise<{ rate: number; distances: number[] }> {
    const { predictions, skipped } = await hym.classifier.predictFiles(paths, { store });
    assert.deepEqual(skipped, []);
    assert.equal(predictions.length, paths.length);
    return {
      rate: predictions.filter((p) => p.unknown).length / paths.length,
      distances: predictions.map((p) => p.distance),
    };
  }

  test('few hymenoptera val photos are flagged; most satellite patches and everyday photos are', async () => {
    const det = hym.classifier.data.unknown;
    assert.equal(det.method, 'knn-cosine');
    assert.ok(det.threshold > 0 && det.threshold < 1, `threshold ${det.threshold}`);

    const val = await unknownRate(hym.dataset.val.map((x) => x.path));
    assert.ok(val.rate <= 0.1, `hymenoptera val flagged unknown: ${val.rate}`);

    const eurosat: string[] = [];
    for (const cls of (await readdir(EUROSAT_VAL)).sort())
      eurosat.push(...(await filesIn(join(EUROSAT_VAL, cls))).slice(0, 6));
    assert.equal(eurosat.length, 60);
    const sat = await unknownRate(eurosat);
    assert.ok(sat.rate >= 0.7, `eurosat flagged unknown: ${sat.rate}`);

    const photos = await unknownRate(NOT_INSECTS);
    assert.ok(
      photos.rate >= 0.7,
      `darknet photos flagged unknown: ${photos.rate} (distances ${photos.distances.map((d) => d.toFixed(3)).join(', ')}, threshold ${det.threshold.toFixed(3)})`,
    );
  });

  test('the detector survives save and load', async () => {
    const dir = join(tmp, 'unknown-roundtrip');
    await hym.classifier.save(dir);
    const clf = await Classifier.load(dir);
    try {
      assert.deepEqual(clf.data.unknown, hym.classifier.data.unknown);
      const p = await clf.predict(NOT_INSECTS[0]);
      assert.equal(p.unknown, true, `distance ${p.distance} vs threshold ${clf.data.unknown.threshold}`);
    } finally {
      await clf.dispose();
    }
  });
});

describe('examples/library.ts', () => {
  test('runs as the README shows, through the package self-reference tl-transfer (built dist/)', async () => {
    const out = join(tmp, 'example-out');
    const image = (await filesIn(join(HYM, 'val/ants')))[0];
    const childEnv: NodeJS.ProcessEnv = { ...process.env, TL_CACHE_DIR: tmp, TL_OFFLINE: '1' };
    delete childEnv.TL_FEATURE_STORE;
    const child = spawn(process.execPath, ['--import', 'tsx', 'examples/library.ts', HYM, image, out], {
      cwd: ROOT,
      env: childEnv,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const r = await collect(child, 180_000);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^train: 0 embedded, 244 cached$/m, 'shares the cache with this file');
    const acc = /^validation accuracy: (\d+\.\d)%$/m.exec(r.stdout);
    assert.ok(acc, r.stdout);
    assert.ok(Number(acc[1]) >= 90, r.stdout);
    assert.match(r.stdout, /^(ants|bees) \d+\.\d%$|^unknown \(closest: (ants|bees)\)$/m);
    const top = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { label: string; probability: number }[];
    assert.deepEqual(top.map((t) => t.label).sort(), ['ants', 'bees']);
    assert.deepEqual((await readdir(out)).sort(), ['classifier.json', 'metrics.json', 'weights.bin']);
  });
});
