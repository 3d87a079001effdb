// The on-disk feature cache: SQLite (better-sqlite3) in WAL mode. One row per (model key, image content hash).
// Why SQLite: one file, transactions make every batch all-or-nothing (a SIGKILL leaves no partial row), WAL lets
// several processes read while one writes, and it ships as a prebuilt npm addon that works on Node 20.
import type Database from 'better-sqlite3';
import { featureStorePath } from '../util/env.js';
import { sha256 } from '../util/hash.js';
import { PREPROCESS_RULE_VERSION } from '../data/preprocess-rule.js';
import { TlError } from '../util/errors.js';
import type { Backbone, FeatureSpec, VectorEncoding } from '../backbone/types.js';
import { decodeF16, encodeF16 } from '../util/f16.js';
import { closeQuietly, openReadOnly, openReadWrite } from './store-db.js';
import {
  describeFailure,
  fileIdentity,
  isCorruption,
  quarantineStore,
  storeBytes,
  writeProblem,
} from './store-files.js';

const SCHEMA_VERSION = 1;
const FIX_HINT =
  'Check that the folder is writable and the disk has space, or point TL_CACHE_DIR at another folder; `tl cache check` tells whether the file is sound.';

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

export type { VectorEncoding };

export interface StoreStats {
  path: string;
  access: StoreAccess;
  /** Why the store is read-only or unavailable. */
  problem?: string;
  bytesOnDisk: number;
  models: { key: string; backboneId: string; dim: number; count: number; bytes: number; lastUsed: number | null }[];
  total: number;
}

/** Identifies "these exact weights, this exact preprocessing, these vectors (the entry's features, a cut, a tail...)". */
export function modelKeyFor(
  b: Pick<Backbone, 'id' | 'weightsHash' | 'input' | 'featureDim' | 'vectors'> & { entry: { feature: FeatureSpec } },
): ModelKeyInfo {
  const encoding = b.vectors?.encoding ?? 'f32';
  // Other vectors than the entry's features are named by `vectors.source`, spelled as the feature spec they once
  // borrowed, so stores written before keep their keys. float16 keys say so in the recipe. `preprocess`: the pixel
  // rule's version, so a changed crop never reuses old features.
  const feature = b.vectors ? { tensor: b.vectors.source, dim: b.featureDim, pool: 'none' } : b.entry.feature;
  const base = { input: b.input, preprocess: PREPROCESS_RULE_VERSION, feature, version: SCHEMA_VERSION };
  const recipe = JSON.stringify(encoding === 'f16' ? { ...base, encoding } : base);
  const key = sha256(`${b.id}\n${b.weightsHash}\n${recipe}`).slice(0, 32);
  return { key, backboneId: b.id, weightsHash: b.weightsHash, recipe, dim: b.featureDim, encoding };
}

/** How much of the store this process can use. */
export type StoreAccess = 'read-write' | 'read-only' | 'unavailable';

export interface StoreOptions {
  /** Where the store's warnings go (default: one `warning:` line on stderr per problem and file per process). */
  onWarning?: (message: string) => void;
}

interface Connection {
  db: Database.Database;
  writable: boolean;
  /** The main file's device + inode when opened: never move aside a file another instance already replaced. */
  identity?: string;
  get: Database.Statement;
  put?: Database.Statement;
  touch?: Database.Statement;
}

const warned = new Set<string>();
function warnOnceOnStderr(message: string): void {
  if (warned.has(message)) return;
  warned.add(message);
  process.stderr.write(`warning: ${message}\n`);
}

/** A storage failure (SQLite or the file system), as opposed to a bug: the store degrades instead of failing. */
function isStorageError(err: unknown): boolean {
  return /^(SQLITE_|E[A-Z]+$)/.test(String((err as { code?: unknown })?.code ?? ''));
}

/**
 * The cache is an optimisation, so it never stops a command: a store that cannot be written (read-only folder, full
 * disk) is read where possible and written no more; a damaged file is moved aside and a new store started; anything
 * else runs without the cache. Each case warns once, naming the file and the reason. Nothing stored is deleted.
 */
export class FeatureStore {
  private conn?: Connection;
  /** Why the store is read-only or unavailable, for messages. */
  private problem?: string;
  private encodings = new Map<string, VectorEncoding>();

  private constructor(
    readonly path: string,
    private readonly warn: (message: string) => void,
  ) {
    this.connect();
  }

  static open(path = featureStorePath(), opts: StoreOptions = {}): FeatureStore {
    return new FeatureStore(path, opts.onWarning ?? warnOnceOnStderr);
  }

  get access(): StoreAccess {
    return !this.conn ? 'unavailable' : this.conn.writable ? 'read-write' : 'read-only';
  }

  private attach(db: Database.Database, writable: boolean): void {
    this.conn = {
      db,
      writable,
      identity: this.path === ':memory:' ? undefined : fileIdentity(this.path),
      get: db.prepare('SELECT vector FROM features WHERE model_key = ? AND content_hash = ?'),
      put: writable
        ? db.prepare(
            'INSERT OR REPLACE INTO features (model_key, content_hash, vector, created_at, last_used) VALUES (?, ?, ?, ?, ?)',
          )
        : undefined,
      touch: writable
        ? db.prepare('UPDATE features SET last_used = ? WHERE model_key = ? AND content_hash = ?')
        : undefined,
    };
  }

  /** Read-write if possible; else a damaged file is moved aside and a new store made; else read-only; else none. */
  private connect(allowQuarantine = true): void {
    let failure: unknown;
    let db: Database.Database | undefined;
    try {
      db = openReadWrite(this.path);
      // SQLite opens a file it may not write read-only without saying so (when its -shm exists): ask the file system.
      const denied = this.path === ':memory:' ? undefined : writeProblem(this.path);
      this.attach(db, !denied);
      if (denied) this.readOnlyBecause(denied);
      return;
    } catch (err) {
      if (db) closeQuietly(db);
      if (this.path === ':memory:' || !isStorageError(err)) throw err;
      failure = err;
    }
    if (isCorruption(failure)) return this.replaceDamaged(failure, allowQuarantine);
    try {
      this.attach(openReadOnly(this.path), false);
      this.readOnlyBecause(describeFailure(failure, this.path));
    } catch (err) {
      if (isCorruption(err)) return this.replaceDamaged(err, allowQuarantine);
      this.goUnavailable(failure, 'open');
    }
  }

  /** A store found damaged when opening: move it aside and open a new one (once), else run without a store. */
  private replaceDamaged(err: unknown, allowQuarantine: boolean): void {
    if (!allowQuarantine) return this.goUnavailable(err, 'open');
    if (this.quarantine(err, fileIdentity(this.path))) this.connect(false);
  }

  private readOnlyBecause(reason: string): void {
    this.problem = reason;
    this.warn(`cannot write the feature cache ${this.path} (${reason}); reading from it, new features are not cached`);
  }

  private goUnavailable(err: unknown, when: 'open' | 'read'): void {
    if (this.conn) closeQuietly(this.conn.db);
    this.conn = undefined;
    this.problem = describeFailure(err, this.path);
    const what = when === 'open' ? 'cannot use' : 'cannot read';
    this.warn(`${what} the feature cache ${this.path} (${this.problem}); running without it`);
  }

  /** Move a damaged store aside and say where; false (after warning) when it cannot be moved. */
  private quarantine(err: unknown, identity: string | undefined): boolean {
    if (this.conn) closeQuietly(this.conn.db);
    this.conn = undefined;
    // Another store instance may already have replaced the damaged file: then just open the new one.
    if (identity === undefined || fileIdentity(this.path) !== identity) return true;
    const reason = (err as Error).message;
    try {
      const aside = quarantineStore(this.path);
      this.warn(
        `the feature cache ${this.path} is damaged (${reason}): moved it to ${aside} and started a new cache (delete the old file when you no longer need it)`,
      );
      return true;
    } catch (moveErr) {
      this.problem = `${reason}; it could not be moved aside: ${describeFailure(moveErr, this.path)}`;
      this.warn(
        `the feature cache ${this.path} is damaged (${this.problem}); running without it (to fix: make the folder writable, then run \`tl cache check --repair\` or \`tl cache clear\`)`,
      );
      return false;
    }
  }

  /**
   * Run one operation against the store. A storage failure never escapes: a damaged file is moved aside (and the
   * operation tried once on the new store), a failed write stops further writes, a failed read stops using the store.
   */
  private guard<T>(kind: 'read' | 'write', fallback: T, op: (c: Connection) => T, retried = false): T {
    const c = this.conn;
    if (!c || (kind === 'write' && !c.writable)) return fallback;
    try {
      return op(c);
    } catch (err) {
      if (this.path === ':memory:' || !isStorageError(err)) throw err;
      if (isCorruption(err) && !retried) {
        if (!this.quarantine(err, c.identity)) return fallback;
        this.connect(false);
        return this.guard(kind, fallback, op, true);
      }
      if (kind === 'write') {
        c.writable = false;
        this.problem = describeFailure(err, this.path);
        this.warn(
          `cannot write to the feature cache ${this.path} (${this.problem}); going on without caching new features (what is stored is kept)`,
        );
      } else {
        this.goUnavailable(err, 'read');
      }
      return fallback;
    }
  }

  /** The connection for an explicit maintenance command, which must say why it cannot run instead of degrading. */
  private writableOrThrow(action: string): Connection {
    if (this.conn?.writable) return this.conn;
    throw new TlError(
      `cannot ${action} the feature cache ${this.path}: ${this.problem ?? 'it is not writable'}`,
      FIX_HINT,
    );
  }

  private failMaintenance(action: string, err: unknown): never {
    if (!isStorageError(err)) throw err;
    throw new TlError(`cannot ${action} the feature cache ${this.path}: ${describeFailure(err, this.path)}`, FIX_HINT);
  }

  registerModel(m: ModelKeyInfo): void {
    this.encodings.set(m.key, m.encoding ?? 'f32');
    this.guard(
      'write',
      undefined,
      (c) =>
        void c.db
          .prepare(
            'INSERT OR IGNORE INTO models (key, backbone_id, weights_hash, recipe, dim, created_at, encoding) VALUES (?, ?, ?, ?, ?, ?, ?)',
          )
          .run(m.key, m.backboneId, m.weightsHash, m.recipe, m.dim, Date.now(), m.encoding ?? 'f32'),
    );
  }

  /** The encoding of a model key's vectors: registered in this process, else its `encoding` column. */
  private encodingOf(modelKey: string): VectorEncoding {
    let e = this.encodings.get(modelKey);
    if (!e) {
      const row = this.guard(
        'read',
        undefined,
        (c) =>
          c.db.prepare('SELECT * FROM models WHERE key = ?').get(modelKey) as
            { recipe: string; encoding?: VectorEncoding } | undefined,
      );
      // A store written before the column, opened read-only (not migrated): its float16 recipes say so.
      e = row?.encoding ?? (row?.recipe.includes('"encoding":"f16"') ? 'f16' : 'f32');
      this.encodings.set(modelKey, e);
    }
    return e;
  }

  get(modelKey: string, contentHash: string, dim: number): Float32Array | undefined {
    const f16 = this.encodingOf(modelKey) === 'f16';
    const row = this.guard(
      'read',
      undefined,
      (c) => c.get.get(modelKey, contentHash) as { vector: Buffer } | undefined,
    );
    if (!row) return undefined;
    if (f16) return row.vector.byteLength === dim * 2 ? decodeF16(row.vector) : undefined;
    if (row.vector.byteLength !== dim * 4) return undefined; // never trust a row of the wrong size
    // Copy out of SQLite's buffer into an aligned Float32Array.
    const v = new Float32Array(dim);
    new Uint8Array(v.buffer).set(row.vector);
    return v;
  }

  /** Mark entries as used now (for `tl cache prune --older-than`), in one transaction. */
  touch(modelKey: string, contentHashes: string[]): void {
    const now = Date.now();
    this.guard('write', undefined, (c) =>
      c.db.transaction(() => {
        for (const h of contentHashes) c.touch!.run(now, modelKey, h);
      })(),
    );
  }

  /** Store a batch atomically: either every vector of the batch is there afterwards, or none. */
  putMany(modelKey: string, entries: { contentHash: string; vector: Float32Array }[]): void {
    const now = Date.now();
    const f16 = this.encodingOf(modelKey) === 'f16';
    this.guard('write', undefined, (c) =>
      c.db.transaction(() => {
        for (const e of entries)
          c.put!.run(
            modelKey,
            e.contentHash,
            f16 ? encodeF16(e.vector) : Buffer.from(e.vector.buffer, e.vector.byteOffset, e.vector.byteLength),
            now,
            now,
          );
      })(),
    );
  }

  count(modelKey?: string): number {
    return this.guard('read', 0, (c) => {
      const row = modelKey
        ? c.db.prepare('SELECT COUNT(*) AS n FROM features WHERE model_key = ?').get(modelKey)
        : c.db.prepare('SELECT COUNT(*) AS n FROM features').get();
      return (row as { n: number }).n;
    });
  }

  stats(): StoreStats {
    const rows = this.guard(
      'read',
      [] as StoreStats['models'],
      (c) =>
        c.db
          .prepare(
            `SELECT m.key, m.backbone_id AS backboneId, m.dim, COUNT(f.content_hash) AS count,
                  COALESCE(SUM(LENGTH(f.vector)), 0) AS bytes, MAX(f.last_used) AS lastUsed
           FROM models m LEFT JOIN features f ON f.model_key = m.key GROUP BY m.key ORDER BY m.backbone_id`,
          )
          .all() as StoreStats['models'],
    );
    const bytesOnDisk = this.path === ':memory:' ? 0 : storeBytes(this.path);
    return {
      path: this.path,
      access: this.access,
      problem: this.problem,
      bytesOnDisk,
      models: rows,
      total: rows.reduce((s, r) => s + r.count, 0),
    };
  }

  /** Delete entries of models not in `keepKeys` and entries unused since `olderThanMs` ago; returns rows deleted. */
  prune(opts: { keepKeys?: Set<string>; olderThanMs?: number }): number {
    const { db } = this.writableOrThrow('prune');
    let deleted = 0;
    try {
      db.transaction(() => {
        if (opts.keepKeys) {
          const keys = (db.prepare('SELECT key FROM models').all() as { key: string }[]).map((r) => r.key);
          for (const k of keys) {
            if (opts.keepKeys.has(k)) continue;
            deleted += db.prepare('DELETE FROM features WHERE model_key = ?').run(k).changes;
            db.prepare('DELETE FROM models WHERE key = ?').run(k);
          }
        }
        if (opts.olderThanMs !== undefined) {
          deleted += db.prepare('DELETE FROM features WHERE last_used < ?').run(Date.now() - opts.olderThanMs).changes;
        }
      })();
      db.exec('VACUUM');
    } catch (err) {
      this.failMaintenance('prune', err);
    }
    return deleted;
  }

  /** Delete every entry (the file stays, so other processes using it see an empty store). */
  clear(): number {
    const { db } = this.writableOrThrow('clear');
    try {
      const n = (db.prepare('SELECT COUNT(*) AS n FROM features').get() as { n: number }).n;
      db.exec('DELETE FROM features; DELETE FROM models;');
      db.exec('VACUUM');
      return n;
    } catch (err) {
      this.failMaintenance('clear', err);
    }
  }

  /** SQLite's own consistency check: "ok" when the file is sound. */
  integrityCheck(): string {
    if (!this.conn) return `unavailable: ${this.problem}`;
    return (this.conn.db.pragma('integrity_check', { simple: true }) as string) ?? 'unknown';
  }

  close(): void {
    if (this.conn) closeQuietly(this.conn.db);
    this.conn = undefined;
  }
}
