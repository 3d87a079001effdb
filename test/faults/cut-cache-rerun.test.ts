// Same seed, same weights, whatever is in the cache: fine-tuning trains on cut activations that the feature store
// keeps as float16. A first run used to train on the fresh float32 activations and a rerun on the cached float16
// ones, so the two runs gave different weights (seen: val accuracy 100% cold vs 93.8% warm on a 32-image subset).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { findModel } from '../../src/backbone/registry.js';
import { loadNetwork, resolveFreeze, openCutBackbone } from '../../src/finetune/network.js';
import { extractFeatures } from '../../src/features/extract.js';
import { FeatureStore } from '../../src/features/store.js';
import { DATASETS_DIR } from '../helpers.js';

test('cut activations: a cold extraction hands on exactly what a cached rerun reads back', async () => {
  const dir = join(DATASETS_DIR, 'hymenoptera_data/train/ants');
  const { readdir } = await import('node:fs/promises');
  const paths = (await readdir(dir))
    .sort()
    .slice(0, 6)
    .map((f) => join(dir, f));
  const net = await loadNetwork(findModel('mobilenet-v2'));
  const { cut } = resolveFreeze(net, { trainLast: 1 });
  const frozen = await openCutBackbone(net, cut);
  const store = FeatureStore.open(':memory:');
  try {
    const cold = await extractFeatures(frozen, paths, { store });
    const warm = await extractFeatures(frozen, paths, { store });
    assert.equal(cold.embedded, paths.length);
    assert.equal(warm.cached, paths.length);
    for (let i = 0; i < paths.length; i++) {
      const a = cold.features[i]!;
      const b = warm.features[i]!;
      let differ = 0;
      for (let j = 0; j < a.length; j++) if (!Object.is(a[j], b[j])) differ++;
      assert.equal(
        differ,
        0,
        `image ${i}: ${differ} of ${a.length} activations differ between the cold and the cached run`,
      );
    }
  } finally {
    store.close();
    await frozen.dispose();
  }
});
