// Fault injection, issue 10 item 3: the feature cache on a disk that fills up (a small tmpfs). The first batches fit,
// later ones do not: the run goes on without caching the rest, keeps every batch stored before, and warns once. A
// cache that cannot even be created runs without a cache; `tl cache clear` still frees the disk.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { linkSubset } from '../helpers.js';
import {
  assertOk,
  assertOneStoreWarning,
  embedSummary,
  HYM_TRAIN,
  makeCacheWorld,
  mountTmpfs,
  mountUnavailable,
  storeRows,
  unmount,
  type CacheWorld,
} from './cache-fixtures.js';

const skip = mountUnavailable();
const FULL =
  /cannot write to the feature cache .*\(the disk is full\); going on without caching new features \(what is stored is kept\)/;

describe('a feature cache on a disk that fills up', { skip }, () => {
  let w: CacheWorld;
  let many: string;
  let manyCount: number;
  before(async () => {
    w = await makeCacheWorld('tl-fault-cache-full-');
    many = join(w.tmp, 'many');
    manyCount = (await linkSubset(HYM_TRAIN, many, 20)).length; // 40 images: ~200 KB of features
  });
  after(async () => {
    await w?.dispose();
  });

  test('mid-run: tl embed finishes every image, keeps the batches stored before the disk filled, warns once', async () => {
    const cache = join(w.tmp, 'small-disk');
    await mkdir(cache);
    mountTmpfs(cache, '256k');
    const store = join(cache, 'features.sqlite');
    const first = await w.tl(['embed', many, '--json', '--batch', '4'], cache);
    const s1 = embedSummary(first);
    assertOneStoreWarning(first, store, FULL);
    assert.equal(s1.embedded, manyCount, 'every image embedded although the cache stopped taking them');
    const kept = storeRows(store);
    console.log(`# ${kept} of ${manyCount} vectors fitted on the 256 KiB disk`);
    assert.ok(kept >= 8 && kept < manyCount, `some batches stored before the disk filled, not all: ${kept}`);
    assert.equal(kept % 4, 0, 'whole batches only');
    const db = new Database(store, { readonly: true });
    assert.equal(db.pragma('integrity_check', { simple: true }), 'ok');
    db.close();

    // The next run reads what was kept and computes the rest, still on the full disk.
    const second = await w.tl(['embed', many, '--json', '--batch', '4'], cache);
    const s2 = embedSummary(second);
    assertOneStoreWarning(second, store, FULL);
    assert.equal(s2.cached, kept);
    assert.equal(s2.embedded, manyCount - kept);
    assert.equal(storeRows(store), kept, 'nothing stored was lost');

    // tl train works there too (its photos are not in the cache yet).
    const out = join(w.tmp, 'clf-full');
    const train = await w.tl(['train', w.photos, '--out', out, '--val', '0.25', '--l2', '1'], cache);
    assertOk(train);
    assertOneStoreWarning(train, store, FULL);
    assert.ok(existsSync(join(out, 'classifier.json')));

    // tl cache clear cannot empty the file in place (that needs free space) and deletes the store's files instead.
    const clear = await w.tl(['cache', 'clear'], cache);
    assertOk(clear);
    assert.match(clear.stdout, new RegExp(`deleted the feature cache ${store} .*the disk is full`));
    assert.ok(!existsSync(store) && !existsSync(`${store}-wal`) && !existsSync(`${store}-shm`));
    unmount(cache);
  });

  test('a disk already full: the store cannot be created, tl predict runs without it', async () => {
    const cache = join(w.tmp, 'full-disk');
    await mkdir(cache);
    mountTmpfs(cache, '64k');
    // Fill it up to the last block.
    try {
      writeFileSync(join(cache, 'filler'), Buffer.alloc(1024 * 1024));
    } catch (err) {
      assert.equal((err as NodeJS.ErrnoException).code, 'ENOSPC');
    }
    const store = join(cache, 'features.sqlite');
    const r = await w.tl(['predict', w.classifier, w.photos, '--json'], cache);
    assertOk(r);
    assertOneStoreWarning(r, store, /cannot use the feature cache .*\(the disk is full\); running without it/);
    assert.equal((JSON.parse(r.stdout) as unknown[]).length, w.photoCount);

    const stats = await w.tl(['cache', 'stats', '--json'], cache);
    assertOk(stats);
    assert.equal((JSON.parse(stats.stdout) as { access: string }).access, 'unavailable');
    unmount(cache);
  });
});
