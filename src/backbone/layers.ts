// What one can cut a backbone at: its layers (TF.js) or nodes (ONNX) with output shape and parameter count.
import type { ModelEntry } from './types.js';
import { resolveModel } from './resolve.js';
import { runtimeFor } from './runtimes/registry.js';
import type { LayerInfo } from './runtimes/types.js';

export type { LayerInfo };

export async function describeLayers(entry: ModelEntry): Promise<LayerInfo[]> {
  const runtime = runtimeFor(entry.format);
  const { dir } = await resolveModel(entry);
  return runtime.describeLayers(entry, dir);
}
