// The identity of a model's weights in cache keys and bundles.
import type { ModelEntry } from './types.js';
import { sha256 } from '../util/hash.js';

/** One hash over all of a model's file hashes. */
export function weightsHash(entry: ModelEntry): string {
  return sha256(entry.files.map((f) => `${f.name}:${f.sha256}`).join('\n'));
}
