// The one softmax and the one argmax of the toolkit (heads, metrics, backbones' original heads all use these).

/** Numerically stable softmax of `v`, written back into `v` (sums in float64 whatever the array type). */
export function softmaxInPlace<T extends Float32Array | Float64Array>(v: T): T {
  let max = -Infinity;
  for (const x of v) if (x > max) max = x;
  let sum = 0;
  for (let i = 0; i < v.length; i++) sum += v[i] = Math.exp(v[i] - max);
  for (let i = 0; i < v.length; i++) v[i] /= sum;
  return v;
}

/** Numerically stable softmax of one row (new array). */
export function softmaxRows(row: Float32Array): Float32Array {
  return softmaxInPlace(Float32Array.from(row));
}

/** Index of the largest value (the first one on ties). */
export function argmax(values: ArrayLike<number>): number {
  let best = 0;
  for (let k = 1; k < values.length; k++) if (values[k] > values[best]) best = k;
  return best;
}

/** Indices of the k largest values, largest first. */
export function topK(row: ArrayLike<number>, k: number): number[] {
  return Array.from({ length: row.length }, (_, i) => i)
    .sort((a, b) => row[b] - row[a])
    .slice(0, k);
}
