// Loads a backbone by id: registry lookup, file resolution, checksum, then the model's runtime.
import type { Backbone, ModelEntry, PretrainedBackbone } from './types.js';
import { findModel } from './registry.js';
import { resolveModel, verifyFiles, type ResolveOptions } from './resolve.js';
import { runtimeFor } from './runtimes/registry.js';
import { weightsHash } from './weights-hash.js';
import { FusedBackbone } from './fused.js';
import { TlError } from '../util/errors.js';

export { weightsHash };

export async function loadBackbone(
  idOrEntry: string | ModelEntry,
  opts: ResolveOptions = {},
): Promise<PretrainedBackbone> {
  const entry = typeof idOrEntry === 'string' ? findModel(idOrEntry) : idOrEntry;
  if (entry.parts)
    throw new TlError(
      `"${entry.id}" fuses several backbones: this needs one whole network (its own ImageNet head)`,
      `Use one of its parts, e.g. --model ${entry.parts[0].id}.`,
    );
  const runtime = runtimeFor(entry.format);
  const { dir } = await resolveModel(entry, opts);
  // Checking every file on each load costs ~20 ms for these sizes and turns a corrupted copy into a clear error.
  await verifyFiles(dir, entry);
  // Each runtime loads its code only when a backbone needs it: an ONNX bundle never pays for tfjs, nor a tfjs one for ONNX Runtime.
  return runtime.load(entry, dir, weightsHash(entry));
}

/** A feature extractor for rung 1, embedding and prediction: one backbone, or a fused `a+b` (backbone/fused.ts). */
export async function loadFeatureBackbone(
  idOrEntry: string | ModelEntry,
  opts: ResolveOptions = {},
): Promise<Backbone> {
  const entry = typeof idOrEntry === 'string' ? findModel(idOrEntry) : idOrEntry;
  if (!entry.parts) return loadBackbone(entry, opts);
  if (opts.path)
    throw new TlError(
      `--model-path names one backbone's folder; "${entry.id}" fuses several`,
      'Leave --model-path out: each part is found in TL_MODELS_DIR or the cache as usual.',
    );
  const parts: Backbone[] = [];
  try {
    for (const part of entry.parts) parts.push(await loadBackbone(part, { ...opts, path: undefined }));
  } catch (err) {
    await Promise.all(parts.map((p) => p.dispose()));
    throw err;
  }
  return new FusedBackbone(entry, weightsHash(entry), parts);
}
