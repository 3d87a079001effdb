// Fault injection, issue 10 item 4: a damaged feature cache (8 KB of garbage in the middle, a truncated file, a file
// that is not SQLite). `tl cache check` finds it and names the file and the remedy; every other command moves the
// damaged file aside (kept byte for byte as features.sqlite.corrupt-<time>), says where, and goes on with a new
// cache; `tl cache clear` always works and removes only the store's own files.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { mkdir, readdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import Database from 'better-sqlite3';
import { assertCleanError } from '../helpers.js';
import {
  assertOk,
  assertOneStoreWarning,
  embedSummary,
  makeCacheWorld,
  mountReadOnly,
  mountUnavailable,
  warnings,
  type CacheWorld,
} from './cache-fixtures.js';

/** Deterministic garbage (a xorshift stream), so a failure reproduces byte for byte. */
function garbage(n: number, seed = 0x9e3779b9): Buffer {
  const b = Buffer.alloc(n);
  let x = seed >>> 0;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = x & 0xff;
  }
  return b;
}

const QUARANTINED =
  /the feature cache (\S+) is damaged \((database disk image is malformed|file is not a database)\): moved it to (\S+\.corrupt-\S+) and started a new cache/;

describe('a damaged feature cache', () => {
  let w: CacheWorld;
  let good: Buffer;
  let n = 0;
  before(async () => {
    w = await makeCacheWorld('tl-fault-cache-damaged-');
    // Fold the WAL into the main file so the copies below hold every vector.
    const db = new Database(join(w.filledCache, 'features.sqlite'));
    db.pragma('wal_checkpoint(TRUNCATE)');
    db.close();
    good = readFileSync(join(w.filledCache, 'features.sqlite'));
  });
  after(async () => {
    await w?.dispose();
  });

  /** A new cache dir whose store is the filled one, damaged by `damage`; returns the store path and its bytes. */
  async function damagedCache(damage: (store: string) => void): Promise<{ store: string; bytes: Buffer }> {
    const dir = join(w.tmp, `damaged-${n++}`);
    await mkdir(dir);
    const store = join(dir, 'features.sqlite');
    writeFileSync(store, good);
    damage(store);
    return { store, bytes: readFileSync(store) };
  }

  const garbageInTheMiddle = (store: string) => {
    const bytes = readFileSync(store);
    garbage(8192).copy(bytes, Math.floor(bytes.length / 2));
    writeFileSync(store, bytes);
  };

  /** The one warning says where the damaged file went; that file holds exactly the damaged bytes. */
  function assertMovedAside(r: Parameters<typeof assertOneStoreWarning>[0], store: string, bytes: Buffer): string {
    const line = assertOneStoreWarning(r, store, QUARANTINED);
    const aside = QUARANTINED.exec(line)![3];
    assert.equal(dirname(aside), dirname(store));
    assert.ok(readFileSync(aside).equals(bytes), 'the damaged file is kept byte for byte');
    return aside;
  }

  test('8 KB of garbage in the middle: tl cache check names the file and the remedy', async () => {
    assert.equal(good.length >= 8192 * 3, true, `store big enough to damage its middle: ${good.length} bytes`);
    const { store } = await damagedCache(garbageInTheMiddle);
    const r = await w.tl(['cache', 'check'], dirname(store));
    assertCleanError(r, new RegExp(`the feature cache ${store} is damaged: .*malformed`));
    assert.match(
      r.stderr,
      /hint: Run `tl cache check --repair` to move it aside and start a new one, or `tl cache clear` to delete it/,
    );
  });

  test('8 KB of garbage in the middle: tl embed moves it aside, warns once, embeds everything into a new cache', async () => {
    const { store, bytes } = await damagedCache(garbageInTheMiddle);
    const r = await w.tl(['embed', w.photos, '--json'], dirname(store));
    const s = embedSummary(r);
    assertMovedAside(r, store, bytes);
    assert.equal(s.embedded + s.cached, w.photoCount);
    assert.equal(s.skipped, 0);
    const check = await w.tl(['cache', 'check'], dirname(store));
    assertOk(check);
    assert.match(check.stdout, /: sound \(\d+ feature vectors/);
    assert.match(check.stdout, /damaged caches moved aside earlier/);
    // The next run fills the new cache completely.
    const again = embedSummary(await w.tl(['embed', w.photos, '--json'], dirname(store)));
    assert.equal(again.cached + again.embedded, w.photoCount);
    const third = embedSummary(await w.tl(['embed', w.photos, '--json'], dirname(store)));
    assert.equal(third.cached, w.photoCount);
  });

  test('a truncated file: tl predict moves it aside and classifies every photo', async () => {
    const { store, bytes } = await damagedCache((p) => truncateSync(p, Math.floor(good.length * 0.4)));
    const r = await w.tl(['predict', w.classifier, w.photos, '--json'], dirname(store));
    assertOk(r);
    assertMovedAside(r, store, bytes);
    assert.equal((JSON.parse(r.stdout) as unknown[]).length, w.photoCount);
  });

  test('a file that is not SQLite: tl train moves it aside and saves its bundle', async () => {
    const { store, bytes } = await damagedCache((p) =>
      writeFileSync(p, 'these are my notes, not a database\n'.repeat(300)),
    );
    const out = join(w.tmp, 'clf-after-damage');
    const r = await w.tl(['train', w.photos, '--out', out, '--val', '0.25', '--l2', '1'], dirname(store));
    assertOk(r);
    assertMovedAside(r, store, bytes);
    assert.ok(existsSync(join(out, 'classifier.json')));
  });

  test('tl cache stats on a damaged file moves it aside and reports the new, empty cache', async () => {
    const { store, bytes } = await damagedCache(garbageInTheMiddle);
    const r = await w.tl(['cache', 'stats', '--json'], dirname(store));
    assertOk(r);
    assertMovedAside(r, store, bytes);
    assert.equal((JSON.parse(r.stdout) as { total: number }).total, 0);
  });

  test('tl cache clear always works on a damaged file and removes only the store files', async () => {
    for (const damage of [
      garbageInTheMiddle,
      (p: string) => writeFileSync(p, 'not sqlite'),
      (p: string) => truncateSync(p, 5000),
    ]) {
      const { store } = await damagedCache(damage);
      const dir = dirname(store);
      writeFileSync(join(dir, 'notes.txt'), 'mine\n');
      writeFileSync(`${store}.corrupt-2026-01-01T00-00-00-000Z`, 'moved aside earlier\n');
      await mkdir(join(dir, 'models'));
      writeFileSync(`${store}-wal`, garbage(4096, 7));
      const r = await w.tl(['cache', 'clear'], dir);
      assertOk(r);
      assert.match(r.stdout, new RegExp(`deleted the feature cache ${store} .*could not be emptied: damaged`));
      assert.match(r.stdout, /damaged caches moved aside earlier/);
      assert.deepEqual((await readdir(dir)).sort(), [
        'features.sqlite.corrupt-2026-01-01T00-00-00-000Z',
        'models',
        'notes.txt',
      ]);
      const after = await w.tl(['cache', 'check'], dir);
      assertOk(after);
      assert.match(after.stdout, /not created yet/);
    }
  });

  test('tl cache check --repair moves a damaged file aside; the next check finds no cache', async () => {
    const { store, bytes } = await damagedCache(garbageInTheMiddle);
    const r = await w.tl(['cache', 'check', '--repair'], dirname(store));
    assertOk(r);
    const aside = /moved it to (\S+);/.exec(r.stdout)?.[1];
    assert.ok(aside && readFileSync(aside).equals(bytes), r.stdout);
    assert.ok(!existsSync(store));
    assert.match((await w.tl(['cache', 'check'], dirname(store))).stdout, /not created yet/);
  });

  test(
    'a damaged file that cannot be moved (read-only folder): the command runs without a cache',
    { skip: mountUnavailable() },
    async () => {
      const { store, bytes } = await damagedCache(garbageInTheMiddle);
      mountReadOnly(dirname(store));
      const r = await w.tl(['predict', w.classifier, w.photos, '--json'], dirname(store));
      assertOk(r);
      // Two facts, two lines: first that it is read-only, then (on the first read) that it is damaged.
      const damaged = warnings(r).filter((l) => l.includes(store) && l.includes(' is damaged ('));
      assert.equal(damaged.length, 1, r.stderr);
      assert.match(
        damaged[0],
        /is damaged \(.*could not be moved aside: read-only file system\); running without it \(to fix: make the folder writable, then run `tl cache check --repair`/,
      );
      assert.equal((JSON.parse(r.stdout) as unknown[]).length, w.photoCount);
      assert.ok(readFileSync(store).equals(bytes), 'left as it was');
    },
  );
});
