// A strict streaming ustar reader, the counterpart of tar.ts's writer (the project import reads its archives with
// it): regular files and folders only (links, devices and pax/GNU extension headers are refused), every header's
// checksum verified, and an archive that ends before its end-of-archive blocks is reported as truncated.
const BLOCK = 512;

export interface TarEntry {
  /** prefix + '/' + name, as stored (not yet checked for safety: the caller decides what paths it takes). */
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

/** Pulls exact byte counts out of a stream of chunks. */
class ByteSource {
  private buf = Buffer.alloc(0);
  private done = false;
  constructor(private readonly it: AsyncIterator<Uint8Array>) {}

  /** Exactly n bytes, or null when the stream ended first. */
  async take(n: number): Promise<Buffer | null> {
    while (this.buf.length < n && !this.done) {
      const r = await this.it.next();
      if (r.done) this.done = true;
      else this.buf = this.buf.length ? Buffer.concat([this.buf, r.value]) : Buffer.from(r.value);
    }
    if (this.buf.length < n) return null;
    const out = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(n);
    return out;
  }

  /** n bytes as they arrive (without gathering them); throws truncated when the stream ends first. */
  async *pieces(n: number): AsyncGenerator<Buffer> {
    let left = n;
    while (left > 0) {
      if (!this.buf.length) {
        const r = this.done ? { done: true as const } : await this.it.next();
        if (r.done) {
          this.done = true;
          throw new TarFormatError('truncated', 'the archive ends in the middle of a file (truncated download?)');
        }
        this.buf = Buffer.from(r.value);
      }
      const piece = this.buf.subarray(0, Math.min(left, this.buf.length));
      this.buf = this.buf.subarray(piece.length);
      left -= piece.length;
      yield piece;
    }
  }
}

function field(h: Buffer, start: number, length: number): string {
  const raw = h.subarray(start, start + length);
  const end = raw.indexOf(0);
  return raw.subarray(0, end < 0 ? length : end).toString('utf8');
}

function octal(h: Buffer, start: number, length: number, what: string): number {
  if (h[start] & 0x80) throw new TarFormatError('invalid', `a tar header's ${what} is in base-256 (not supported)`);
  const text = field(h, start, length).trim();
  if (!/^[0-7]*$/.test(text)) throw new TarFormatError('invalid', `a tar header's ${what} is not octal`);
  return text ? parseInt(text, 8) : 0;
}

function parseHeader(h: Buffer): TarEntry {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : h[i];
  const stored = field(h, 148, 8).trim();
  if (!/^[0-7]+$/.test(stored) || parseInt(stored, 8) !== sum)
    throw new TarFormatError('invalid', 'not a tar archive, or a damaged one (a header checksum does not match)');
  const name = field(h, 0, 100);
  const prefix = field(h, 257, 6) === 'ustar' ? field(h, 345, 155) : '';
  const path = prefix ? `${prefix}/${name}` : name;
  const flag = String.fromCharCode(h[156]);
  const type = flag === '0' || flag === '\0' ? 'file' : flag === '5' ? 'directory' : undefined;
  if (!type)
    throw new TarFormatError(
      'invalid',
      `tar entry "${path.slice(0, 120)}" is of type '${flag}' (links, devices and extension headers are refused)`,
    );
  return { path, type, size: octal(h, 124, 12, 'size'), mtime: new Date(octal(h, 136, 12, 'mtime') * 1000) };
}

/**
 * The entries of a tar stream, in order. Each entry's `body` must be read to its end (or not at all: it is then
 * skipped) before the next entry is asked for.
 */
export async function* readTar(
  source: AsyncIterable<Uint8Array>,
): AsyncGenerator<{ entry: TarEntry; body: AsyncGenerator<Buffer> }> {
  const bytes = new ByteSource(source[Symbol.asyncIterator]());
  for (;;) {
    const h = await bytes.take(BLOCK);
    if (!h) throw new TarFormatError('truncated', 'the archive ends before its end marker (truncated download?)');
    if (h.every((b) => b === 0)) {
      if (!(await bytes.take(BLOCK)))
        throw new TarFormatError('truncated', 'the archive ends before its end marker (truncated download?)');
      return;
    }
    const entry = parseHeader(h);
    const body = bytes.pieces(entry.size);
    let consumed = false;
    const tracked = (async function* () {
      yield* body;
      consumed = true;
    })();
    yield { entry, body: tracked };
    if (!consumed) for await (const _ of body) void _; // skipped by the caller
    const pad = (BLOCK - (entry.size % BLOCK)) % BLOCK;
    if (pad && !(await bytes.take(pad)))
      throw new TarFormatError('truncated', 'the archive ends in the middle of a file (truncated download?)');
  }
}
