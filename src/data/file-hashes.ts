// The sha256 of image files this process has already read, so a file is read once per run: the dataset's duplicate
// check hashes a few files, and extraction (whose store key is that same hash) takes those from here instead of
// reading them again. An entry counts only while the file is unchanged: same device, inode, size, mtime and ctime
// (nanoseconds), the identity make and git trust; any write to the file changes its ctime.
import { statSync, type BigIntStats } from 'node:fs';
import { sha256 } from '../util/hash.js';
import { readImageBytesSync } from './image-file.js';

interface Entry {
  identity: string;
  hash: string;
}

/** Enough for a large dataset's candidates; the oldest entries go first beyond it (a long-running server). */
const MAX_ENTRIES = 100_000;
const known = new Map<string, Entry>();

function identity(st: BigIntStats): string {
  return `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`;
}

function statOf(path: string): BigIntStats | undefined {
  try {
    return statSync(path, { bigint: true });
  } catch {
    return undefined;
  }
}

/** Read and hash a file (regular files only, size-capped: readImageBytesSync) and remember the hash. */
export function hashImageFileSync(path: string): string {
  // Stat before reading: a file changed in between is remembered under its old identity, so it is read again.
  const st = statOf(path);
  const hash = sha256(readImageBytesSync(path));
  if (!st) return hash;
  known.delete(path);
  known.set(path, { identity: identity(st), hash });
  if (known.size > MAX_ENTRIES) known.delete(known.keys().next().value!);
  return hash;
}

/** The remembered sha256 of a file's bytes, when this process hashed it and it is unchanged since. */
export function rememberedHash(path: string): string | undefined {
  const entry = known.get(path);
  if (!entry) return undefined;
  const st = statOf(path);
  return st && identity(st) === entry.identity ? entry.hash : undefined;
}
