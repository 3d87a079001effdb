// The on-disk feature cache: SQLite (better-sqlite3) in WAL mode. One row per (model key, image content hash).
// Why SQLite: one file, transactions make every batch all-or-nothing (a SIGKILL leaves no partial row), WAL lets
// several processes read while one writes, and it ships as a prebuilt npm addon that works on Node 20.
import Database from 'better-sqlite3';
import { mkdirSync, existsSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { featureStorePath } from '../env.js';
import { sha256 } from '../util/hash.js';
import { TlError } from '../util/errors.js';
import type { Backbone } from '../backbone/types.js';
import { decodeF16, encodeF16 } from '../util/f16.js';

const SCHEMA_VERSION = 1;

export interface ModelKeyInfo {
  key: string;
  backboneId: string;
  weightsHash: string;
  /** Preprocessing + feature tensor: a change makes a new key, so stale features are never reused. */
  recipe: string;
  dim: number;
  /** How vectors are stored: 'f32' (default; backbone features) or 'f16' (cut activations for fine-tuning). */
  encoding?: VectorEncoding;
}

export type VectorEncoding = 'f32' | 'f16';

export interface StoreStats {
  path: string;
  bytesOnDisk: number;
  models: { key: string; backboneId: string; dim: number; count: number; bytes: number; lastUsed: number | null }[];
  total: number;
}

/** Identifies "these exact weights, this exact preprocessing, this feature tensor". */
export function modelKeyFor(
  b: Pick<Backbone, 'id' | 'weightsHash' | 'input' | 'featureDim'> & { entry: { feature: unknown }; featureEncoding?: VectorEncoding },
): ModelKeyInfo {
  const encoding = b.featureEncoding ?? 'f32';
  // float32 keys are unchanged from before encodings existed; float16 ones say so in the recipe.
  const recipe = JSON.stringify(encoding === 'f16' ? { input: b.input, feature: b.entry.feature, version: SCHEMA_VERSION, encoding } : { input: b.input, feature: b.entry.feature, version: SCHEMA_VERSION });
  const key = sha256(`${b.id}\n${b.weightsHash}\n${recipe}`).slice(0, 32);
  return { key, backboneId: b.id, weightsHash: b.weightsHash, recipe, dim: b.featureDim, encoding };
}

/** Runs `fn`, retrying with a short sleep while SQLite says the database is busy or locked, up to `ms`. */
function retryWhileBusy(fn: () => void, ms: number): void {
  const deadline = Date.now() + ms;
  const pause = new Int32Array(new SharedArrayBuffer(4));
  for (let wait = 5; ; wait = Math.min(200, wait * 2)) {
    try {
      return fn();
    } catch (err) {
      const code = (err as { code?: string }).code ?? '';
      if (!/^SQLITE_(BUSY|LOCKED)/.test(code) || Date.now() > deadline) throw err;
      Atomics.wait(pause, 0, 0, wait); // a synchronous sleep: the constructor is synchronous
    }
  }
}

export class FeatureStore {
  private db: Database.Database;
  private getStmt: Database.Statement;
  private putStmt: Database.Statement;
  private touchStmt: Database.Statement;
  private encodings = new Map<string, VectorEncoding>();

  private constructor(readonly path: string) {
    mkdirSync(dirname(path), { recursive: true });
    try {
      this.db = new Database(path, { timeout: 30_000 });
      // Two processes opening a new store at once can get SQLITE_BUSY here without SQLite's busy handler running
      // (switching to WAL and the first CREATE need locks that SQLite will not wait for when waiting could
      // deadlock). Every statement below is idempotent, so retry for as long as the busy timeout.
      retryWhileBusy(() => this.initSchema(), 30_000);
    } catch (err) {
      throw new TlError(`cannot open the feature store ${path}: ${(err as Error).message}`, 'Check the path and permissions, or run `tl cache clear`.');
    }
    this.getStmt = this.db.prepare('SELECT vector FROM features WHERE model_key = ? AND content_hash = ?');
    this.putStmt = this.db.prepare('INSERT OR REPLACE INTO features (model_key, content_hash, vector, created_at, last_used) VALUES (?, ?, ?, ?, ?)');
    this.touchStmt = this.db.prepare('UPDATE features SET last_used = ? WHERE model_key = ? AND content_hash = ?');
  }

  private initSchema(): void {
    this.db.pragma('journal_mode = WAL');
    // NORMAL is crash-safe for process kills in WAL mode (only an OS crash can lose the last commits).
    this.db.pragma('synchronous = NORMAL');
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS models (
        key TEXT PRIMARY KEY, backbone_id TEXT NOT NULL, weights_hash TEXT NOT NULL, recipe TEXT NOT NULL,
        dim INTEGER NOT NULL, created_at INTEGER NOT NULL);
      CREATE TABLE IF NOT EXISTS features (
        model_key TEXT NOT NULL, content_hash TEXT NOT NULL, vector BLOB NOT NULL,
        created_at INTEGER NOT NULL, last_used INTEGER NOT NULL,
        PRIMARY KEY (model_key, content_hash)) WITHOUT ROWID;`);
  }

  static open(path = featureStorePath()): FeatureStore {
    return new FeatureStore(path);
  }

  registerModel(m: ModelKeyInfo): void {
    this.encodings.set(m.key, m.encoding ?? 'f32');
    this.db
      .prepare('INSERT OR IGNORE INTO models (key, backbone_id, weights_hash, recipe, dim, created_at) VALUES (?, ?, ?, ?, ?, ?)')
      .run(m.key, m.backboneId, m.weightsHash, m.recipe, m.dim, Date.now());
  }

  /** The encoding of a model key's vectors: registered in this process, else read from its recipe. */
  private encodingOf(modelKey: string): VectorEncoding {
    let e = this.encodings.get(modelKey);
    if (!e) {
      const row = this.db.prepare('SELECT recipe FROM models WHERE key = ?').get(modelKey) as { recipe: string } | undefined;
      e = row && row.recipe.includes('"encoding":"f16"') ? 'f16' : 'f32';
      this.encodings.set(modelKey, e);
    }
    return e;
  }

  get(modelKey: string, contentHash: string, dim: number): Float32Array | undefined {
    const row = this.getStmt.get(modelKey, contentHash) as { vector: Buffer } | undefined;
    if (!row) return undefined;
    if (this.encodingOf(modelKey) === 'f16') return row.vector.byteLength === dim * 2 ? decodeF16(row.vector) : undefined;
    if (row.vector.byteLength !== dim * 4) return undefined; // never trust a row of the wrong size
    // Copy out of SQLite's buffer into an aligned Float32Array.
    const v = new Float32Array(dim);
    new Uint8Array(v.buffer).set(row.vector);
    return v;
  }

  /** Mark entries as used now (for `tl cache prune --older-than`), in one transaction. */
  touch(modelKey: string, contentHashes: string[]): void {
    const now = Date.now();
    this.db.transaction(() => {
      for (const h of contentHashes) this.touchStmt.run(now, modelKey, h);
    })();
  }

  /** Store a batch atomically: either every vector of the batch is there afterwards, or none. */
  putMany(modelKey: string, entries: { contentHash: string; vector: Float32Array }[]): void {
    const now = Date.now();
    const f16 = this.encodingOf(modelKey) === 'f16';
    this.db.transaction(() => {
      for (const e of entries) this.putStmt.run(modelKey, e.contentHash, f16 ? encodeF16(e.vector) : Buffer.from(e.vector.buffer, e.vector.byteOffset, e.vector.byteLength), now, now);
    })();
  }

  count(modelKey?: string): number {
    const row = modelKey
      ? this.db.prepare('SELECT COUNT(*) AS n FROM features WHERE model_key = ?').get(modelKey)
      : this.db.prepare('SELECT COUNT(*) AS n FROM features').get();
    return (row as { n: number }).n;
  }

  stats(): StoreStats {
    const rows = this.db
      .prepare(
        `SELECT m.key, m.backbone_id AS backboneId, m.dim, COUNT(f.content_hash) AS count,
                COALESCE(SUM(LENGTH(f.vector)), 0) AS bytes, MAX(f.last_used) AS lastUsed
         FROM models m LEFT JOIN features f ON f.model_key = m.key GROUP BY m.key ORDER BY m.backbone_id`,
      )
      .all() as StoreStats['models'];
    const bytesOnDisk = ['', '-wal', '-shm'].reduce((s, suf) => s + (existsSync(this.path + suf) ? statSync(this.path + suf).size : 0), 0);
    return { path: this.path, bytesOnDisk, models: rows, total: rows.reduce((s, r) => s + r.count, 0) };
  }

  /** Delete entries of models not in `keepKeys` and entries unused since `olderThanMs` ago; returns rows deleted. */
  prune(opts: { keepKeys?: Set<string>; olderThanMs?: number }): number {
    let deleted = 0;
    this.db.transaction(() => {
      if (opts.keepKeys) {
        const keys = (this.db.prepare('SELECT key FROM models').all() as { key: string }[]).map((r) => r.key);
        for (const k of keys) {
          if (opts.keepKeys.has(k)) continue;
          deleted += this.db.prepare('DELETE FROM features WHERE model_key = ?').run(k).changes;
          this.db.prepare('DELETE FROM models WHERE key = ?').run(k);
        }
      }
      if (opts.olderThanMs !== undefined) {
        deleted += this.db.prepare('DELETE FROM features WHERE last_used < ?').run(Date.now() - opts.olderThanMs).changes;
      }
    })();
    this.db.exec('VACUUM');
    return deleted;
  }

  clear(): number {
    const n = this.count();
    this.db.exec('DELETE FROM features; DELETE FROM models;');
    this.db.exec('VACUUM');
    return n;
  }

  /** SQLite's own consistency check: "ok" when the file is sound. */
  integrityCheck(): string {
    return (this.db.pragma('integrity_check', { simple: true }) as string) ?? 'unknown';
  }

  close(): void {
    this.db.close();
  }
}
