// Feature rows read a chunk at a time, so a fit over them holds one chunk, never all rows: rung 1's head streams its
// training vectors through this when they do not fit its memory budget (training/head-streamed.ts). Two sources: rows
// already in memory (memoryRowSource), and a float16 spill file on disk (spill-file.ts). A chunk comes row-major
// (count x cols), optionally standardized as it is read (no second pass over it).

/** Per-feature (x - mean) / std as the chunk is read (solvers/standardize.ts's Standardizer). */
export interface ChunkTransform {
  mean: Float32Array;
  std: Float32Array;
}

export interface RowSource {
  readonly rows: number;
  readonly cols: number;
  /** Rows per chunk (the last chunk may be shorter). */
  readonly chunkRows: number;
  /**
   * Writes chunk `c` (rows c*chunkRows ..) row-major into `into` (at least cols*chunkRows values), standardized by
   * `transform` when given, and returns its row count.
   */
  readChunk(c: number, into: Float32Array, transform?: ChunkTransform): number;
  /** Frees what the source holds (a spill file is deleted). */
  dispose(): void;
}

export function chunkCount(source: RowSource): number {
  return Math.ceil(source.rows / source.chunkRows);
}

/** Calls visit(chunk, first, count) for every chunk in order; `chunk` is one reused buffer (copy what you keep). */
export function forEachChunk(
  source: RowSource,
  visit: (chunk: Float32Array, first: number, count: number) => void,
  transform?: ChunkTransform,
): void {
  const buffer = new Float32Array(source.cols * source.chunkRows);
  const chunks = chunkCount(source);
  for (let c = 0; c < chunks; c++) visit(buffer, c * source.chunkRows, source.readChunk(c, buffer, transform));
}

/** Reciprocals of the std, so standardizing a value is one subtraction and one multiplication. */
export function inverseStd(t: ChunkTransform): Float64Array {
  return Float64Array.from(t.std, (s) => 1 / s);
}

/** Rows held in memory, served as chunks (tests compare a spill file's fit with it). */
export function memoryRowSource(rows: readonly Float32Array[], chunkRows: number): RowSource {
  if (rows.length === 0) throw new Error('no rows to read');
  const cols = rows[0].length;
  return {
    rows: rows.length,
    cols,
    chunkRows,
    readChunk(c, into, t) {
      const first = c * chunkRows;
      const count = Math.min(chunkRows, rows.length - first);
      const inv = t && inverseStd(t);
      for (let i = 0; i < count; i++) {
        const row = rows[first + i];
        const off = i * cols;
        if (t && inv) for (let j = 0; j < cols; j++) into[off + j] = (row[j] - t.mean[j]) * inv[j];
        else into.set(row, off);
      }
      return count;
    },
    dispose() {},
  };
}
