// Small helpers to build ONNX graph pieces with the onnx-proto bindings: tensors, nodes, attributes, value infos,
// float16 tensors (util/f16.ts), and pruning a graph to what its outputs need.
import onnxProto from 'onnx-proto';
import { toFloat16 } from '../../util/f16.js';

const { onnx } = onnxProto;
export type OnnxModel = InstanceType<typeof onnx.ModelProto>;
export type OnnxNode = InstanceType<typeof onnx.NodeProto>;
export type OnnxTensor = InstanceType<typeof onnx.TensorProto>;
export type OnnxValueInfo = InstanceType<typeof onnx.ValueInfoProto>;
export type OnnxAttribute = InstanceType<typeof onnx.AttributeProto>;
export const DT = onnx.TensorProto.DataType;
export { onnx };

export function floatTensor(name: string, dims: number[], data: Float32Array): OnnxTensor {
  return onnx.TensorProto.create({ name, dims, dataType: DT.FLOAT, rawData: bytesOf(data) });
}

export function float16Tensor(name: string, dims: number[], data: Float32Array): OnnxTensor {
  return onnx.TensorProto.create({ name, dims, dataType: DT.FLOAT16, rawData: bytesOf(toFloat16(data)) });
}

export function int8Tensor(name: string, dims: number[], data: Int8Array): OnnxTensor {
  return onnx.TensorProto.create({
    name,
    dims,
    dataType: DT.INT8,
    rawData: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
  });
}

export function int64Tensor(name: string, dims: number[], values: number[]): OnnxTensor {
  return onnx.TensorProto.create({
    name,
    dims,
    dataType: DT.INT64,
    rawData: bytesOf(BigInt64Array.from(values.map(BigInt))),
  });
}

function bytesOf(a: Float32Array | Uint16Array | BigInt64Array): Uint8Array {
  // Every platform Node and browsers run on is little-endian, as ONNX raw_data requires.
  return new Uint8Array(a.buffer.slice(a.byteOffset, a.byteOffset + a.byteLength));
}

type AttrValue = number | number[] | string | { float: number } | { floats: number[] };

export function node(
  opType: string,
  inputs: string[],
  outputs: string[],
  name: string,
  attributes: Record<string, AttrValue> = {},
): OnnxNode {
  const AT = onnx.AttributeProto.AttributeType;
  const attribute = Object.entries(attributes).map(([k, v]) => {
    if (typeof v === 'string')
      return onnx.AttributeProto.create({ name: k, type: AT.STRING, s: new TextEncoder().encode(v) });
    if (typeof v === 'number') return onnx.AttributeProto.create({ name: k, type: AT.INT, i: v });
    if (Array.isArray(v)) return onnx.AttributeProto.create({ name: k, type: AT.INTS, ints: v });
    if ('float' in v) return onnx.AttributeProto.create({ name: k, type: AT.FLOAT, f: v.float });
    return onnx.AttributeProto.create({ name: k, type: AT.FLOATS, floats: v.floats });
  });
  return onnx.NodeProto.create({ opType, input: inputs, output: outputs, name, attribute });
}

/** A float tensor value info; a string dim is symbolic (e.g. 'N'). */
export function valueInfo(name: string, dims: (number | string)[], elemType: number = DT.FLOAT): OnnxValueInfo {
  return onnx.ValueInfoProto.create({
    name,
    type: onnx.TypeProto.create({
      tensorType: onnx.TypeProto.Tensor.create({
        elemType,
        shape: onnx.TensorShapeProto.create({
          dim: dims.map((d) =>
            typeof d === 'string'
              ? onnx.TensorShapeProto.Dimension.create({ dimParam: d })
              : onnx.TensorShapeProto.Dimension.create({ dimValue: d }),
          ),
        }),
      }),
    }),
  });
}

/**
 * Keep only the nodes that (transitively) feed a graph output, the initializers and value infos they use, and the
 * graph inputs they read. Returns how many nodes were removed.
 */
export function pruneGraph(model: OnnxModel): number {
  const g = model.graph!;
  const nodes = g.node as OnnxNode[];
  const producer = new Map<string, number>();
  nodes.forEach((n, i) => n.output!.forEach((o) => producer.set(o, i)));
  const needed = new Set<string>();
  const keep = new Set<number>();
  const stack = (g.output ?? []).map((o) => o.name!);
  while (stack.length) {
    const t = stack.pop()!;
    if (!t || needed.has(t)) continue;
    needed.add(t);
    const p = producer.get(t);
    if (p === undefined || keep.has(p)) continue;
    keep.add(p);
    for (const i of nodes[p].input!) stack.push(i);
    // Subgraph attributes (If/Loop) are not used by these models; their captured inputs would need the same walk.
  }
  const before = nodes.length;
  g.node = nodes.filter((_, i) => keep.has(i));
  const removedInits = new Set((g.initializer ?? []).filter((t) => !needed.has(t.name!)).map((t) => t.name!));
  g.initializer = (g.initializer ?? []).filter((t) => needed.has(t.name!));
  g.valueInfo = (g.valueInfo ?? []).filter((v) => needed.has(v.name!));
  // Real graph inputs stay even if unused (they are the documented interface); initializers listed as inputs go
  // with their initializer.
  g.input = (g.input ?? []).filter((v) => needed.has(v.name!) || !removedInits.has(v.name!));
  return before - g.node.length;
}

/** Symmetric per-row int8 quantization of a [rows, cols] matrix: q = round(w / scale), scale = max|w| / 127. */
export function quantizeInt8Rows(w: Float32Array, rows: number, cols: number): { q: Int8Array; scales: Float32Array } {
  const q = new Int8Array(w.length);
  const scales = new Float32Array(rows);
  for (let r = 0; r < rows; r++) {
    let m = 0;
    for (let c = 0; c < cols; c++) m = Math.max(m, Math.abs(w[r * cols + c]));
    const s = m / 127 || 1;
    scales[r] = s;
    for (let c = 0; c < cols; c++) q[r * cols + c] = Math.max(-127, Math.min(127, Math.round(w[r * cols + c] / s)));
  }
  return { q, scales };
}
