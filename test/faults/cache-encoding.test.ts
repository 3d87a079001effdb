// The feature store names what its vectors are and how they are encoded explicitly (issue 11 item 4): cuts, fine-tuned
// tails and augmented copies declare `vectors` instead of editing their entry's feature tensor, the `models` table has
// an `encoding` column, and a store written before either change still reads right (migrated, or read-only as it is).
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { FeatureStore, modelKeyFor } from '../../src/features/store.js';
import { findModel } from '../../src/backbone/registry.js';
import { loadNetwork, openCutBackbone } from '../../src/finetune/network.js';
import { augmentedCut } from '../../src/finetune/augment.js';
import { PREPROCESS_RULE_VERSION } from '../../src/data/preprocess-rule.js';
import { encodeF16 } from '../../src/util/f16.js';
import { sha256 } from '../../src/util/hash.js';
import type { InputSpec } from '../../src/backbone/types.js';
import { tempDir, cleanup } from '../helpers.js';
import { mountReadOnly, mountUnavailable, unmountAll } from './cache-fixtures.js';

/** The key the toolkit derived before `vectors` existed: the vectors' name borrowed as the feature tensor. */
function legacyKey(
  id: string,
  hash: string,
  input: InputSpec,
  name: string,
  dim: number,
  encoding: 'f16' | 'f32',
): string {
  const base = { input, preprocess: PREPROCESS_RULE_VERSION, feature: { tensor: name, dim, pool: 'none' }, version: 1 };
  return sha256(`${id}\n${hash}\n${JSON.stringify(encoding === 'f16' ? { ...base, encoding } : base)}`).slice(0, 32);
}

/** A store file with the schema before the encoding column: one float16 model key and one float32 one. */
function writeOldStore(path: string, f16Key: string, f32Key: string): void {
  const db = new Database(path);
  db.exec(`
    CREATE TABLE models (
      key TEXT PRIMARY KEY, backbone_id TEXT NOT NULL, weights_hash TEXT NOT NULL, recipe TEXT NOT NULL,
      dim INTEGER NOT NULL, created_at INTEGER NOT NULL);
    CREATE TABLE features (
      model_key TEXT NOT NULL, content_hash TEXT NOT NULL, vector BLOB NOT NULL,
      created_at INTEGER NOT NULL, last_used INTEGER NOT NULL,
      PRIMARY KEY (model_key, content_hash)) WITHOUT ROWID;`);
  const model = db.prepare('INSERT INTO models VALUES (?, ?, ?, ?, ?, ?)');
  model.run(f16Key, 'mobilenet-v2', 'w', JSON.stringify({ version: 1, encoding: 'f16' }), 4, 1);
  model.run(f32Key, 'mobilenet-v2', 'w', JSON.stringify({ version: 1 }), 4, 1);
  const row = db.prepare('INSERT INTO features VALUES (?, ?, ?, 1, 1)');
  row.run(f16Key, 'a', encodeF16(F16_ROW));
  row.run(f32Key, 'a', Buffer.from(F32_ROW.buffer));
  db.close();
}

const F16_ROW = Float32Array.from([1, 2.5, -3, 0.125]); // exact in float16
const F32_ROW = Float32Array.from([0.1, -7.25, 3e-8, 42]);

describe('feature store: explicit vector names and encodings', () => {
  const dirs: string[] = [];
  after(async () => {
    unmountAll();
    await cleanup(...dirs);
  });

  test('cuts, fine-tuning inputs and augmented copies keep the keys stores were written with; their entry is the model', async () => {
    const entry = findModel('mobilenet-v1-0.25');
    const net = await loadNetwork(entry);
    const cut = await openCutBackbone(net, net.units[4].cut);
    const whole = await openCutBackbone(net, net.inputCut, 160);
    try {
      assert.deepEqual(cut.entry, entry, 'a cut does not rewrite its model entry');
      assert.deepEqual(cut.vectors, { source: net.units[4].cut, encoding: 'f16' });
      assert.equal(
        modelKeyFor(cut).key,
        legacyKey(entry.id, cut.weightsHash, cut.input, net.units[4].cut, cut.featureDim, 'f16'),
      );
      assert.equal(
        modelKeyFor(whole).key,
        legacyKey(entry.id, whole.weightsHash, whole.input, 'input@160', whole.featureDim, 'f16'),
      );
      const aug = augmentedCut(cut, { seed: 3, copy: 1 });
      assert.match(aug.vectors.source, /#aug\(.*seed=3;copy=1\)$/);
      assert.equal(
        modelKeyFor(aug).key,
        legacyKey(entry.id, cut.weightsHash, cut.input, aug.vectors.source, cut.featureDim, 'f16'),
      );
      assert.notEqual(modelKeyFor(aug).key, modelKeyFor(cut).key);
      // The model's own features (no `vectors`): the entry's feature spec, float32, as always.
      const own = {
        id: entry.id,
        weightsHash: cut.weightsHash,
        input: entry.input,
        featureDim: entry.feature.dim,
        entry,
      };
      assert.equal(modelKeyFor(own).encoding, 'f32');
      assert.deepEqual(JSON.parse(modelKeyFor(own).recipe).feature, entry.feature);
    } finally {
      await cut.dispose();
      await whole.dispose();
    }
  });

  test('a store written before the encoding column is migrated on open and its rows read as before', async () => {
    const dir = await tempDir('tl-enc-');
    dirs.push(dir);
    const path = join(dir, 'features.sqlite');
    writeOldStore(path, 'k16', 'k32');
    const store = FeatureStore.open(path);
    try {
      assert.deepEqual(store.get('k16', 'a', 4), F16_ROW);
      assert.deepEqual(store.get('k32', 'a', 4), F32_ROW);
    } finally {
      store.close();
    }
    const db = new Database(path, { readonly: true });
    const rows = db.prepare('SELECT key, encoding FROM models ORDER BY key').all();
    db.close();
    assert.deepEqual(rows, [
      { key: 'k16', encoding: 'f16' },
      { key: 'k32', encoding: 'f32' },
    ]);
    // New keys are registered with their encoding; a second open leaves the migrated store alone.
    const again = FeatureStore.open(path);
    try {
      again.registerModel({ key: 'n16', backboneId: 'x', weightsHash: 'w', recipe: '{}', dim: 4, encoding: 'f16' });
      again.putMany('n16', [{ contentHash: 'b', vector: F16_ROW }]);
    } finally {
      again.close();
    }
    const reread = FeatureStore.open(path);
    try {
      assert.deepEqual(
        reread.get('n16', 'b', 4),
        F16_ROW,
        'read back by a new process: from the column, not the recipe',
      );
    } finally {
      reread.close();
    }
  });

  test(
    'an old store on a read-only disk is read as it is (encodings from the recipes)',
    { skip: mountUnavailable() },
    async () => {
      const dir = await tempDir('tl-enc-ro-');
      dirs.push(dir);
      const ro = join(dir, 'ro');
      await mkdir(ro);
      writeOldStore(join(dir, 'old.sqlite'), 'k16', 'k32');
      await copyFile(join(dir, 'old.sqlite'), join(ro, 'features.sqlite'));
      mountReadOnly(ro);
      const warnings: string[] = [];
      const store = FeatureStore.open(join(ro, 'features.sqlite'), { onWarning: (m) => warnings.push(m) });
      try {
        assert.equal(store.access, 'read-only');
        assert.deepEqual(store.get('k16', 'a', 4), F16_ROW);
        assert.deepEqual(store.get('k32', 'a', 4), F32_ROW);
      } finally {
        store.close();
      }
    },
  );
});
