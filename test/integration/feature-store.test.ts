// The SQLite feature cache: content-addressed hits, crash safety under a real SIGKILL, two writers at once, and
// unreadable files that are skipped without stopping a run. Every test uses its own temp store.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import sharp from 'sharp';
import { env } from '../../src/util/env.js';
import { loadBackbone } from '../../src/backbone/load.js';
import type { Backbone } from '../../src/backbone/types.js';
import { extractFeatures } from '../../src/features/extract.js';
import { FeatureStore, modelKeyFor } from '../../src/features/store.js';
import { sha256 } from '../../src/util/hash.js';
import {
  cleanup,
  collect,
  DATASETS_DIR,
  FIXTURES,
  linkSubset,
  MODELS_DIR,
  runCli,
  sleep,
  spawnCli,
  tempDir,
} from '../helpers.js';

const CATS_DOGS_TRAIN = join(DATASETS_DIR, 'cats_and_dogs_filtered/train');
const DIM = 1280; // mobilenet-v2, the default backbone the CLI uses

interface EmbedSummary {
  model: string;
  images: number;
  embedded: number;
  cached: number;
  skipped: number;
  store: string;
}

function parseSummary(stdout: string): EmbedSummary {
  try {
    return JSON.parse(stdout) as EmbedSummary;
  } catch {
    throw new Error(`not JSON: ${stdout}`);
  }
}

/** Distinct content hashes of some files: what the store should hold one row for each. */
async function distinctHashes(paths: string[]): Promise<Set<string>> {
  return new Set(await Promise.all(paths.map(async (p) => sha256(await readFile(p)))));
}

/** Open a store file read-only and check it the way a user's next run would see it. */
function inspectStore(path: string): { integrity: string; rows: number; badRows: number; hashes: Set<string> } {
  const db = new Database(path, { readonly: true, timeout: 30_000 });
  try {
    const integrity = db.pragma('integrity_check', { simple: true }) as string;
    const rows = db.prepare('SELECT content_hash AS h, vector AS v FROM features').all() as { h: string; v: Buffer }[];
    let badRows = 0;
    for (const r of rows) {
      if (r.v.byteLength !== DIM * 4) {
        badRows++;
        continue;
      }
      const f = new Float32Array(r.v.buffer.slice(r.v.byteOffset, r.v.byteOffset + r.v.byteLength));
      if (!f.every(Number.isFinite) || f.every((x) => x === 0)) badRows++;
    }
    return { integrity, rows: rows.length, badRows, hashes: new Set(rows.map((r) => r.h)) };
  } finally {
    db.close();
  }
}

/** Row count of a store another process is writing, without disturbing it (0 until the table exists). */
function countRows(path: string): number {
  if (!existsSync(path)) return 0;
  let db: Database.Database | undefined;
  try {
    db = new Database(path, { readonly: true, timeout: 1000 });
    return (db.prepare('SELECT COUNT(*) AS n FROM features').get() as { n: number }).n;
  } catch {
    return 0; // not created yet
  } finally {
    db?.close();
  }
}

describe('feature store (library)', () => {
  let dir: string;
  let backbone: Backbone;
  let store: FeatureStore;
  const savedCacheDir = env.cacheDir;
  const savedModelsDir = env.modelsDir;
  before(async () => {
    dir = await tempDir('tl-store-');
    env.cacheDir = join(dir, 'cache');
    env.modelsDir = MODELS_DIR;
    backbone = await loadBackbone('mobilenet-v2');
    store = FeatureStore.open(join(dir, 'cache/features.sqlite'));
  });
  after(async () => {
    store?.close();
    await backbone?.dispose();
    env.cacheDir = savedCacheDir;
    env.modelsDir = savedModelsDir;
    await cleanup(dir);
  });

  test('a second extraction embeds nothing and returns identical vectors; copies hit, edits miss', async () => {
    const src = join(CATS_DOGS_TRAIN, 'cats');
    const names = ['cat.0.jpg', 'cat.1.jpg', 'cat.2.jpg', 'cat.3.jpg', 'cat.4.jpg', 'cat.5.jpg'];
    const paths = names.map((n) => join(src, n));

    const first = await extractFeatures(backbone, paths, { store, batchSize: 4 });
    assert.equal(first.embedded, paths.length);
    assert.equal(first.cached, 0);
    assert.equal(first.skipped.length, 0);
    assert.equal(store.count(modelKeyFor(backbone).key), paths.length);
    for (const f of first.features) assert.ok(f && f.length === DIM && f.every(Number.isFinite));

    const second = await extractFeatures(backbone, paths, { store, batchSize: 4 });
    assert.equal(second.embedded, 0);
    assert.equal(second.cached, paths.length);
    second.features.forEach((f, i) => assert.deepEqual(f, first.features[i], `vector ${i} identical from the cache`));
    assert.deepEqual(second.contentHashes, first.contentHashes);

    // The key is the content: renamed and copied files (other folder, other names) hit the cache.
    const copies = join(dir, 'copies');
    await mkdir(copies);
    const copied = await Promise.all(
      paths.slice(0, 4).map(async (p, i) => {
        const to = join(copies, `renamed-${i}.jpeg`);
        await copyFile(p, to);
        return to;
      }),
    );
    const third = await extractFeatures(backbone, copied, { store });
    assert.equal(third.embedded, 0);
    assert.equal(third.cached, copied.length);
    third.features.forEach((f, i) => assert.deepEqual(f, first.features[i]));

    // An edited image (same name, re-encoded) misses the cache and gets its own, slightly different vector.
    const edited = join(copies, 'renamed-0.jpeg');
    await writeFile(edited, await sharp(paths[0]).jpeg({ quality: 70 }).toBuffer());
    const fourth = await extractFeatures(backbone, copied, { store });
    assert.equal(fourth.embedded, 1);
    assert.equal(fourth.cached, copied.length - 1);
    assert.notDeepEqual(fourth.features[0], first.features[0]);
    assert.equal(store.count(modelKeyFor(backbone).key), paths.length + 1);
    assert.equal(store.integrityCheck(), 'ok');
  });
});

describe('feature store (CLI processes)', () => {
  let dir: string;
  before(async () => {
    dir = await tempDir('tl-store-cli-');
  });
  after(async () => {
    await cleanup(dir);
  });

  test('SIGKILL mid-run leaves a sound store; the rerun embeds only what is missing', async () => {
    const data = join(dir, 'kill-data');
    // 300 images: the kill comes after 48 rows (3 batches); the other 252 leave the run seconds to go, as 600 did.
    const paths = await linkSubset(CATS_DOGS_TRAIN, data, 150);
    const distinct = await distinctHashes(paths);
    const cacheDir = join(dir, 'kill-cache');
    const storePath = join(cacheDir, 'features.sqlite');

    const child = spawnCli(['embed', data, '--json', '--batch', '16'], { cacheDir });
    const done = collect(child, 120_000);
    let exited = false;
    void done.then(
      () => (exited = true),
      () => (exited = true),
    );
    // Wait until some batches are committed, then kill without warning.
    const deadline = Date.now() + 90_000;
    let seen = 0;
    while (!exited && Date.now() < deadline) {
      seen = countRows(storePath);
      if (seen >= 48) break;
      await sleep(25);
    }
    assert.ok(!exited, 'the first run finished before it could be killed');
    assert.ok(seen > 0, 'no rows appeared within 90 s');
    child.kill('SIGKILL');
    const killed = await done;
    assert.equal(killed.signal, 'SIGKILL');

    const mid = inspectStore(storePath);
    console.log(`# killed the first run with ${mid.rows} of ${distinct.size} images stored`);
    assert.equal(mid.integrity, 'ok');
    assert.equal(mid.badRows, 0);
    assert.ok(mid.rows > 0 && mid.rows < distinct.size, `killed mid-run: ${mid.rows} of ${distinct.size} rows`);
    for (const h of mid.hashes) assert.ok(distinct.has(h));

    const rerun = await runCli(['embed', data, '--json', '--batch', '16'], { cacheDir, timeoutMs: 120_000 });
    assert.equal(rerun.code, 0, rerun.stderr);
    const s = parseSummary(rerun.stdout);
    assert.equal(s.images, paths.length);
    assert.equal(s.skipped, 0);
    assert.equal(s.cached, mid.rows);
    assert.equal(s.embedded, paths.length - mid.rows);

    const end = inspectStore(storePath);
    assert.equal(end.integrity, 'ok');
    assert.equal(end.badRows, 0);
    assert.equal(end.rows, distinct.size);
    assert.deepEqual([...end.hashes].sort(), [...distinct].sort());
  });

  test('two processes embedding the same folder into the same store at once', async () => {
    const data = join(dir, 'two-data');
    const paths = await linkSubset(CATS_DOGS_TRAIN, data, 100); // 200 images
    const distinct = await distinctHashes(paths);
    const cacheDir = join(dir, 'two-cache');
    const [a, b] = await Promise.all([
      runCli(['embed', data, '--json', '--batch', '16'], { cacheDir, timeoutMs: 120_000 }),
      runCli(['embed', data, '--json', '--batch', '16'], { cacheDir, timeoutMs: 120_000 }),
    ]);
    assert.equal(a.code, 0, a.stderr);
    assert.equal(b.code, 0, b.stderr);
    for (const r of [a, b]) {
      const s = parseSummary(r.stdout);
      assert.equal(s.images, paths.length);
      assert.equal(s.embedded + s.cached, paths.length);
    }
    const end = inspectStore(join(cacheDir, 'features.sqlite'));
    assert.equal(end.integrity, 'ok');
    assert.equal(end.badRows, 0);
    assert.equal(end.rows, distinct.size);

    // A third run finds everything.
    const c = parseSummary((await runCli(['embed', data, '--json'], { cacheDir })).stdout);
    assert.equal(c.embedded, 0);
    assert.equal(c.cached, paths.length);
  });

  test('unreadable files are skipped with a warning naming them, counted, and do not stop the run', async () => {
    const data = join(dir, 'bad-data');
    await mkdir(data);
    const good = ['dog.jpg', 'eagle.jpg', 'horses.jpg'];
    for (const g of good) await copyFile(join(FIXTURES, g), join(data, g));
    const dogBytes = await readFile(join(FIXTURES, 'dog.jpg'));
    await writeFile(join(data, 'empty.jpg'), Buffer.alloc(0));
    await writeFile(join(data, 'truncated.jpg'), dogBytes.subarray(0, Math.floor(dogBytes.length / 3)));
    await writeFile(join(data, 'notes.jpg'), 'this is a text file, not a photo\n');
    const bad = ['empty.jpg', 'notes.jpg', 'truncated.jpg'];

    const cacheDir = join(dir, 'bad-cache');
    const r = await runCli(['embed', data, '--json'], { cacheDir });
    assert.equal(r.code, 0, r.stderr);
    const s = parseSummary(r.stdout);
    assert.equal(s.images, good.length + bad.length);
    assert.equal(s.embedded, good.length);
    assert.equal(s.skipped, bad.length);
    const warnings = r.stderr.split('\n').filter((l) => l.startsWith('warning:'));
    assert.equal(warnings.length, bad.length, r.stderr);
    for (const b of bad)
      assert.ok(
        warnings.some((w) => w.includes(join(data, b))),
        `warning names ${b}: ${r.stderr}`,
      );
    assert.ok(warnings.some((w) => w.includes('empty.jpg') && /empty|0 bytes/.test(w)));
    assert.ok(
      warnings.some((w) => w.includes('truncated.jpg') && /truncated|corrupt/.test(w)),
      r.stderr,
    );
    assert.ok(!/^\s+at\s/m.test(r.stderr), 'no stack trace');
    const end = inspectStore(join(cacheDir, 'features.sqlite'));
    assert.equal(end.rows, good.length);
    assert.equal(end.integrity, 'ok');
  });
});
