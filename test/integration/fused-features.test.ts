// Fused features (`--model a+b`, src/backbone/fused.ts): the fused vector is the concatenation of each part's own
// cached vector (L2-normalised, scaled by 1/sqrt(parts)); each part is cached under its own key, so single and fused
// runs reuse each other's cache; a fused bundle predicts the same in the library and the CLI; export and fine-tuning
// refuse it clearly; bad specs are clean errors.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { loadFeatureBackbone } from '../../src/backbone/load.js';
import { findModel } from '../../src/backbone/registry.js';
import { isFusedBackbone } from '../../src/backbone/fused.js';
import { extractFeatures } from '../../src/features/extract.js';
import { FeatureStore, modelKeyFor } from '../../src/features/store.js';
import { preprocess } from '../../src/data/image.js';
import { Classifier } from '../../src/classifier/classifier.js';
import { assertCleanError, cleanup, DATASETS_DIR, linkSubset, runCli, tempDir } from '../helpers.js';

const FUSED = 'mobilenet-v2+mobilenet-v1-0.75';
const HYMENOPTERA = join(DATASETS_DIR, 'hymenoptera_data');
let work: string;
let cacheDir: string;
let data: string;
let images: string[];

before(async () => {
  work = await tempDir('tl-fused-');
  cacheDir = join(work, 'cache');
  data = join(work, 'data');
  // 6 + 6 training and 3 + 3 val photos: enough for a head, seconds to embed on both backbones.
  images = await linkSubset(join(HYMENOPTERA, 'train'), join(data, 'train'), 6);
  images.push(...(await linkSubset(join(HYMENOPTERA, 'val'), join(data, 'val'), 3)));
});
after(() => cleanup(work));

function l2(v: Float32Array): number {
  return Math.sqrt(v.reduce((a, x) => a + x * x, 0));
}

describe('fused features', () => {
  test('the fused vector is each part’s cached vector, L2-normalised, / sqrt(2), concatenated; caches are shared', async () => {
    const store = FeatureStore.open(join(work, 'lib-features.sqlite'));
    const paths = images.slice(0, 8);
    const fused = await loadFeatureBackbone(FUSED);
    assert.ok(isFusedBackbone(fused));
    assert.equal(fused.featureDim, 1280 + 768);
    const f = await extractFeatures(fused, paths, { store, batchSize: 4 });
    assert.equal(f.embedded, 16, 'each image embedded once per part');
    // Each part's vectors are under that part's own key; nothing is stored under a fused key.
    const [v2, v1] = fused.parts;
    for (const part of fused.parts) assert.equal(store.count(modelKeyFor(part).key), paths.length, part.id);
    assert.equal(store.count(), 2 * paths.length);
    // Single-model runs afterwards are pure cache hits, and the fused vector is made of exactly those vectors.
    const a = await extractFeatures(v2, paths, { store });
    const b = await extractFeatures(v1, paths, { store });
    assert.equal(a.cached + b.cached, 2 * paths.length);
    assert.equal(a.embedded + b.embedded, 0);
    paths.forEach((_, i) => {
      const x = f.features[i]!;
      const [pa, pb] = [a.features[i]!, b.features[i]!];
      const [na, nb] = [l2(pa), l2(pb)];
      for (let j = 0; j < 1280; j++) assert.ok(Math.abs(x[j] - pa[j] / na / Math.SQRT2) < 1e-6);
      for (let j = 0; j < 768; j++) assert.ok(Math.abs(x[1280 + j] - pb[j] / nb / Math.SQRT2) < 1e-6);
      assert.ok(Math.abs(l2(x) - 1) < 1e-5, 'unit length');
    });
    // A fused rerun embeds nothing.
    const again = await extractFeatures(fused, paths, { store });
    assert.deepEqual([again.embedded, again.cached], [0, 16]);
    // One photo through embed() (what predict and the server run): preprocessed once per part, the same vector.
    const [direct] = await fused.embed([await preprocess(paths[0], fused.input)]);
    const maxDiff = direct.reduce((m, x, j) => Math.max(m, Math.abs(x - f.features[0]![j])), 0);
    assert.ok(maxDiff < 1e-5, `embed() vs extraction: max diff ${maxDiff}`);
    await fused.dispose();
    store.close();
  });

  test('a fused bundle predicts the same in the library and the CLI; export and fine-tuning refuse it', async () => {
    const bundle = join(work, 'bundle');
    const train = await runCli(['train', data, '--model', FUSED, '-o', bundle, '--json'], {
      cacheDir,
      timeoutMs: 300_000,
    });
    assert.equal(train.code, 0, train.stderr);
    const manifest = JSON.parse(await readFile(join(bundle, 'classifier.json'), 'utf8'));
    assert.equal(manifest.backbone.id, FUSED);
    assert.equal(manifest.backbone.feature.dim, 2048);
    assert.equal(manifest.head.layers[0].inputs, 2048);

    const probe = images.filter((p) => p.includes('/val/'));
    const cli = await runCli(['predict', bundle, ...probe, '--json', '--top', '2'], { cacheDir });
    assert.equal(cli.code, 0, cli.stderr);
    const fromCli: { path: string; label: string; probability: number; distance: number }[] = JSON.parse(cli.stdout);
    assert.equal(fromCli.length, probe.length);
    const clf = await Classifier.load(bundle);
    try {
      for (const p of fromCli) {
        const lib = await clf.predict(p.path);
        assert.equal(lib.label, p.label, p.path);
        assert.ok(
          Math.abs(lib.probability - p.probability) < 1e-4,
          `${p.path}: ${lib.probability} vs ${p.probability}`,
        );
        assert.ok(Math.abs(lib.distance - p.distance) < 1e-4, p.path);
      }
    } finally {
      await clf.dispose();
    }

    assertCleanError(
      await runCli(['export', bundle, '-o', join(work, 'export')], { cacheDir }),
      /cannot export "mobilenet-v2\+mobilenet-v1-0\.75": a fused classifier runs several backbones/,
    );
    for (const strategy of ['partial', 'full'])
      assertCleanError(
        await runCli(['train', data, '--model', FUSED, '--strategy', strategy, '-o', join(work, strategy)], {
          cacheDir,
        }),
        /fine-tuning needs one backbone/,
      );
  });

  test('tl plan with a fused model: head only, what each part still has to extract', async () => {
    const r = await runCli(['plan', data, '--model', FUSED, '--json'], { cacheDir });
    assert.equal(r.code, 0, r.stderr);
    const plan = JSON.parse(r.stdout);
    assert.equal(plan.choice, 'head');
    assert.deepEqual(
      plan.parts.map((p: { id: string; uncached: number }) => [p.id, p.uncached]),
      [
        ['mobilenet-v2', 0],
        ['mobilenet-v1-0.75', 0],
      ],
      'the bundle test above cached every image of both parts',
    );
  });

  test('bad fused specs are clean errors', async () => {
    const cases: [string, RegExp][] = [
      ['mobilenet-v2+', /fused model "mobilenet-v2\+" has an empty part/],
      ['+mobilenet-v2', /has an empty part/],
      ['mobilenet-v2++mobilenet-v1-0.75', /has an empty part/],
      ['mobilenet-v2+nope', /unknown model "nope" in fused model "mobilenet-v2\+nope"/],
      ['mobilenet-v2+mobilenet-v2', /fused model "mobilenet-v2\+mobilenet-v2" names mobilenet-v2 twice/],
    ];
    for (const [spec, pattern] of cases) {
      assert.throws(() => findModel(spec), pattern, spec);
      assertCleanError(await runCli(['embed', images[0], '--model', spec], { cacheDir }), pattern);
    }
    assertCleanError(
      await runCli(['embed', images[0], '--model', FUSED, '--model-path', work], { cacheDir }),
      /--model-path names one backbone's folder/,
    );
  });
});
