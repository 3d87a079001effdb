// The feature store's files on disk and what can go wrong with them: which SQLite/Node errors mean "damaged",
// "not writable" or "full", a plain-words reason for each, moving a damaged store aside, and removing a store.
// The cache is an optimisation: these helpers let the store degrade (read-only, or off) instead of failing a command.
import { accessSync, constants, existsSync, readdirSync, renameSync, statSync, unlinkSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

/** The files SQLite keeps for one store in WAL mode; the toolkit writes these and nothing else. */
export const STORE_SUFFIXES = ['', '-wal', '-shm'] as const;

function codeOf(err: unknown): string {
  return String((err as { code?: unknown })?.code ?? '');
}

/** The file is not a sound SQLite database: moving it aside and starting over is the remedy. */
export function isCorruption(err: unknown): boolean {
  return /^SQLITE_(CORRUPT|NOTADB)/.test(codeOf(err));
}

export function isBusy(err: unknown): boolean {
  return /^SQLITE_(BUSY|LOCKED)/.test(codeOf(err));
}

/** Why the store at `path` failed, in words a user can act on (never a bare error code). */
export function describeFailure(err: unknown, path: string): string {
  const code = codeOf(err);
  const message = (err as Error)?.message ?? String(err);
  if (/^SQLITE_FULL$|^ENOSPC$|^EDQUOT$/.test(code)) return 'the disk is full';
  if (isCorruption(err)) return `damaged: ${message}`;
  if (isBusy(err)) return 'another process kept it locked';
  if (/^EROFS$/.test(code)) return 'read-only file system';
  if (/^(EACCES|EPERM)$/.test(code) || /^SQLITE_READONLY/.test(code))
    return writeProblem(path) ?? 'no write permission';
  // SQLite says only "unable to open database file", and a recursive mkdir under a read-only folder says ENOENT:
  // find the real reason from the file system.
  if (/^SQLITE_CANTOPEN/.test(code)) return writeProblem(path) ?? 'cannot open the file';
  if (code === 'ENOENT') return writeProblem(path) ?? message;
  if (/^SQLITE_IOERR/.test(code) || code === 'EIO') return `disk I/O error (${message})`;
  return message;
}

/** Why the folder of `path` (or the file itself) is not writable, or undefined when it is. */
export function writeProblem(path: string): string | undefined {
  for (const p of [existsSync(path) ? path : undefined, nearestExisting(dirname(path))]) {
    if (!p) continue;
    try {
      accessSync(p, constants.W_OK);
    } catch (err) {
      return codeOf(err) === 'EROFS' ? 'read-only file system' : 'no write permission';
    }
  }
  return undefined;
}

function nearestExisting(dir: string): string {
  while (!existsSync(dir) && dirname(dir) !== dir) dir = dirname(dir);
  return dir;
}

/** Bytes of the store's files on disk. */
export function storeBytes(path: string): number {
  return STORE_SUFFIXES.reduce((s, suf) => s + (existsSync(path + suf) ? statSync(path + suf).size : 0), 0);
}

/** Identity of the main file (device + inode), so a store never moves aside a file another instance already replaced. */
export function fileIdentity(path: string): string | undefined {
  try {
    const s = statSync(path);
    return `${s.dev}:${s.ino}`;
  } catch {
    return undefined;
  }
}

/**
 * Move a damaged store aside as `<path>.corrupt-<timestamp>` (with its -wal/-shm), so nothing stored is deleted and a
 * new store can be built at `path`. Returns the new name of the main file; throws the rename's error.
 */
export function quarantineStore(path: string, now = new Date()): string {
  const aside = `${path}.corrupt-${now.toISOString().replace(/[:.]/g, '-')}`;
  renameSync(path, aside);
  for (const suf of ['-wal', '-shm']) if (existsSync(path + suf)) renameSync(path + suf, aside + suf);
  return aside;
}

/** Damaged stores moved aside earlier (main files only), oldest first. */
export function quarantinedStores(path: string): string[] {
  const dir = dirname(path);
  const prefix = `${basename(path)}.corrupt-`;
  try {
    return readdirSync(dir)
      .filter((f) => f.startsWith(prefix) && !f.endsWith('-wal') && !f.endsWith('-shm'))
      .sort()
      .map((f) => join(dir, f));
  } catch {
    return [];
  }
}

/** Delete the store's own files (main, -wal, -shm); missing ones are fine. Returns the bytes freed; throws unlink errors. */
export function removeStoreFiles(path: string): number {
  let freed = 0;
  for (const suf of STORE_SUFFIXES) {
    const p = path + suf;
    if (!existsSync(p)) continue;
    const size = statSync(p).size;
    unlinkSync(p);
    freed += size;
  }
  return freed;
}
