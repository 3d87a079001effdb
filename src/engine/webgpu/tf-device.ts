// TF.js on a GPU by device word: the one place `webgpu` and `auto` turn into an engine. Fine-tuning
// (src/finetune/training-tf.ts) and TF.js extraction (src/backbone/runtimes/tfjs/backbone.ts) ask here; `cpu` never does, so
// the GPU path (Dawn, tfjs-backend-webgpu) loads only when a run asks for it.
import type * as tfjs from '@tensorflow/tfjs';
import { describeAdapter, parseDevice, resolveDevice } from './device.js';
import { tfWebgpu } from './tf-webgpu.js';

/**
 * `webgpu` or `auto` (`source` names where the word came from, for its error): TF.js with webgpu active on the
 * adapter, or why not when `auto` found no hardware adapter. `webgpu` without any adapter is a TlError.
 */
export async function tfOnGpu(
  request: string,
  source: string,
): Promise<{ tf: typeof tfjs; device: string } | { why: string }> {
  const resolved = await resolveDevice(parseDevice(request, source));
  if (resolved.kind === 'cpu') return { why: resolved.why };
  const tf = await tfWebgpu(resolved.opened);
  return { tf, device: `webgpu (${describeAdapter(resolved.opened.summary)})` };
}
