// The one guard between a model description's `feature.dim` and the tensor the network really computes: a wrong dim
// would otherwise slice every batch into wrong vectors (dim too small: all from the first image) and cache them.
import { TlError } from '../util/errors.js';
import type { ModelEntry } from './types.js';

/** Throws (before anything is cached) when `values` feature numbers for `rows` images are not `rows x feature.dim`. */
export function checkFeatureWidth(entry: ModelEntry, values: number, rows: number): void {
  const dim = entry.feature.dim;
  if (values === rows * dim) return;
  const actual = Number.isInteger(values / rows) ? String(values / rows) : `${values} values for ${rows} images`;
  throw new TlError(
    `model ${entry.id}: feature tensor "${entry.feature.tensor}" gives ${actual} values per image, but feature.dim says ${dim}`,
    entry.custom
      ? `Set "dim": ${Number.isInteger(values / rows) ? values / rows : '<the real width>'} in the model description and register it again (\`tl models add FILE.json --replace\`); nothing was cached.`
      : 'Nothing was cached. Please report this: the built-in entry does not match its file.',
  );
}
