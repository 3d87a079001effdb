/**
 * Per-feature standardization (z-scores). Backbone features are on very different scales per dimension (ReLU6 outputs
 * pooled over space: many near 0, a few large), and a single L2 strength only makes sense once they are comparable.
 */

export interface Standardizer {
  mean: Float32Array;
  std: Float32Array;
}

/** Fits mean and std per feature (population std, Float64 accumulation). Dead features (constant) get std 1 so they map to 0. */
export function fitStandardizer(rows: readonly Float32Array[]): Standardizer {
  if (rows.length === 0) throw new Error('fitStandardizer needs at least one row');
  const dim = rows[0].length;
  const sum = new Float64Array(dim);
  for (const row of rows) {
    if (row.length !== dim) throw new Error(`fitStandardizer: row of length ${row.length}, expected ${dim}`);
    for (let j = 0; j < dim; j++) sum[j] += row[j];
  }
  const mean = new Float64Array(dim);
  for (let j = 0; j < dim; j++) mean[j] = sum[j] / rows.length;
  // Two-pass variance: the one-pass E[x^2]-E[x]^2 cancels badly when the mean is large relative to the spread.
  const sq = new Float64Array(dim);
  for (const row of rows) {
    for (let j = 0; j < dim; j++) {
      const d = row[j] - mean[j];
      sq[j] += d * d;
    }
  }
  const std = new Float32Array(dim);
  for (let j = 0; j < dim; j++) {
    const s = Math.sqrt(sq[j] / rows.length);
    // Relative floor: a feature whose spread is float noise next to its mean is treated as constant.
    const floor = Math.max(1e-6, 1e-6 * Math.abs(mean[j]));
    std[j] = s > floor ? s : 1;
  }
  return { mean: Float32Array.from(mean), std };
}

export function applyStandardizer(row: Float32Array, s: Standardizer): Float32Array {
  if (row.length !== s.mean.length)
    throw new Error(`applyStandardizer: row of length ${row.length}, expected ${s.mean.length}`);
  const out = new Float32Array(row.length);
  for (let j = 0; j < row.length; j++) out[j] = (row[j] - s.mean[j]) / s.std[j];
  return out;
}

export function applyStandardizerAll(rows: readonly Float32Array[], s: Standardizer): Float32Array[] {
  return rows.map((r) => applyStandardizer(r, s));
}
