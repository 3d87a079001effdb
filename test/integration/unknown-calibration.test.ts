// The unknown flag on real features (issue 13 part 3, issue 24): MobileNetV2 features of a few imagewoof breeds as the
// known classes. The threshold is calibrated on the training images alone (conformal: each scored as a new image
// would be), so the share of held-out known photos it flags sits near the target rate, here and on hymenoptera and
// EuroSAT through `trainClassifier`; the threshold does not move when val is relabelled or replaced; other dog breeds
// (near-unknown) and satellite patches (far) are flagged far more often; and a bundle written before the detector
// changed still loads and flags as it did.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { env } from '../../src/util/env.js';
import { loadBackbone } from '../../src/backbone/load.js';
import type { Backbone } from '../../src/backbone/types.js';
import { extractFeatures } from '../../src/features/extract.js';
import { FeatureStore } from '../../src/features/store.js';
import {
  DEFAULT_FALSE_UNKNOWN_RATE,
  fitUnknownDetector,
  fitUnknownDetectorCounted,
  unknownDistance,
  type UnknownDetector,
} from '../../src/classifier/unknown.js';
import { trainClassifier } from '../../src/training/train.js';
import { Classifier } from '../../src/classifier/classifier.js';
import { exportClassifier, readExportMetadata } from '../../src/export/export.js';
import { cleanup, cosine, DATASETS_DIR, linkSubset, tempDir } from '../helpers.js';

const WOOF = join(DATASETS_DIR, 'imagewoof');
const KNOWN = ['n02086240', 'n02087394', 'n02088364'];
const NEAR = ['n02099601', 'n02111889'];
const TRAIN_PER_CLASS = 40;

let tmp: string;
let store: FeatureStore;
let backbone: Backbone;
const feats = { train: [] as Float32Array[], labels: new Int32Array(), val: [] as Float32Array[] };
const near: Float32Array[] = [];
const far: Float32Array[] = [];

async function files(dir: string, n: number): Promise<string[]> {
  return (await readdir(dir))
    .sort()
    .slice(0, n)
    .map((f) => join(dir, f));
}
async function embed(paths: string[]): Promise<Float32Array[]> {
  const { features } = await extractFeatures(backbone, paths, { store });
  return features.filter((f): f is Float32Array => f !== undefined);
}
const rate = (det: UnknownDetector, set: Float32Array[]) =>
  set.filter((f) => unknownDistance(det, f) > det.threshold).length / set.length;
/** The issue-24 bar: within 1 point of the target, or 2 binomial sd of it on `n` images when that is wider. */
function assertNearTarget(flagRate: number, n: number, what: string) {
  const t = DEFAULT_FALSE_UNKNOWN_RATE;
  const tolerance = Math.max(0.01, 2 * Math.sqrt((t * (1 - t)) / n));
  assert.ok(
    Math.abs(flagRate - t) <= tolerance,
    `${what}: ${(flagRate * 100).toFixed(2)}% of ${n} val images flagged, target ${t * 100}% +- ${(tolerance * 100).toFixed(2)}`,
  );
}

before(async () => {
  tmp = await tempDir('tl-unknown-');
  env.cacheDir = tmp;
  store = FeatureStore.open(join(tmp, 'features.sqlite'));
  backbone = await loadBackbone('mobilenet-v2');
  const labels: number[] = [];
  for (const [y, c] of KNOWN.entries()) {
    const tr = await embed(await files(join(WOOF, 'train', c), TRAIN_PER_CLASS));
    feats.train.push(...tr);
    labels.push(...tr.map(() => y));
    feats.val.push(...(await embed(await files(join(WOOF, 'val', c), 50))));
  }
  feats.labels = Int32Array.from(labels);
  for (const c of NEAR) near.push(...(await embed(await files(join(WOOF, 'val', c), 20))));
  const sat = join(DATASETS_DIR, 'eurosat/val');
  for (const c of (await readdir(sat)).sort().slice(0, 4)) far.push(...(await embed(await files(join(sat, c), 6))));
});
after(async () => {
  await backbone?.dispose();
  store?.close();
  await cleanup(tmp);
});

describe('unknown flag on real features', () => {
  test('threshold from training images only: about 5% of held-out known photos flagged', () => {
    const det = fitUnknownDetector(feats.train, feats.labels, KNOWN.length);
    assert.equal(det.method, 'knn-cosine');
    assert.equal(det.k, 5);
    assert.equal(det.falseUnknownRate, 0.05);
    const known = rate(det, feats.val);
    // 150 held-out photos: a binomial 5% has a standard deviation of 1.8 points; the threshold from 120 training
    // images adds its own 2.0. Measured 2.7% here with k = 1 (before the k-NN rule), 2.7% with k = 5 (either quantile).
    assertNearTarget(known, feats.val.length, 'three imagewoof breeds');
    assert.ok(rate(det, near) >= Math.max(0.2, 3 * known), `near-unknown flagged ${rate(det, near)}, known ${known}`);
    assert.ok(rate(det, far) >= 0.9, `eurosat flagged: ${rate(det, far)}`);
  });

  test('the score is the mean distance to the k nearest references; the threshold its conformal leave-one-out quantile', () => {
    const det = fitUnknownDetector(feats.train, feats.labels, KNOWN.length, undefined, { falseUnknownRate: 0.1 });
    // Independently: sort 1 - cos to every training image, average the 5 smallest.
    const q = feats.val[0];
    const d = feats.train.map((r) => 1 - cosine(r, q)).sort((a, b) => a - b);
    const expected = d.slice(0, 5).reduce((a, b) => a + b, 0) / 5;
    assert.ok(Math.abs(unknownDistance(det, q) - expected) < 1e-5, `${unknownDistance(det, q)} vs ${expected}`);
    // Each training image scored without itself: the threshold is the ceil((n + 1)(1 - 0.1)) = 109th smallest of the
    // 120, leaving 11 above it (the former floor(0.9 n)-th quantile left 12: a new image's flag rate 12/121 > 10%).
    const loo = feats.train.map((f, i) => unknownDistance(det, f, i)).sort((a, b) => a - b);
    assert.equal(loo.length, 120);
    assert.equal(det.threshold, loo[108]);
    assert.equal(loo.filter((x) => x > det.threshold).length, 11);
    // With itself among the references, a training image's score is lower: leave-one-out matters.
    assert.ok(unknownDistance(det, feats.train[0]) < unknownDistance(det, feats.train[0], 0));
  });

  test('k is capped so that leave-one-out still has k neighbours', () => {
    const det = fitUnknownDetector(feats.train.slice(0, 4), Int32Array.from([0, 0, 1, 1]), 2);
    assert.equal(det.k, 3);
    assert.ok(Number.isFinite(det.threshold));
  });
});

describe('flag rate on val at its target, through trainClassifier (issue 24)', () => {
  /** hymenoptera_data as shipped; and the same train beside a val relabelled (classes swapped) and cut to 60. */
  let hym: string;
  let relabelled: string;
  before(async () => {
    const src = join(DATASETS_DIR, 'hymenoptera_data');
    hym = join(tmp, 'hym');
    relabelled = join(tmp, 'hym-relabelled');
    for (const dir of [hym, relabelled]) {
      await mkdir(dir, { recursive: true });
      await symlink(join(src, 'train'), join(dir, 'train'));
    }
    await symlink(join(src, 'val'), join(hym, 'val'));
    for (const [from, to] of [
      ['ants', 'bees'],
      ['bees', 'ants'],
    ]) {
      await mkdir(join(relabelled, 'val', to), { recursive: true });
      for (const f of await files(join(src, 'val', from), 30))
        await symlink(f, join(relabelled, 'val', to, f.split('/').pop()!));
    }
  });

  test('hymenoptera: val flagged within 2 binomial sd of 5%, and the threshold ignores val', async () => {
    const a = await trainClassifier(hym, { store, seed: 0, strategy: 'head' });
    const b = await trainClassifier(relabelled, { store, seed: 0, strategy: 'head' });
    try {
      const flagRate = a.config.splits.unknown.flagRateOnVal!;
      // 153 val images: 7.2% (the former floor quantile of leave-one-out scores: 7.8%); over random re-splits of
      // train + val the same rule flags 4.4-4.9% on average (docs/unknown.md): this val split is off, not the rule.
      assertNearTarget(flagRate, 153, 'hymenoptera_data');
      assert.equal(
        a.config.splits.unknown.calibratedOn,
        'train, leave-one-out (mean cosine distance to the 5 nearest training features)',
      );
      // Val relabelled and replaced: its flag rate is measured anew, the threshold and references are the same bytes.
      const [da, db] = [a.classifier.data.unknown, b.classifier.data.unknown];
      assert.equal(b.config.valImages, 60);
      assert.equal(db.threshold, da.threshold);
      assert.deepEqual(Buffer.from(db.references.buffer), Buffer.from(da.references.buffer));
      assert.notEqual(b.metrics.accuracy, a.metrics.accuracy, 'val did change');
    } finally {
      await a.classifier.dispose();
      await b.classifier.dispose();
    }
  });

  test('EuroSAT (40 train, 20 val per class): within 2 binomial sd; calibrated beyond the references as well', async () => {
    const dir = join(tmp, 'eurosat');
    const src = join(DATASETS_DIR, 'eurosat');
    const trainPaths = await linkSubset(join(src, 'train'), join(dir, 'train'), 40);
    const valPaths = await linkSubset(join(src, 'val'), join(dir, 'val'), 20);
    const { classifier, config } = await trainClassifier(dir, { store, seed: 0, strategy: 'head' });
    try {
      // 200 val images: 6.0% measured.
      assertNearTarget(config.splits.unknown.flagRateOnVal!, 200, 'eurosat');
    } finally {
      await classifier.dispose();
    }
    // Fewer references than training images: the others are scored against all of them, as a new image is, and
    // count for the threshold too (400 scores, not 200).
    const trainF = await embed(trainPaths); // class by class, 40 each
    assert.equal(trainF.length, 400);
    const labels = Int32Array.from(trainF, (_, i) => Math.floor(i / 40));
    const { detector, calibrated } = fitUnknownDetectorCounted(trainF, labels, 10, undefined, { maxReferences: 200 });
    assert.deepEqual(calibrated, { leaveOneOut: 200, heldOut: 200 });
    assert.equal(detector.references.length / detector.dim, 200);
    const valF = await embed(valPaths);
    // 6.5% measured.
    assertNearTarget(rate(detector, valF), 200, 'eurosat, 200 references');
  });
});

describe('bundles', () => {
  let data: string;
  before(async () => {
    data = join(tmp, 'three-breeds');
    for (const c of KNOWN)
      for (const [split, n] of [
        ['train', TRAIN_PER_CLASS],
        ['val', 10],
      ] as const) {
        await mkdir(join(data, split, c), { recursive: true });
        for (const f of await files(join(WOOF, split, c), n))
          await symlink(f, join(data, split, c, f.split('/').pop()!));
      }
  });

  test('a new bundle and its ONNX export keep k; one written before the k-NN rule still loads and flags by the nearest image', async () => {
    const { classifier } = await trainClassifier(data, { store, seed: 1, strategy: 'head' }); // no auto plan
    const dir = join(tmp, 'bundle');
    try {
      await classifier.save(dir);
    } finally {
      await classifier.dispose();
    }
    const manifestPath = join(dir, 'classifier.json');
    const manifest = JSON.parse(await readFile(manifestPath, 'utf8'));
    assert.equal(manifest.unknown.method, 'knn-cosine');
    assert.equal(manifest.unknown.k, 5);
    // An ONNX export tells its consumers the rule: method and k beside the threshold.
    const exported = join(tmp, 'onnx');
    await exportClassifier(dir, { format: 'onnx', out: exported });
    const meta = await readExportMetadata(exported);
    assert.deepEqual([meta.unknown.method, meta.unknown.k], ['knn-cosine', 5]);
    assert.equal(meta.unknown.threshold, manifest.unknown.threshold);
    const photo = (await files(join(WOOF, 'val', NEAR[0]), 1))[0];
    const fresh = await Classifier.load(dir);
    const now = await fresh.predict(photo);
    await fresh.dispose();

    // The manifest as the toolkit wrote it before: method nearest-cosine, no k (same references and threshold).
    const { k: _k, ...older } = manifest.unknown;
    await writeFile(manifestPath, JSON.stringify({ ...manifest, unknown: { ...older, method: 'nearest-cosine' } }));
    const old = await Classifier.load(dir);
    try {
      assert.equal(old.data.unknown.method, 'nearest-cosine');
      assert.equal(old.data.unknown.k, undefined);
      const p = await old.predict(photo);
      const f = (await extractFeatures(backbone, [photo], { store })).features[0]!;
      const refs = old.data.unknown.references;
      const dim = old.data.unknown.dim;
      let nearest = Infinity;
      for (let r = 0; r * dim < refs.length; r++)
        nearest = Math.min(nearest, 1 - cosine(refs.subarray(r * dim, (r + 1) * dim), f));
      assert.ok(Math.abs(p.distance - nearest) < 1e-4, `old bundle distance ${p.distance}, nearest image ${nearest}`);
      assert.equal(p.unknown, p.distance > old.data.unknown.threshold);
      assert.ok(now.distance > p.distance, 'the 5-NN mean is above the nearest distance');
      assert.deepEqual(Object.keys(p).sort(), Object.keys(now).sort(), 'same prediction shape');
      assert.equal(p.label, now.label);
    } finally {
      await old.dispose();
    }
  });
});
