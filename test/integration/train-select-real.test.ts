// The L2 search on real backbone features (mobilenet-v2 on a small EuroSAT subset): the fast path (coarse-to-fine walk,
// early stop past the peak, warm-started final fit) picks what the full grid picks and lands on the cold reference fit.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { loadBackbone } from '../../src/backbone/load.js';
import { extractFeatures } from '../../src/features/extract.js';
import { FeatureStore } from '../../src/features/store.js';
import { fitStandardizer, applyStandardizerAll } from '../../src/solvers/standardize.js';
import { argmax, predictProba, trainSoftmax } from '../../src/solvers/softmax-regression.js';
import { selectL2 } from '../../src/solvers/select-l2.js';
import { DATASETS_DIR, cleanup, tempDir } from '../helpers.ts';

async function features(split: string, perClass: number, store: FeatureStore) {
  const root = join(DATASETS_DIR, 'eurosat', split);
  const classes = (await readdir(root)).sort();
  const paths: string[] = [];
  const labels: number[] = [];
  for (const [k, cls] of classes.entries()) {
    for (const f of (await readdir(join(root, cls))).sort().slice(0, perClass)) {
      paths.push(join(root, cls, f));
      labels.push(k);
    }
  }
  const backbone = await loadBackbone('mobilenet-v2');
  try {
    const r = await extractFeatures(backbone, paths, { store });
    return { X: r.features.map((f) => f!), y: Int32Array.from(labels), K: classes.length };
  } finally {
    await backbone.dispose();
  }
}

test('L2 search on real features: early stop picks the full grid pick; the warm final fit matches the cold one', async () => {
  const dir = await tempDir();
  const store = FeatureStore.open(join(dir, 'features.sqlite'));
  try {
    const train = await features('train', 16, store);
    const val = await features('val', 8, store);
    const s = fitStandardizer(train.X);
    const X = applyStandardizerAll(train.X, s);
    const Xval = applyStandardizerAll(val.X, s);
    const full = await selectL2(X, train.y, train.K, { seed: 0, stop: false });
    const fast = await selectL2(X, train.y, train.K, { seed: 0 });
    assert.equal(fast.best, full.best);
    assert.ok(fast.curve.length < full.curve.length, 'the coarse-to-fine walk fits fewer values');
    for (const p of fast.curve)
      assert.ok(Math.abs(p.cvAccuracy - full.curve.find((q) => q.l2 === p.l2)!.cvAccuracy) <= 0.01, `l2 ${p.l2}`);
    // On 1280-d MobileNetV2 features the peak sits at the strong end (see select-l2.ts).
    assert.ok(fast.best >= 0.1, `picked l2 ${fast.best}`);
    const cold = trainSoftmax(X, train.y, train.K, { l2: fast.best });
    const warm = trainSoftmax(X, train.y, train.K, { l2: fast.best, init: fast.warmStart });
    assert.ok(
      warm.converged && warm.evaluations < cold.evaluations,
      `warm ${warm.evaluations} vs cold ${cold.evaluations} evaluations`,
    );
    let maxDiff = 0;
    for (let i = 0; i < cold.W.length; i++) maxDiff = Math.max(maxDiff, Math.abs(warm.Wf64[i] - cold.Wf64[i]));
    assert.ok(maxDiff < 1e-3, `weights differ by up to ${maxDiff}`);
    const agree = Xval.filter((row) => argmax(predictProba(warm, row)) === argmax(predictProba(cold, row))).length;
    assert.equal(agree, Xval.length);
    const accuracy = Xval.filter((row, i) => argmax(predictProba(warm, row)) === val.y[i]).length / Xval.length;
    assert.ok(accuracy > 0.7, `val accuracy ${accuracy}`);
  } finally {
    store.close();
    await cleanup(dir);
  }
});
