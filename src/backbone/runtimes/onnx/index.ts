// The ONNX runtime: onnxruntime-node runs the model (in a worker thread, ../../onnx-session.ts); fine-tuning converts
// the int8 layers after a cut into TF.js variables (src/engine/onnx-tail). Code loads on first use.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { BackboneRuntime, LayerInfo } from '../types.js';
import { resolveModel } from '../../resolve.js';

export const onnxRuntime: BackboneRuntime = {
  format: 'onnx',
  description: 'ONNX models on onnxruntime-node (CPU); fine-tuning converts the int8 layers after the cut to TF.js',
  extractPrior: 150,
  poolsTokens: true,
  registerByUrl: true,
  modelFiles: async (entryPath) => [entryPath.split(/[\\/]/).pop()!],
  async load(entry, dir, weightsHash) {
    const { OnnxBackbone } = await import('./backbone.js');
    return OnnxBackbone.load(entry, dir, weightsHash);
  },
  async detect(entryPath, opts) {
    const { detectOnnxBackbone } = await import('./detect.js');
    return detectOnnxBackbone(await readFile(entryPath), opts);
  },
  async describeLayers(entry, dir): Promise<LayerInfo[]> {
    const { decodeModel } = await import('./graph.js');
    const model = decodeModel(await readFile(join(dir, entry.entry)));
    const sizes = new Map<string, number>();
    for (const t of model.graph!.initializer ?? [])
      sizes.set(
        t.name!,
        (t.dims ?? []).reduce((a: number, d) => a * Number(d), 1),
      );
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
  },
  fineTuning: {
    tailKind: 'onnx-tail',
    tailRuns:
      'frozen part: the backbone ONNX up to `cut` (dequantized, NHWC); then the ONNX nodes after the cut in float with these weights (tensors tail/<initializer>; conv kernels HWIO, depthwise [kh,kw,C,1]), ReLU6 as clamp to the quantized range; then global average pool -> head',
    refusal: async (entry, dir) => (await import('./fine-tune.js')).transformerRefusal(entry, dir),
    listUnits: async (entry, dir) => (await import('./fine-tune.js')).listUnits(entry, dir),
    openCut: async (net, cut, input, weightsHash) =>
      (await import('./fine-tune.js')).openCut(net, cut, input, weightsHash),
    buildTail: async (tf, net, cut, cutShape) => (await import('./fine-tune.js')).buildTail(tf, net, cut, cutShape),
  },
  async exportGraph(entry) {
    const { dir } = await resolveModel(entry);
    return { kind: 'onnx', bytes: await readFile(join(dir, entry.entry)) };
  },
};
