// The project import's tar reader: tar-stream parses (headers, checksums, pax long names), and this module adds what
// an import of untrusted bytes needs on top: regular files and folders only (links, devices, and extension headers
// other than a pax long/non-ASCII name are refused), and an archive that ends before its end-of-archive blocks is
// reported as truncated. Paths are checked by the caller.
import { extract as tarExtract, type Header } from 'tar-stream';
import { drained } from './tar.js';

const BLOCK = 512;

export interface TarEntry {
  /** The path as stored (not yet checked for safety: the caller decides what paths it takes). */
  path: string;
  type: 'file' | 'directory';
  size: number;
  mtime: Date;
}

/** Why an archive cannot be read: it ended early, or it is not a (supported) tar. */
export class TarFormatError extends Error {
  constructor(
    readonly kind: 'truncated' | 'invalid',
    message: string,
  ) {
    super(message);
    this.name = 'TarFormatError';
  }
}

const TRUNCATED_FILE = 'the archive ends in the middle of a file (truncated download?)';
const TRUNCATED_END = 'the archive ends before its end marker (truncated download?)';

/** tar-stream's parse errors in our words. */
function formatError(err: unknown): unknown {
  if (err instanceof TarFormatError) return err;
  const message = err instanceof Error ? err.message : String(err);
  if (/unexpected end of data/i.test(message)) return new TarFormatError('truncated', TRUNCATED_FILE);
  return new TarFormatError(
    'invalid',
    /checksum|corrupted|unknown format/i.test(message)
      ? 'not a tar archive, or a damaged one (a header checksum does not match)'
      : `not a tar archive, or a damaged one (${message.slice(0, 120)})`,
  );
}

const padded = (size: number) => Math.ceil(size / BLOCK) * BLOCK;

/**
 * Our checks on one header. `gap` says whether something tar-stream consumed silently (a GNU long-name or a pax
 * header, or zero blocks) sits between this header and the previous entry.
 */
function checkHeader(h: Header, gap: boolean): TarEntry {
  const path = h.name;
  const pax = h.pax as Record<string, string> | null | undefined;
  const extension = pax ? Object.keys(pax).some((k) => k !== 'path') : gap;
  const type = h.type === 'file' || h.type === 'directory' ? h.type : undefined;
  if (!type || extension)
    throw new TarFormatError(
      'invalid',
      `tar entry "${path.slice(0, 120)}" is ${type ? 'behind an extension header' : `of type '${String(h.type)}'`} (links, devices and extension headers are refused)`,
    );
  return { path, type, size: h.size, mtime: h.mtime };
}

/**
 * The entries of a tar stream, in order. Each entry's `body` must be read to its end (or not at all: it is then
 * skipped) before the next entry is asked for. An error of `source` ends the reading with that same error.
 */
export async function* readTar(
  source: AsyncIterable<Uint8Array>,
): AsyncGenerator<{ entry: TarEntry; body: AsyncGenerator<Buffer> }> {
  const ex = tarExtract();
  let total = 0;
  let sourceError: unknown;
  let sourceEnded = false;
  const feeding = (async () => {
    try {
      for await (const chunk of source) {
        if (ex.destroyed) return;
        total += chunk.length;
        if (!ex.write(chunk)) await drained(ex);
      }
      sourceEnded = true;
      ex.end(null);
    } catch (err) {
      sourceError = err;
      ex.destroy(err as Error);
    }
  })();
  let end = 0; // where the last entry (with its padding) ends
  try {
    for await (const stream of ex) {
      const { header, offset } = stream;
      const entry = checkHeader(header, offset !== end);
      end = offset + BLOCK + padded(entry.size);
      let consumed = false;
      const body = (async function* () {
        try {
          for await (const piece of stream) yield piece as Buffer;
        } catch (err) {
          // The entry's bytes stop: the source failed, or it ended first (tar-stream says only "destroyed" here).
          throw sourceError ?? (sourceEnded ? new TarFormatError('truncated', TRUNCATED_FILE) : formatError(err));
        }
        consumed = true;
      })();
      yield { entry, body };
      if (!consumed) for await (const _ of body) void _; // skipped by the caller
    }
  } catch (err) {
    throw sourceError ?? formatError(err);
  } finally {
    ex.destroy(); // stops the feeding too (not awaited: it may wait on a client that sends nothing more)
  }
  await feeding; // done: the parser ended because the source did
  if (sourceError) throw sourceError;
  if (total - end < 2 * BLOCK) throw new TarFormatError('truncated', TRUNCATED_END);
}
