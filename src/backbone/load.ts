// Loads a backbone by id: registry lookup, file resolution, checksum, runtime choice.
import type { Backbone, ModelEntry } from './types.js';
import { findModel } from './registry.js';
import { resolveModel, verifyFiles, type ResolveOptions } from './resolve.js';
import { OnnxBackbone } from './onnx-backbone.js';
import { TfjsBackbone } from './tfjs-backbone.js';
import { sha256 } from '../util/hash.js';

/** One hash over all of a model's file hashes: identifies the weights in cache keys and bundles. */
export function weightsHash(entry: ModelEntry): string {
  return sha256(entry.files.map((f) => `${f.name}:${f.sha256}`).join('\n'));
}

export async function loadBackbone(idOrEntry: string | ModelEntry, opts: ResolveOptions = {}): Promise<Backbone> {
  const entry = typeof idOrEntry === 'string' ? findModel(idOrEntry) : idOrEntry;
  const { dir } = await resolveModel(entry, opts);
  // Checking every file on each load costs ~20 ms for these sizes and turns a corrupted copy into a clear error.
  await verifyFiles(dir, entry);
  const hash = weightsHash(entry);
  return entry.format === 'onnx' ? OnnxBackbone.load(entry, dir, hash) : TfjsBackbone.load(entry, dir, hash);
}
