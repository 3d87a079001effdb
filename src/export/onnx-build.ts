// Small helpers to build ONNX graph pieces with the onnx-proto bindings: tensors, nodes, attributes, value infos,
// float16 conversion, and pruning a graph to what its outputs need.
import onnxProto from 'onnx-proto';

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
  return onnx.TensorProto.create({ name, dims, dataType: DT.INT8, rawData: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) });
}

export function int64Tensor(name: string, dims: number[], values: number[]): OnnxTensor {
  return onnx.TensorProto.create({ name, dims, dataType: DT.INT64, rawData: bytesOf(BigInt64Array.from(values.map(BigInt))) });
}

function bytesOf(a: Float32Array | Uint16Array | BigInt64Array): Uint8Array {
  // Every platform Node and browsers run on is little-endian, as ONNX raw_data requires.
  return new Uint8Array(a.buffer.slice(a.byteOffset, a.byteOffset + a.byteLength));
}

type AttrValue = number | number[] | string | { float: number } | { floats: number[] };

export function node(opType: string, inputs: string[], outputs: string[], name: string, attributes: Record<string, AttrValue> = {}): OnnxNode {
  const AT = onnx.AttributeProto.AttributeType;
  const attribute = Object.entries(attributes).map(([k, v]) => {
    if (typeof v === 'string') return onnx.AttributeProto.create({ name: k, type: AT.STRING, s: new TextEncoder().encode(v) });
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
          dim: dims.map((d) => (typeof d === 'string' ? onnx.TensorShapeProto.Dimension.create({ dimParam: d }) : onnx.TensorShapeProto.Dimension.create({ dimValue: d }))),
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

// ---------------------------------------------------------------------------------------------------------------
// float16

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** IEEE 754 half precision, round to nearest even (the layout ONNX FLOAT16 and TF.js 'float16' quantization use). */
export function toFloat16(data: Float32Array): Uint16Array {
  const out = new Uint16Array(data.length);
  for (let i = 0; i < data.length; i++) out[i] = halfBits(data[i]);
  return out;
}

function halfBits(v: number): number {
  f32[0] = v;
  const x = u32[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  let e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let h = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rem > half || (rem === half && h & 1)) h++;
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && h & 1)) h++;
  return sign | h;
}

export function fromFloat16(h: Uint16Array): Float32Array {
  const out = new Float32Array(h.length);
  for (let i = 0; i < h.length; i++) {
    const s = h[i] & 0x8000 ? -1 : 1;
    const e = (h[i] >> 10) & 0x1f;
    const m = h[i] & 0x3ff;
    out[i] = e === 0 ? s * m * 2 ** -24 : e === 31 ? (m ? NaN : s * Infinity) : s * (1 + m / 1024) * 2 ** (e - 15);
  }
  return out;
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
