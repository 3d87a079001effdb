// A float16 spill file of feature rows: written once in one pass, then read back a chunk at a time (a RowSource) for
// as many passes as a fit needs, so rung 1's head can fit on more vectors than fit in memory (training/head-streamed.ts).
// float16 halves the bytes of each pass against float32; backbone features (ReLU6 outputs pooled, 0..6) keep about 3
// significant digits, far below what moves a linear head (the streamed fit is checked against the in-memory one on
// every shared set: test/integration/head-stream.test.ts). Rows are stored row-major, so chunk c is one read at
// c * chunkRows rows and one table decode (standardizing in the same loop).
// The file lives in a fresh folder the writer made under the user cache (<cache>/spill: on disk; the system's
// temporary folder is RAM on many systems, which would defeat the point); dispose() removes it (and an exit hook
// does, should the process end first).
import { closeSync, mkdirSync, mkdtempSync, openSync, readSync, rmSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { env } from '../util/env.js';
import { TlError } from '../util/errors.js';
import { fromHalf, toHalf } from '../util/f16.js';
import { inverseStd, type ChunkTransform, type RowSource } from './row-source.js';

// Every half's value, indexed by its bits (256 KB): decoding a chunk is one lookup per value.
const HALF = Float32Array.from({ length: 65536 }, (_, h) => fromHalf(h));

/** Rows per block: 4096 x 1280 features are 10 MB on disk, 21 MB decoded. */
export const SPILL_CHUNK_ROWS = 4096;

const live = new Set<string>();
let hooked = false;
function removeOnExit(dir: string): void {
  live.add(dir);
  if (hooked) return;
  hooked = true;
  process.once('exit', () => {
    for (const d of live) rmSync(d, { recursive: true, force: true });
  });
}

/** Where spill files go by default: <cache>/spill (TL_CACHE_DIR). */
export function spillParent(): string {
  return join(env.cacheDir, 'spill');
}

export class F16SpillWriter {
  private readonly fd: number;
  private readonly block: Uint16Array;
  private inBlock = 0;
  private rows = 0;
  private closed = false;

  private constructor(
    private readonly dir: string,
    private readonly file: string,
    readonly cols: number,
    readonly chunkRows: number,
  ) {
    this.fd = openSync(file, 'wx');
    this.block = new Uint16Array(cols * chunkRows);
  }

  /** A new spill file in a fresh folder under `parent` (default spillParent()). */
  static create(cols: number, opts: { chunkRows?: number; parent?: string } = {}): F16SpillWriter {
    if (!(cols >= 1)) throw new Error(`a spill file needs at least one column, got ${cols}`);
    const parent = opts.parent ?? spillParent();
    mkdirSync(parent, { recursive: true });
    const dir = mkdtempSync(join(parent, 'tl-head-spill-'));
    removeOnExit(dir);
    return new F16SpillWriter(dir, join(dir, 'rows.f16'), cols, opts.chunkRows ?? SPILL_CHUNK_ROWS);
  }

  /** The folder the spill file's own folder is in. */
  get parent(): string {
    return dirname(this.dir);
  }

  append(row: ArrayLike<number>): void {
    if (this.closed) throw new Error('the spill file is finished');
    if (row.length !== this.cols) throw new Error(`row of length ${row.length}, expected ${this.cols}`);
    const { block, cols } = this;
    const off = this.inBlock * cols;
    for (let j = 0; j < cols; j++) block[off + j] = toHalf(row[j]);
    this.rows++;
    if (++this.inBlock === this.chunkRows) this.flush();
  }

  private flush(): void {
    if (this.inBlock === 0) return;
    const bytes = new Uint8Array(this.block.buffer, this.block.byteOffset, this.inBlock * this.cols * 2);
    let at = 0;
    while (at < bytes.length) at += writeSync(this.fd, bytes, at, bytes.length - at);
    this.inBlock = 0;
  }

  /** Writes the last block and opens the file for reading. */
  finish(): F16SpillFile {
    this.flush();
    this.closed = true;
    closeSync(this.fd);
    if (this.rows === 0) {
      discard(this.dir);
      throw new Error('no rows were written to the spill file');
    }
    return new F16SpillFile(this.dir, this.file, this.rows, this.cols, this.chunkRows);
  }

  /** Abandons the file (an error while writing it). */
  discard(): void {
    if (!this.closed) closeSync(this.fd);
    this.closed = true;
    discard(this.dir);
  }
}

function discard(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  live.delete(dir);
}

export class F16SpillFile implements RowSource {
  private fd: number | undefined;
  private readonly raw: Buffer;
  private readonly words: Uint16Array;

  constructor(
    private readonly dir: string,
    file: string,
    readonly rows: number,
    readonly cols: number,
    readonly chunkRows: number,
  ) {
    this.fd = openSync(file, 'r');
    this.raw = Buffer.allocUnsafeSlow(cols * chunkRows * 2);
    this.words = new Uint16Array(this.raw.buffer, this.raw.byteOffset, cols * chunkRows);
  }

  /** Bytes on disk. */
  get bytes(): number {
    return this.rows * this.cols * 2;
  }

  readChunk(c: number, into: Float32Array, t?: ChunkTransform): number {
    if (this.fd === undefined) throw new Error('the spill file was disposed');
    const first = c * this.chunkRows;
    if (!(c >= 0 && first < this.rows)) throw new Error(`chunk ${c} is outside the spill file`);
    const count = Math.min(this.chunkRows, this.rows - first);
    const { cols, words } = this;
    const size = count * cols * 2;
    let got = 0;
    while (got < size) {
      const n = readSync(this.fd, this.raw, got, size - got, first * cols * 2 + got);
      if (n === 0) throw new Error('the spill file is shorter than written');
      got += n;
    }
    if (!t) {
      for (let k = 0, end = count * cols; k < end; k++) into[k] = HALF[words[k]];
      return count;
    }
    const { mean } = t;
    const inv = this.inverse(t);
    for (let i = 0; i < count; i++) {
      const off = i * cols;
      for (let j = 0; j < cols; j++) into[off + j] = (HALF[words[off + j]] - mean[j]) * inv[j];
    }
    return count;
  }

  private lastTransform?: { t: ChunkTransform; inv: Float64Array };
  private inverse(t: ChunkTransform): Float64Array {
    const last = this.lastTransform?.t === t ? this.lastTransform : { t, inv: inverseStd(t) };
    this.lastTransform = last;
    return last.inv;
  }

  dispose(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
    discard(this.dir);
  }
}

/** Rows written to a new spill file in one pass. */
export function spillRows(
  rows: Iterable<ArrayLike<number>>,
  cols: number,
  opts?: { chunkRows?: number },
): F16SpillFile {
  const writer = F16SpillWriter.create(cols, opts);
  try {
    for (const row of rows) writer.append(row);
    return writer.finish();
  } catch (error) {
    writer.discard();
    if ((error as NodeJS.ErrnoException).code === 'ENOSPC')
      throw new TlError(
        `no space left for rung 1's spill file in ${writer.parent} (${cols * 2} bytes a vector)`,
        'Free disk space there, set TL_CACHE_DIR to a bigger disk, or raise TL_HEAD_MEMORY_MB so the vectors stay in memory.',
      );
    throw error;
  }
}
