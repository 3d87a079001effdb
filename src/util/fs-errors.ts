// File-system failures in words: "cannot write X to PATH: the disk is full (ENOSPC)" instead of a raw Node error.
import { access, constants } from 'node:fs/promises';
import { dirname } from 'node:path';
import { TlError } from './errors.js';

const REASONS: Record<string, string> = {
  ENOSPC: 'no space left on the device',
  EDQUOT: 'the disk quota is used up',
  EROFS: 'the file system is read-only',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  ENOTDIR: 'a part of the path is a file, not a folder',
  EISDIR: 'a folder is in the way',
  ENAMETOOLONG: 'the path is too long',
  EMFILE: 'too many open files',
  EIO: 'an input/output error (a failing disk?)',
  EEXIST: 'another file or folder appeared there meanwhile',
  ENOTEMPTY: 'another file or folder appeared there meanwhile',
};

const HINTS: Record<string, string> = {
  ENOSPC: 'Free some space there, or choose a folder on another disk.',
  EDQUOT: 'Free some space there, or choose a folder on another disk.',
  EROFS: 'Choose a folder on a writable disk.',
  EACCES: 'Choose a folder you may write to, or fix its permissions.',
  EPERM: 'Choose a folder you may write to, or fix its permissions.',
  EEXIST: 'Is another tl writing there at the same time? Run the command again, or choose another folder.',
  ENOTEMPTY: 'Is another tl writing there at the same time? Run the command again, or choose another folder.',
};

export function errnoCode(err: unknown): string | undefined {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** True for the errors a disk or folder can cause (as opposed to a bug). */
export function isFsError(err: unknown): boolean {
  const code = errnoCode(err);
  return (
    !!code && (code in REASONS || code === 'ENOENT' || code === 'EEXIST' || code === 'ENOTEMPTY' || code === 'EBUSY')
  );
}

/**
 * Node's recursive mkdir reports ENOENT when the real trouble is a read-only or forbidden ancestor: ask the nearest
 * existing ancestor for the real reason.
 */
async function realCode(err: unknown, path: string): Promise<string | undefined> {
  const code = errnoCode(err);
  if (code !== 'ENOENT') return code;
  for (let p = path; ; p = dirname(p)) {
    try {
      await access(p);
    } catch {
      if (dirname(p) === p) return code;
      continue;
    }
    try {
      await access(p, constants.W_OK);
      return code;
    } catch (e) {
      return errnoCode(e) ?? code;
    }
  }
}

/**
 * A TlError for a failed write: what could not be written where, why, and what to do. `extraHint` is appended (e.g.
 * "the previous bundle there is unchanged").
 */
export async function writeError(what: string, path: string, err: unknown, extraHint = ''): Promise<TlError> {
  const code = await realCode(err, path);
  const reason = code
    ? `${REASONS[code] ?? (code === 'ENOENT' ? 'a folder on the way does not exist' : (err as Error).message)} (${code})`
    : String((err as Error)?.message ?? err);
  const hint = [code ? HINTS[code] : undefined, extraHint].filter(Boolean).join(' ');
  return new TlError(`cannot write ${what} to ${path}: ${reason}`, hint || undefined);
}
