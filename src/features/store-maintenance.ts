// `tl cache check` and `tl cache clear` on the store file itself: they must work exactly when the store is broken,
// so they open it without the store's fallbacks and say what they found.
import { existsSync } from 'node:fs';
import type Database from 'better-sqlite3';
import { TlError } from '../util/errors.js';
import { closeQuietly, openReadOnly, openReadWrite } from './store-db.js';
import {
  describeFailure,
  isBusy,
  isCorruption,
  quarantineStore,
  quarantinedStores,
  removeStoreFiles,
  storeBytes,
} from './store-files.js';

export interface StoreCheck {
  path: string;
  exists: boolean;
  ok: boolean;
  /** SQLite's findings (at most 20), empty when sound. */
  problems: string[];
  /** Feature vectors, when they could be counted. */
  vectors?: number;
  bytesOnDisk: number;
  /** Damaged stores moved aside earlier. */
  quarantined: string[];
}

/** SQLite's integrity_check (or the faster quick_check) over the store file, read-only. */
export function checkFeatureStore(path: string, opts: { quick?: boolean } = {}): StoreCheck {
  const base = { path, exists: existsSync(path), bytesOnDisk: storeBytes(path), quarantined: quarantinedStores(path) };
  if (!base.exists) return { ...base, ok: true, problems: [] };
  let db: Database.Database | undefined;
  try {
    db = openReadOnly(path);
    const rows = db.pragma(`${opts.quick ? 'quick_check' : 'integrity_check'}(20)`) as Record<string, string>[];
    const problems = rows.map((r) => Object.values(r)[0]).filter((m) => m !== 'ok');
    const vectors = problems.length
      ? undefined
      : (db.prepare('SELECT COUNT(*) AS n FROM features').get() as { n: number }).n;
    return { ...base, ok: problems.length === 0, problems, vectors };
  } catch (err) {
    if (isCorruption(err) || /no such table/.test((err as Error).message))
      return { ...base, ok: false, problems: [(err as Error).message] };
    throw new TlError(
      `cannot read the feature cache ${path}: ${describeFailure(err, path)}`,
      "Check the file's permissions, or point TL_CACHE_DIR at another folder.",
    );
  } finally {
    if (db) closeQuietly(db);
  }
}

/** Move a damaged store aside (kept, not deleted) so the next command starts a new one. Returns the new name. */
export function repairFeatureStore(path: string): string {
  try {
    return quarantineStore(path);
  } catch (err) {
    throw new TlError(
      `cannot move the damaged feature cache ${path} aside: ${describeFailure(err, path)}`,
      'Make its folder writable, or delete it with `tl cache clear`.',
    );
  }
}

export interface ClearResult {
  /** Vectors deleted from a sound store. */
  cleared: number;
  /** Set when the store could not be emptied (damaged, full disk) and its files were deleted instead. */
  removedBytes?: number;
  reason?: string;
  quarantined: string[];
}

/**
 * Empty the store. A sound store is emptied in place (other processes using it see an empty store); one that cannot
 * be (damaged, disk full) has its own files deleted: features.sqlite and its -wal/-shm, nothing else.
 */
export function clearFeatureStore(path: string): ClearResult {
  const quarantined = quarantinedStores(path);
  if (!existsSync(path)) {
    removeFiles(path); // a -wal/-shm left without its main file
    return { cleared: 0, quarantined };
  }
  let db: Database.Database | undefined;
  try {
    db = openReadWrite(path);
    const n = (db.prepare('SELECT COUNT(*) AS n FROM features').get() as { n: number }).n;
    db.exec('DELETE FROM features; DELETE FROM models;');
    db.exec('VACUUM');
    return { cleared: n, quarantined };
  } catch (err) {
    if (!/^(SQLITE_|E[A-Z]+$)/.test(String((err as { code?: unknown }).code ?? ''))) throw err;
    if (isBusy(err))
      throw new TlError(
        `cannot clear the feature cache ${path}: another process kept it locked`,
        'Run it again when the other tl command has finished.',
      );
    if (db) closeQuietly(db);
    db = undefined;
    return { cleared: 0, removedBytes: removeFiles(path), reason: describeFailure(err, path), quarantined };
  } finally {
    if (db) closeQuietly(db);
  }
}

function removeFiles(path: string): number {
  try {
    return removeStoreFiles(path);
  } catch (err) {
    throw new TlError(
      `cannot delete the feature cache ${path}: ${describeFailure(err, path)}`,
      'Make its folder writable, or point TL_CACHE_DIR at another folder.',
    );
  }
}
