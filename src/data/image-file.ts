// The one way an image file is read from disk: regular files only (after following links), at most
// env.maxImageBytes of them. A link to /dev/zero, a FIFO or a device named *.jpg must not fill memory or hang a run.
import {
  closeSync,
  constants,
  fstatSync,
  lstatSync,
  openSync,
  readSync,
  realpathSync,
  statSync,
  type Stats,
} from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { env } from '../util/env.js';
import { TlError } from '../util/errors.js';
import { formatBytes } from '../util/format.js';

// O_NONBLOCK: opening a FIFO that slipped past the type check (swapped in after it) returns at once instead of
// waiting for a writer; on a regular file it changes nothing.
const OPEN_FLAGS = constants.O_RDONLY | constants.O_NONBLOCK;

/** What a non-regular file is, in words ("a character device"); undefined for a regular file. */
export function specialKind(st: Stats): string | undefined {
  if (st.isFile()) return undefined;
  if (st.isDirectory()) return 'a directory';
  if (st.isFIFO()) return 'a named pipe (FIFO)';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isSocket()) return 'a socket';
  return 'not a regular file';
}

/**
 * Why `path` is not read as an image when it is (or links to) a FIFO, device, socket or directory; undefined for a
 * regular file and for a path that cannot be stat'ed (reading reports that, e.g. a broken link).
 */
export function specialFileReason(path: string): string | undefined {
  let st: Stats;
  try {
    st = statSync(path);
  } catch {
    return undefined;
  }
  const kind = specialKind(st);
  return kind && describeSpecial(path, kind);
}

function describeSpecial(path: string, kind: string): string {
  return `${viaLink(path, kind)}, not a regular file; only regular image files are read`;
}

/** "a character device" or, for a link, "a symbolic link to a character device (/dev/zero)". */
function viaLink(path: string, kind: string): string {
  try {
    if (lstatSync(path).isSymbolicLink()) return `a symbolic link to ${kind} (${realpathSync(path)})`;
  } catch {
    // gone meanwhile: the plain kind is still right
  }
  return kind;
}

function tooLarge(size: number | undefined, cap: number): string {
  const what = size === undefined ? 'more than' : formatBytes(size) + ',';
  return `file is ${what} above the ${formatBytes(cap)} limit for one image file (TL_MAX_IMAGE_BYTES)`;
}

/** The refusal for a file of this type and size, or undefined when it may be read. */
function refusal(path: string, st: Stats, cap: number): string | undefined {
  const kind = specialKind(st);
  if (kind === 'a directory') return 'is a directory, not an image file';
  if (kind) return describeSpecial(path, kind);
  if (st.size > cap) return tooLarge(st.size, cap);
  return undefined;
}

/**
 * What one read loop has read, at most `cap` bytes: it reads to the end of the file, so a file that grew since its
 * fstat is still bounded (refused once past the cap). Shared by the async and the sync read.
 */
class CappedBytes {
  private readonly chunks: Buffer<ArrayBuffer>[] = [];
  /** Bytes read so far: the offset of the next read. */
  size = 0;
  /** The next read's length: the fstat size (+1 to see the end at once), then up to 1 MiB at a time; 0 at the end. */
  private want: number;

  constructor(
    statSize: number,
    private readonly cap: number,
  ) {
    this.want = Math.min(statSize, cap) + 1;
  }

  /** A buffer for the next read, or undefined once the end of the file was seen. */
  next(): Buffer<ArrayBuffer> | undefined {
    return this.want > 0 ? Buffer.allocUnsafe(this.want) : undefined;
  }

  /** Keeps the first `n` bytes of `buf` (0: the end of the file). */
  add(buf: Buffer<ArrayBuffer>, n: number): void {
    if (n === 0) {
      this.want = 0;
      return;
    }
    this.chunks.push(buf.subarray(0, n));
    this.size += n;
    if (this.size > this.cap) throw new TlError(tooLarge(undefined, this.cap));
    this.want = Math.min(this.cap + 1 - this.size, 1 << 20);
  }

  bytes(): Buffer<ArrayBuffer> {
    return this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks, this.size);
  }
}

/**
 * An image file's bytes. The type and size are checked on the path (so a FIFO is never opened), then again on the
 * opened descriptor, and at most cap+1 bytes are read: a file swapped or grown after the check cannot get past it.
 * Throws a TlError whose message says why (the caller names the file).
 */
export async function readImageBytes(path: string, cap = env.maxImageBytes): Promise<Buffer<ArrayBuffer>> {
  const pre = await statOrThrow(path);
  const refused = refusal(path, pre, cap);
  if (refused) throw new TlError(refused);
  let fh;
  try {
    fh = await open(path, OPEN_FLAGS);
  } catch (err) {
    throw new TlError(readErrorReason(path, err));
  }
  try {
    const st = await fh.stat();
    const late = refusal(path, st, cap);
    if (late) throw new TlError(late);
    const got = new CappedBytes(st.size, cap);
    for (let buf = got.next(); buf; buf = got.next())
      got.add(buf, (await fh.read(buf, 0, buf.length, got.size)).bytesRead);
    return got.bytes();
  } catch (err) {
    throw asReadError(path, err);
  } finally {
    await fh.close();
  }
}

/** readImageBytes for synchronous callers (dataset loading, the load check). */
export function readImageBytesSync(path: string, cap = env.maxImageBytes): Buffer<ArrayBuffer> {
  let fd: number;
  try {
    const refused = refusal(path, statSync(path), cap);
    if (refused) throw new TlError(refused);
    fd = openSync(path, OPEN_FLAGS);
  } catch (err) {
    throw asReadError(path, err);
  }
  try {
    const st = fstatSync(fd);
    const late = refusal(path, st, cap);
    if (late) throw new TlError(late);
    const got = new CappedBytes(st.size, cap);
    for (let buf = got.next(); buf; buf = got.next()) got.add(buf, readSync(fd, buf, 0, buf.length, got.size));
    return got.bytes();
  } catch (err) {
    throw asReadError(path, err);
  } finally {
    closeSync(fd);
  }
}

async function statOrThrow(path: string): Promise<Stats> {
  try {
    return await stat(path);
  } catch (err) {
    throw new TlError(readErrorReason(path, err));
  }
}

/** A refusal (TlError) as it is; any other error as a TlError that says why the file could not be read. */
function asReadError(path: string, err: unknown): TlError {
  return err instanceof TlError ? err : new TlError(readErrorReason(path, err));
}

/** Why an image file could not be read, in words (no bare Node error code). */
export function readErrorReason(path: string, err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return isLink(path) ? 'broken symbolic link (its target does not exist)' : 'file not found';
  if (code === 'ELOOP') return 'symbolic link loop (the link leads back to itself)';
  if (code === 'EISDIR') return 'is a directory, not an image file';
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied reading the file';
  if (code === 'ENXIO') return 'a socket, not a regular file; only regular image files are read';
  return `cannot read file (${firstLine(err instanceof Error ? err.message : String(err))})`;
}

function isLink(path: string): boolean {
  try {
    return lstatSync(path).isSymbolicLink();
  } catch {
    return false;
  }
}

function firstLine(s: string): string {
  const line = s.split('\n')[0].trim();
  return line.length > 120 ? `${line.slice(0, 117)}...` : line;
}
