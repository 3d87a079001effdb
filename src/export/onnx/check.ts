// A structural ONNX checker (the parts of onnx.checker that catch broken graph edits): the model declares an IR
// version and the default-domain opset; every node input is a graph input, an initializer or the output of an
// earlier node (topological order); no tensor is produced twice; every graph output is produced; inputs and outputs
// are typed tensors; initializers hold as many bytes as their dims say.
import { decodeModel } from '../../backbone/runtimes/onnx/graph.js';
import { DT, type OnnxModel } from './build.js';

const BYTES: Record<number, number> = {
  [DT.FLOAT]: 4,
  [DT.FLOAT16]: 2,
  [DT.DOUBLE]: 8,
  [DT.INT8]: 1,
  [DT.UINT8]: 1,
  [DT.INT32]: 4,
  [DT.INT64]: 8,
  [DT.BOOL]: 1,
};

/** Problems found, one line each; empty when the model is well formed. */
export function checkOnnxModel(modelOrBytes: OnnxModel | Uint8Array): string[] {
  const model = modelOrBytes instanceof Uint8Array ? decodeModel(modelOrBytes) : modelOrBytes;
  const problems: string[] = [];
  if (!model.irVersion || Number(model.irVersion) < 3)
    problems.push(`ir_version missing or too old (${String(model.irVersion)})`);
  const opsets = model.opsetImport ?? [];
  const main = opsets.find((o) => !o.domain || o.domain === 'ai.onnx');
  if (!main || !(Number(main.version) >= 7)) problems.push('no opset_import for the default ONNX domain');
  const g = model.graph;
  if (!g) return [...problems, 'model has no graph'];
  const available = new Set<string>();
  const initNames = new Set<string>();
  for (const t of g.initializer ?? []) {
    if (!t.name) problems.push('an initializer has no name');
    if (initNames.has(t.name!)) problems.push(`initializer "${t.name}" defined twice`);
    initNames.add(t.name!);
    available.add(t.name!);
    const n = (t.dims ?? []).map(Number).reduce((a, b) => a * b, 1);
    const per = BYTES[t.dataType!];
    if (t.rawData && t.rawData.length && per && t.rawData.length !== n * per)
      problems.push(`initializer "${t.name}" has ${t.rawData.length} bytes, dims say ${n * per}`);
  }
  for (const i of g.input ?? []) {
    available.add(i.name!);
    if (!initNames.has(i.name!) && !i.type?.tensorType?.elemType)
      problems.push(`graph input "${i.name}" has no tensor type`);
  }
  const domains = new Set(opsets.map((o) => o.domain || ''));
  (g.node ?? []).forEach((n, k) => {
    const label = `node ${k} (${n.opType}${n.name ? ` "${n.name}"` : ''})`;
    if (!n.opType) problems.push(`${label}: no op type`);
    if (!domains.has(n.domain || '') && !(n.domain === 'ai.onnx' && domains.has('')))
      problems.push(`${label}: domain "${n.domain}" has no opset_import`);
    for (const inp of n.input ?? []) {
      if (inp === '') continue; // an omitted optional input
      if (!available.has(inp))
        problems.push(`${label}: input "${inp}" is not a graph input, an initializer or an earlier node's output`);
    }
    for (const out of n.output ?? []) {
      if (!out) continue;
      if (available.has(out)) problems.push(`${label}: output "${out}" is already defined`);
      available.add(out);
    }
  });
  if (!(g.output ?? []).length) problems.push('graph has no outputs');
  for (const o of g.output ?? []) {
    if (!available.has(o.name!)) problems.push(`graph output "${o.name}" is not produced by any node`);
    if (!o.type?.tensorType?.elemType) problems.push(`graph output "${o.name}" has no tensor type`);
  }
  return problems;
}
