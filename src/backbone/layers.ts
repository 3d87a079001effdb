// What one can cut a backbone at: its layers (TF.js) or nodes (ONNX) with output shape and parameter count.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ModelEntry } from './types.js';
import { resolveModel } from './resolve.js';
import { tfWasm } from './tfjs-runtime.js';
import { loadLayersModelFromDir } from './tfjs-backbone.js';
import { decodeModel } from './onnx-graph.js';

export interface LayerInfo {
  index: number;
  name: string;
  type: string;
  outputShape: string;
  params: number;
}

export async function describeLayers(entry: ModelEntry): Promise<LayerInfo[]> {
  const { dir } = await resolveModel(entry);
  if (entry.format === 'tfjs-layers') {
    const tf = await tfWasm();
    const model = await loadLayersModelFromDir(tf, dir, entry.entry);
    const out = model.layers.map((l, index) => ({
      index,
      name: l.name,
      type: l.getClassName(),
      outputShape: JSON.stringify(l.outputShape).replace(/null/g, 'N'),
      params: l.countParams(),
    }));
    model.dispose();
    return out;
  }
  const model = decodeModel(await readFile(join(dir, entry.entry)));
  const sizes = new Map<string, number>();
  for (const t of model.graph!.initializer ?? []) sizes.set(t.name!, (t.dims ?? []).reduce((a: number, d) => a * Number(d), 1));
  const shapes = new Map<string, string>();
  for (const v of [...(model.graph!.valueInfo ?? []), ...(model.graph!.output ?? [])]) {
    const dims = v.type?.tensorType?.shape?.dim?.map((d) => d.dimParam || String(d.dimValue ?? '?'));
    if (dims) shapes.set(v.name!, `[${dims.join(',')}]`);
  }
  return (model.graph!.node ?? []).map((n, index) => ({
    index,
    name: n.output![0],
    type: n.opType!,
    outputShape: shapes.get(n.output![0]) ?? '?',
    params: (n.input ?? []).reduce((s, i) => s + (sizes.get(i) ?? 0), 0),
  }));
}
