// The dataset's duplicate check hashes the files whose size occurs under two classes; extraction takes those hashes
// (data/file-hashes.ts) instead of reading the files again. A remembered hash counts only while the file is unchanged:
// a photo edited after loadDataset is read again, and its vector is the new photo's.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { loadDataset } from '../../src/data/dataset.js';
import { rememberedHash } from '../../src/data/file-hashes.js';
import { loadBackbone } from '../../src/backbone/load.js';
import { extractFeatures } from '../../src/features/extract.js';
import type { RemoteExtractor } from '../../src/features/extract-remote.js';
import type { Backbone } from '../../src/backbone/types.js';
import { preprocess } from '../../src/data/image.js';
import { FeatureStore } from '../../src/features/store.js';
import { sha256 } from '../../src/util/hash.js';
import { cleanup, DATASETS_DIR, filesIn, linkSubset, tempDir } from '../helpers.js';

const HYM = join(DATASETS_DIR, 'hymenoptera_data', 'train');
let tmp: string;
let data: string;
let ants: string[];
let copy: string;

/** Shards run in this process on the real backbone (the bookkeeping under test is the same as with tl workers). */
function inProcessRemote(backbone: Backbone, asked: string[]): RemoteExtractor {
  return {
    shardSize: 4,
    shipImages: false,
    maxShardBytes: Infinity,
    maxInFlight: 2,
    async embedShard(shard) {
      asked.push(...shard.images.map((img) => img.path));
      const inputs = await Promise.all(
        shard.images.map(async (img) => preprocess(await readFile(img.path), backbone.input)),
      );
      return { vectors: await backbone.embed(inputs), failures: [], release: async () => {} };
    },
  };
}

before(async () => {
  tmp = await tempDir('tl-file-hash-reuse-');
  data = join(tmp, 'data');
  await linkSubset(HYM, data, 3);
  ants = await filesIn(join(data, 'ants'));
  copy = join(data, 'bees', 'copy.jpg');
  await copyFile(ants[0], copy);
});
after(async () => {
  await cleanup(tmp);
});

describe('hashes from the duplicate check', () => {
  test('are remembered, reused by extraction, and dropped when the file changes', async () => {
    const ds = loadDataset(data);
    assert.equal(ds.warnings?.length, 1);
    const paths = [...ds.train, ...ds.val].map((x) => x.path);
    const copyBytes = await readFile(copy);
    assert.equal(rememberedHash(copy), sha256(copyBytes));
    assert.equal(rememberedHash(ants[0]), sha256(copyBytes));
    assert.equal(rememberedHash(ants[1]), undefined, 'a file of a size no other class has is not read');

    const backbone = await loadBackbone('mobilenet-v2');
    const store = FeatureStore.open(join(tmp, 'cache/features.sqlite'));
    try {
      const cold = await extractFeatures(backbone, paths, { store });
      const want = await Promise.all(paths.map(async (p) => sha256(await readFile(p))));
      assert.deepEqual(cold.contentHashes, want);
      assert.equal(cold.embedded + cold.cached, paths.length);

      const warm = await extractFeatures(backbone, paths, { store });
      assert.equal(warm.cached, paths.length);
      assert.deepEqual(warm.contentHashes, want);
      assert.deepEqual(warm.features, cold.features);

      // Edited after the check (another photo written over it): read again, not served from the old hash.
      await copyFile(ants[1], copy);
      assert.equal(rememberedHash(copy), undefined);
      const edited = await extractFeatures(backbone, paths, { store });
      const i = paths.indexOf(copy);
      const j = paths.indexOf(ants[1]);
      assert.equal(edited.contentHashes[i], sha256(await readFile(ants[1])));
      assert.deepEqual(edited.features[i], edited.features[j]);
      assert.equal(edited.cached, paths.length);

      // The queue's extraction takes remembered hashes the same way, and asks the workers for nothing here.
      loadDataset(data);
      assert.equal(rememberedHash(copy), sha256(await readFile(ants[1])));
      const asked: string[] = [];
      const queued = await extractFeatures(backbone, paths, { store, remote: inProcessRemote(backbone, asked) });
      assert.deepEqual(asked, []);
      assert.equal(queued.cached, paths.length);
      assert.deepEqual(queued.contentHashes, edited.contentHashes);
      assert.deepEqual(queued.features, edited.features);
    } finally {
      store.close();
    }
  });
});
