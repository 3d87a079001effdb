// Fault injection, issue 10 item 3: a feature cache that cannot be written (read-only file system, another user's
// folder, a cache folder that cannot be created) never blocks a command. Each command warns once, naming the cache
// file and the reason, then runs reading from the cache where it can; the stored file is left byte-identical.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { appendFileSync, cpSync, existsSync, readFileSync } from 'node:fs';
import { chmod, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { CLI, DATASETS_DIR, MODELS_DIR } from '../helpers.js';
import {
  assertOk,
  assertOneStoreWarning,
  embedSummary,
  makeCacheWorld,
  mountReadOnly,
  mountUnavailable,
  storeRows,
  type CacheWorld,
} from './cache-fixtures.js';

const skip = mountUnavailable();

describe('a read-only feature cache', { skip }, () => {
  let w: CacheWorld;
  let roCache: string;
  let store: string;
  let before_: Buffer;
  before(async () => {
    w = await makeCacheWorld('tl-fault-cache-ro-');
    roCache = join(w.tmp, 'ro-cache');
    cpSync(w.filledCache, roCache, { recursive: true });
    store = join(roCache, 'features.sqlite');
    before_ = readFileSync(store);
    mountReadOnly(roCache);
  });
  after(async () => {
    await w?.dispose();
  });

  const readOnlyWarning = /cannot write the feature cache .*read-only file system.*reading from it/;

  test('tl embed reads every vector from it and warns once', async () => {
    const r = await w.tl(['embed', w.photos, '--json'], roCache);
    const s = embedSummary(r);
    assertOneStoreWarning(r, store, readOnlyWarning);
    assert.equal(s.cached, w.photoCount);
    assert.equal(s.embedded, 0);
  });

  test('tl embed of new photos computes them without caching', async () => {
    const fresh = join(w.tmp, 'more');
    cpSync(join(w.photos, 'ants'), fresh, { recursive: true, dereference: true });
    // A byte appended after the JPEG's end: same pixels, new content hashes, so none is in the cache.
    for (const f of await readdir(fresh)) {
      await chmod(join(fresh, f), 0o644);
      appendFileSync(join(fresh, f), Buffer.from([0]));
    }
    const r = await w.tl(['embed', fresh, '--json'], roCache);
    const s = embedSummary(r);
    assertOneStoreWarning(r, store, readOnlyWarning);
    assert.equal(s.embedded, 4);
    assert.equal(s.cached, 0);
  });

  test('tl predict classifies every photo', async () => {
    const r = await w.tl(['predict', w.classifier, w.photos, '--json'], roCache);
    assertOk(r);
    assertOneStoreWarning(r, store, readOnlyWarning);
    const out = JSON.parse(r.stdout) as unknown[];
    assert.equal(out.length, w.photoCount);
  });

  test('tl train trains from the cached features and saves the bundle', async () => {
    const out = join(w.tmp, 'clf-ro');
    const r = await w.tl(['train', w.photos, '--out', out, '--val', '0.25', '--l2', '1'], roCache);
    assertOk(r);
    assertOneStoreWarning(r, store, readOnlyWarning);
    assert.match(r.stdout + r.stderr, new RegExp(`0 embedded, ${w.photoCount - 2} from cache`));
    assert.ok(existsSync(join(out, 'classifier.json')));
  });

  test('tl cache stats and tl cache check report it; tl cache clear says why it cannot', async () => {
    const stats = await w.tl(['cache', 'stats', '--json'], roCache);
    assertOk(stats);
    const s = JSON.parse(stats.stdout) as { total: number; access: string; problem: string };
    assert.equal(s.total, w.photoCount);
    assert.equal(s.access, 'read-only');
    assert.match(s.problem, /read-only file system/);

    const check = await w.tl(['cache', 'check'], roCache);
    assertOk(check);
    assert.match(check.stdout, new RegExp(`sound \\(${w.photoCount} feature vectors`));

    const clear = await w.tl(['cache', 'clear'], roCache);
    assert.equal(clear.code, 1);
    assert.match(clear.stderr, new RegExp(`error: cannot delete the feature cache ${store}: read-only file system`));
    assert.match(clear.stderr, /hint: /);
  });

  test('nothing was changed or lost: the store file is byte-identical', () => {
    assert.ok(readFileSync(store).equals(before_));
    assert.equal(storeRows(store), w.photoCount);
  });

  test('a cache folder that cannot be created: the command runs without a cache', async () => {
    const missing = join(roCache, 'not-there');
    const r = await w.tl(['predict', w.classifier, w.photos, '--json'], missing);
    assertOk(r);
    assertOneStoreWarning(
      r,
      join(missing, 'features.sqlite'),
      /cannot use the feature cache .*read-only file system.*running without it/,
    );
    assert.equal((JSON.parse(r.stdout) as unknown[]).length, w.photoCount);
  });
});

describe('a feature cache owned by another user', { skip }, () => {
  let w: CacheWorld;
  before(async () => {
    w = await makeCacheWorld('tl-fault-cache-user-');
    await chmod(w.tmp, 0o755);
  });
  after(async () => {
    await w?.dispose();
  });

  test('tl embed as user nobody reads from it and warns once (no write permission)', async () => {
    // The whole run as uid 65534: the cache folder and file stay root's 0755/0644.
    const r = spawnSync(
      'setpriv',
      ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, CLI, 'embed', w.photos, '--json'],
      {
        env: {
          ...process.env,
          TL_CACHE_DIR: w.filledCache,
          TL_OFFLINE: '1',
          TL_MODELS_DIR: MODELS_DIR,
          TL_DATASETS_DIR: DATASETS_DIR,
        },
        encoding: 'utf8',
        cwd: '/',
        timeout: 180_000,
      },
    );
    const res = { code: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
    const s = embedSummary(res);
    assertOneStoreWarning(
      res,
      join(w.filledCache, 'features.sqlite'),
      /cannot write the feature cache .*no write permission.*reading from it/,
    );
    assert.equal(s.cached, w.photoCount);
  });
});
