// Row views of a flat row-major batch.

/** Split `rows` x `cols` values into one copied Float32Array per row. */
export function splitRows(data: Float32Array, rows: number, cols: number): Float32Array[] {
  return Array.from({ length: rows }, (_, i) => data.slice(i * cols, (i + 1) * cols));
}
