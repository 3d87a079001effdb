// Opening the feature store's SQLite file: read-write with the schema (WAL mode, busy retries), or read-only for a
// store in a folder this process cannot write. Raw SQLite errors come out of here; the store decides what they mean.
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { pathToFileURL } from 'node:url';

// SQLite reads URI file names ("file:...?immutable=1") only when told before the addon loads (better-sqlite3 loads it
// on the first `new Database`). The read-only fallback needs one; a plain path never starts with "file:".
process.env.SQLITE_USE_URI ??= '1';

/** Runs `fn`, retrying with a short sleep while SQLite says the database is busy or locked, up to `ms`. */
export function retryWhileBusy<T>(fn: () => T, ms: number): T {
  const deadline = Date.now() + ms;
  const pause = new Int32Array(new SharedArrayBuffer(4));
  for (let wait = 5; ; wait = Math.min(200, wait * 2)) {
    try {
      return fn();
    } catch (err) {
      const code = (err as { code?: string }).code ?? '';
      if (!/^SQLITE_(BUSY|LOCKED)/.test(code) || Date.now() > deadline) throw err;
      Atomics.wait(pause, 0, 0, wait); // a synchronous sleep: opening is synchronous
    }
  }
}

function initSchema(db: Database.Database): void {
  db.pragma('journal_mode = WAL');
  // NORMAL is crash-safe for process kills in WAL mode (only an OS crash can lose the last commits).
  db.pragma('synchronous = NORMAL');
  db.exec(`
    CREATE TABLE IF NOT EXISTS models (
      key TEXT PRIMARY KEY, backbone_id TEXT NOT NULL, weights_hash TEXT NOT NULL, recipe TEXT NOT NULL,
      dim INTEGER NOT NULL, created_at INTEGER NOT NULL, encoding TEXT NOT NULL DEFAULT 'f32');
    CREATE TABLE IF NOT EXISTS features (
      model_key TEXT NOT NULL, content_hash TEXT NOT NULL, vector BLOB NOT NULL,
      created_at INTEGER NOT NULL, last_used INTEGER NOT NULL,
      PRIMARY KEY (model_key, content_hash)) WITHOUT ROWID;`);
  addEncodingColumn(db);
}

/**
 * How each model key's vectors are stored ('f32' | 'f16') is a column. Stores written before it get it here, filled
 * from their recipes (float16 ones say so). IMMEDIATE takes the write lock before looking, so two processes
 * migrating one store at once add it once.
 */
function addEncodingColumn(db: Database.Database): void {
  const has = () =>
    (db.prepare('PRAGMA table_info(models)').all() as { name: string }[]).some((c) => c.name === 'encoding');
  if (has()) return;
  db.transaction(() => {
    if (has()) return;
    db.exec(`ALTER TABLE models ADD COLUMN encoding TEXT NOT NULL DEFAULT 'f32'`);
    db.exec(`UPDATE models SET encoding = 'f16' WHERE recipe LIKE '%"encoding":"f16"%'`);
  }).immediate();
}

/** Open (creating if needed) a store for reading and writing. Throws SQLite's or the file system's error. */
export function openReadWrite(path: string): Database.Database {
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
  const db = new Database(path, { timeout: 30_000 });
  try {
    // Two processes opening a new store at once can get SQLITE_BUSY here without SQLite's busy handler running
    // (switching to WAL and the first CREATE need locks that SQLite will not wait for when waiting could
    // deadlock). Every statement is idempotent, so retry for as long as the busy timeout.
    retryWhileBusy(() => initSchema(db), 30_000);
    return db;
  } catch (err) {
    closeQuietly(db);
    throw err;
  }
}

/**
 * Open an existing store read-only. A WAL-mode file in a folder nobody may write cannot be read the normal way
 * (SQLite needs to create its -shm file beside it), so that case reads it as immutable: no other process can change
 * it there either. Throws when neither works or the file is not a store.
 */
export function openReadOnly(path: string): Database.Database {
  let first: unknown;
  for (const name of [path, `${pathToFileURL(path).href}?immutable=1`]) {
    let db: Database.Database | undefined;
    try {
      db = new Database(name, { readonly: true, fileMustExist: true, timeout: 30_000 });
      db.prepare('SELECT 1 FROM features LIMIT 1').get();
      return db;
    } catch (err) {
      if (db) closeQuietly(db);
      first ??= err;
      if (
        (err as { code?: string }).code?.startsWith('SQLITE_CORRUPT') ||
        (err as { code?: string }).code === 'SQLITE_NOTADB'
      )
        throw err;
    }
  }
  throw first;
}

export function closeQuietly(db: Database.Database): void {
  try {
    db.close();
  } catch {
    // closing checkpoints the WAL; on a full or failing disk that can fail, and the committed data is safe anyway
  }
}
