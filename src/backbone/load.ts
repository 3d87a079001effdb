// Loads a backbone by id: registry lookup, file resolution, checksum, then the model's runtime.
import type { ModelEntry, PretrainedBackbone } from './types.js';
import { findModel } from './registry.js';
import { resolveModel, verifyFiles, type ResolveOptions } from './resolve.js';
import { runtimeFor } from './runtimes/registry.js';
import { weightsHash } from './weights-hash.js';

export { weightsHash };

export async function loadBackbone(
  idOrEntry: string | ModelEntry,
  opts: ResolveOptions = {},
): Promise<PretrainedBackbone> {
  const entry = typeof idOrEntry === 'string' ? findModel(idOrEntry) : idOrEntry;
  const runtime = runtimeFor(entry.format);
  const { dir } = await resolveModel(entry, opts);
  // Checking every file on each load costs ~20 ms for these sizes and turns a corrupted copy into a clear error.
  await verifyFiles(dir, entry);
  // Each runtime loads its code only when a backbone needs it: an ONNX bundle never pays for tfjs, nor a tfjs one for ONNX Runtime.
  return runtime.load(entry, dir, weightsHash(entry));
}
