// Reads a QOperator-quantized ONNX CNN (QuantizeLinear → QLinearConv/QLinearAdd/... → DequantizeLinear, as in the ONNX
// Model Zoo's mobilenetv2-12-int8) as a chain of blocks one can cut at: which tensors every path passes through, the
// activation shape there, and the parameters after it. Also edits the graph so that a cut tensor becomes a float output.
import { decodeModel } from '../graph.js';
import onnxProto from 'onnx-proto';
import { TlError } from '../../../../util/errors.js';

const { onnx } = onnxProto;
export type OnnxModel = InstanceType<typeof onnx.ModelProto>;
export type OnnxNode = InstanceType<typeof onnx.NodeProto>;
type OnnxTensor = InstanceType<typeof onnx.TensorProto>;
const DT = onnx.TensorProto.DataType;

/** Which inputs of an op carry activations (the rest are weights, scales, zero points or shapes). */
const DATA_INPUTS: Record<string, number[]> = {
  QuantizeLinear: [0],
  DequantizeLinear: [0],
  QLinearConv: [0],
  QLinearAdd: [0, 3],
  QLinearMul: [0, 3],
  QLinearMatMul: [0, 3],
  QLinearGlobalAveragePool: [0],
  Reshape: [0],
  Flatten: [0],
  Squeeze: [0],
  Unsqueeze: [0],
};
/** Ops that only change the shape of their data input: a cut after one of them is the same as before it. */
const SHAPE_ONLY = new Set(['Reshape', 'Flatten', 'Squeeze', 'Unsqueeze']);
/** [scale, zero point] input positions of the quantized output of each op. */
const OUTPUT_QPARAMS: Record<string, [number, number]> = {
  QuantizeLinear: [1, 2],
  QLinearConv: [6, 7],
  QLinearAdd: [6, 7],
  QLinearMul: [6, 7],
  QLinearMatMul: [6, 7],
  QLinearGlobalAveragePool: [3, 4],
};

/** The same protobuf decode the backbone's feature edit uses. */
export function decodeOnnx(bytes: Uint8Array): OnnxModel {
  return decodeModel(bytes);
}

// ---------------------------------------------------------------------------------------------------------------
// Initializers

export interface Initializer {
  name: string;
  dims: number[];
  dataType: number;
  /** Values as numbers (float, or the integer values of int8/uint8/int32/int64 tensors). */
  values: Float64Array;
}

export class Initializers {
  private byName = new Map<string, OnnxTensor>();
  private cache = new Map<string, Initializer>();
  constructor(model: OnnxModel) {
    for (const t of model.graph!.initializer ?? []) this.byName.set(t.name!, t as OnnxTensor);
  }
  has(name: string): boolean {
    return this.byName.has(name);
  }
  get(name: string): Initializer {
    const hit = this.cache.get(name);
    if (hit) return hit;
    const t = this.byName.get(name);
    if (!t) throw new TlError(`ONNX graph has no initializer "${name}"`);
    const init = { name, dims: (t.dims ?? []).map(Number), dataType: t.dataType!, values: tensorValues(t) };
    this.cache.set(name, init);
    return init;
  }
  scalar(name: string): number {
    const v = this.get(name).values;
    if (v.length !== 1) throw new TlError(`initializer "${name}" is not a scalar (${v.length} values)`);
    return v[0];
  }
}

function tensorValues(t: OnnxTensor): Float64Array {
  const n = (t.dims ?? []).map(Number).reduce((a, b) => a * b, 1);
  const raw = t.rawData;
  if (raw && raw.length > 0) {
    const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    const out = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      switch (t.dataType) {
        case DT.FLOAT:
          out[i] = dv.getFloat32(i * 4, true);
          break;
        case DT.DOUBLE:
          out[i] = dv.getFloat64(i * 8, true);
          break;
        case DT.UINT8:
          out[i] = dv.getUint8(i);
          break;
        case DT.INT8:
          out[i] = dv.getInt8(i);
          break;
        case DT.INT32:
          out[i] = dv.getInt32(i * 4, true);
          break;
        case DT.INT64:
          out[i] = Number(dv.getBigInt64(i * 8, true));
          break;
        default:
          throw new TlError(`unsupported ONNX initializer type ${t.dataType} ("${t.name}")`);
      }
    }
    return out;
  }
  switch (t.dataType) {
    case DT.FLOAT:
      return Float64Array.from(t.floatData ?? []);
    case DT.DOUBLE:
      return Float64Array.from(t.doubleData ?? []);
    case DT.UINT8:
    case DT.INT8:
    case DT.INT32:
      return Float64Array.from(t.int32Data ?? []);
    case DT.INT64:
      return Float64Array.from((t.int64Data ?? []).map(Number));
    default:
      throw new TlError(`unsupported ONNX initializer type ${t.dataType} ("${t.name}")`);
  }
}

/** The integer range of a quantized tensor with this zero-point type. */
export function quantRange(zeroPointType: number): [number, number] {
  if (zeroPointType === DT.UINT8) return [0, 255];
  if (zeroPointType === DT.INT8) return [-128, 127];
  if (zeroPointType === DT.INT32) return [-(2 ** 31), 2 ** 31 - 1];
  throw new TlError(`unsupported zero point type ${zeroPointType}`);
}

// ---------------------------------------------------------------------------------------------------------------
// Node helpers

export function attrs(node: OnnxNode): Record<string, number | number[]> {
  const out: Record<string, number | number[]> = {};
  for (const a of node.attribute ?? []) {
    if (a.ints && a.ints.length) out[a.name!] = a.ints.map(Number);
    else if (a.type === onnx.AttributeProto.AttributeType.INT) out[a.name!] = Number(a.i);
    else if (a.type === onnx.AttributeProto.AttributeType.FLOAT) out[a.name!] = a.f!;
    else if (a.type === onnx.AttributeProto.AttributeType.STRING) {
      const s = new TextDecoder().decode(a.s!);
      if (a.name === 'auto_pad' && s !== 'NOTSET' && s !== '')
        throw new TlError(`auto_pad=${s} is not supported (node ${node.name})`);
    }
  }
  return out;
}

function dataInputs(node: OnnxNode): string[] {
  const idx = DATA_INPUTS[node.opType!];
  if (!idx) return [];
  return idx.map((i) => node.input![i]).filter((s) => !!s);
}

/** Float range [lo, hi] a quantized tensor can hold, from the (scale, zero point) of the op that produced it. */
export interface QuantParams {
  scale: number;
  zeroPoint: number;
  scaleName: string;
  zeroPointName: string;
  lo: number;
  hi: number;
}

export function outputQuant(node: OnnxNode, inits: Initializers): QuantParams | undefined {
  const pos = OUTPUT_QPARAMS[node.opType!];
  if (!pos) return undefined;
  const [si, zi] = pos;
  const scaleName = node.input![si];
  const zeroPointName = node.input![zi];
  const scale = inits.scalar(scaleName);
  const zp = inits.get(zeroPointName);
  const zeroPoint = zp.values[0] ?? 0;
  const [qmin, qmax] = quantRange(zp.dataType);
  return { scale, zeroPoint, scaleName, zeroPointName, lo: scale * (qmin - zeroPoint), hi: scale * (qmax - zeroPoint) };
}

// ---------------------------------------------------------------------------------------------------------------
// Graph analysis: the data path, static shapes, cut points

export interface TailGraph {
  model: OnnxModel;
  inits: Initializers;
  /** Nodes on the data path from the graph input to the graph output, in topological order. */
  nodes: OnnxNode[];
  producer: Map<string, OnnxNode>;
  /** Activation shape (without the batch dimension): [C,H,W] for maps, [C] for vectors. */
  shapes: Map<string, number[]>;
  input: string;
  output: string;
}

export function analyzeGraph(model: OnnxModel): TailGraph {
  const graph = model.graph!;
  const inits = new Initializers(model);
  const all = graph.node as OnnxNode[];
  const producer = new Map<string, OnnxNode>();
  for (const n of all) for (const o of n.output ?? []) producer.set(o, n);
  const input = (graph.input ?? []).find((i) => !inits.has(i.name!))?.name;
  const output = graph.output?.[0]?.name;
  if (!input || !output) throw new TlError('ONNX graph has no input or no output');

  // Walk back from the output along data inputs only (Reshape's shape input, Shape/Gather/Concat branches are left out).
  const onPath = new Set<OnnxNode>();
  const stack = [output];
  while (stack.length) {
    const t = stack.pop()!;
    const p = producer.get(t);
    if (!p || onPath.has(p)) continue;
    if (!(p.opType! in DATA_INPUTS)) throw new TlError(`unsupported op on the data path: ${p.opType} (${p.name})`);
    onPath.add(p);
    stack.push(...dataInputs(p));
  }
  const nodes = all.filter((n) => onPath.has(n));

  // Static shapes from the input's [C,H,W].
  const inDims = (graph.input!.find((i) => i.name === input)!.type!.tensorType!.shape!.dim ?? []).map((d) =>
    Number(d.dimValue ?? 0),
  );
  const shapes = new Map<string, number[]>([[input, inDims.slice(1)]]);
  for (const n of nodes) {
    const x = shapes.get(n.input![0]);
    if (!x) throw new TlError(`no shape for ${n.input![0]}`);
    let y: number[];
    switch (n.opType) {
      case 'QLinearConv': {
        const w = inits.get(n.input![3]).dims;
        const a = attrs(n);
        const k = w.slice(2);
        const s = (a.strides as number[]) ?? [1, 1];
        const d = (a.dilations as number[]) ?? [1, 1];
        const p = (a.pads as number[]) ?? [0, 0, 0, 0];
        const out = (i: number) => Math.floor((x[1 + i] + p[i] + p[i + 2] - d[i] * (k[i] - 1) - 1) / s[i]) + 1;
        y = [w[0], out(0), out(1)];
        break;
      }
      case 'QLinearGlobalAveragePool':
        y = [x[0], 1, 1];
        break;
      case 'Reshape':
      case 'Flatten':
        y = [x.reduce((a, b) => a * b, 1)];
        break;
      case 'QLinearMatMul':
        y = [inits.get(n.input![3]).dims[1]];
        break;
      default:
        y = x;
    }
    shapes.set(n.output![0], y);
  }
  return { model, inits, nodes, producer, shapes, input, output };
}

export type CutKind = 'input' | 'stem' | 'block' | 'head-conv' | 'pooled';

export interface CutPoint {
  /** Index in the list (0 = the network input). */
  index: number;
  /** The quantized tensor name in the ONNX graph: what one passes to buildTail / exposeCut. */
  tensor: string;
  kind: CutKind;
  /** Human label: "block 17 (160→320, s1)" and the like. */
  label: string;
  /** Activation shape at the cut, [C,H,W]. */
  shape: number[];
  /** Whether the stored uint8 range includes negatives (a linear bottleneck) or starts at 0 (a clamped ReLU/ReLU6). */
  activation: 'linear' | 'relu';
  /** The ONNX nodes between the previous cut and this one. */
  nodes: string[];
  /** Parameters (weights + biases) of the convolutions after this cut, up to the pooled features. */
  tailParams: number;
  /** Parameters of the block ending at this cut. */
  blockParams: number;
}

export interface BlockStructure {
  graph: TailGraph;
  cuts: CutPoint[];
  /** Parameters of the classifier after the pooled features (QLinearMatMul weight + bias). */
  classifierParams: number;
  /** The pooled feature tensor (the classifier's input, before the flatten). */
  pooled: string;
}

/**
 * The cut points of a MobileNet-style quantized graph, found by walking it (no tensor names are hard-coded):
 * 1. articulation tensors: positions in the data path where one tensor is the only live activation (so every later
 *    path passes through it); a residual block's inside is never one, since its input stays live until the add;
 * 2. of those, the tensors inside an inverted-residual block are dropped: the output of a depthwise conv, and the
 *    output of a 1x1 conv that feeds a depthwise conv (the expansion). What remains is the stem output, each block's
 *    output (after the add where there is one), the output of the last 1x1 conv, and the pooled features.
 */
export function blockStructure(model: OnnxModel): BlockStructure {
  const g = analyzeGraph(model);
  const { nodes, inits } = g;
  // Last use (node index) of each activation tensor.
  const lastUse = new Map<string, number>();
  nodes.forEach((n, i) => dataInputs(n).forEach((t) => lastUse.set(t, i)));
  const consumers = new Map<string, OnnxNode[]>();
  for (const n of nodes) for (const t of dataInputs(n)) consumers.set(t, [...(consumers.get(t) ?? []), n]);

  const isDepthwise = (n: OnnxNode | undefined) => {
    if (!n || n.opType !== 'QLinearConv') return false;
    // One input channel per group, so group == input channels (the output may be a multiple of them).
    return ((attrs(n).group as number) ?? 1) > 1 && inits.get(n.input![3]).dims[1] === 1;
  };
  const is1x1 = (n: OnnxNode | undefined) =>
    n?.opType === 'QLinearConv' &&
    inits
      .get(n.input![3])
      .dims.slice(2)
      .every((k) => k === 1) &&
    !isDepthwise(n);
  const convParams = (n: OnnxNode) => {
    if (n.opType === 'QLinearConv')
      return inits.get(n.input![3]).values.length + (n.input![8] ? inits.get(n.input![8]).values.length : 0);
    return 0;
  };

  // Where the pooled features are: the (first) global average pool on the path.
  const poolIdx = nodes.findIndex((n) => n.opType === 'QLinearGlobalAveragePool' || n.opType === 'GlobalAveragePool');
  if (poolIdx < 0) throw new TlError('no global average pool on the data path: not a supported CNN');

  const articulation: { tensor: string; at: number }[] = [{ tensor: g.input, at: -1 }];
  const live = new Set<string>([g.input]);
  nodes.forEach((n, i) => {
    for (const t of dataInputs(n)) if (lastUse.get(t) === i) live.delete(t);
    for (const o of n.output ?? []) if (lastUse.has(o)) live.add(o);
    if (i > poolIdx) return;
    if (live.size === 1 && live.has(n.output![0])) articulation.push({ tensor: n.output![0], at: i });
  });

  const cuts: CutPoint[] = [];
  let prevAt = -1;
  let block = 0;
  for (const { tensor, at } of articulation) {
    if (at >= 0) {
      const p = nodes[at];
      const next = consumers.get(tensor) ?? [];
      const inside = isDepthwise(p) || (is1x1(p) && next.length === 1 && isDepthwise(next[0]));
      if (inside || SHAPE_ONLY.has(p.opType!) || p.opType === 'QuantizeLinear') continue;
    }
    const p = at >= 0 ? nodes[at] : undefined;
    const q = p ? outputQuant(p, inits) : undefined;
    const span = nodes.slice(prevAt + 1, at + 1);
    const blockParams = span.reduce((s, n) => s + convParams(n), 0);
    const shape = g.shapes.get(tensor)!;
    let kind: CutKind;
    let label: string;
    if (at < 0 || p?.opType === 'QuantizeLinear') {
      kind = 'input';
      label = 'input';
    } else if (at === poolIdx) {
      kind = 'pooled';
      label = 'pooled features';
    } else if (q && q.lo < 0) {
      kind = 'block';
      block++;
      const inC = g.shapes.get(span.find((n) => n.opType === 'QLinearConv')!.input![0])![0];
      const dw = span.find((n) => isDepthwise(n));
      const s = dw ? ((attrs(dw).strides as number[]) ?? [1])[0] : 1;
      label = `block ${block} (${inC}→${shape[0]}, s${s}${p!.opType === 'QLinearAdd' ? ', residual' : ''})`;
    } else if (at < poolIdx && cuts.every((c) => c.kind === 'input')) {
      kind = 'stem';
      label = 'stem';
    } else {
      kind = 'head-conv';
      label = `head conv (${g.shapes.get(p!.input![0])![0]}→${shape[0]})`;
    }
    cuts.push({
      index: cuts.length,
      tensor: at < 0 ? quantizedInput(g) : tensor,
      kind,
      label,
      shape,
      activation: q && q.lo < 0 ? 'linear' : q ? 'relu' : 'linear',
      nodes: span.map((n) => n.name!),
      tailParams: 0,
      blockParams,
    });
    prevAt = at;
  }
  let after = 0;
  for (let i = cuts.length - 1; i >= 0; i--) {
    cuts[i].tailParams = after;
    after += cuts[i].blockParams;
  }
  const classifierParams = nodes.slice(poolIdx + 1).reduce((s, n) => {
    if (n.opType === 'QLinearMatMul') return s + inits.get(n.input![3]).values.length;
    if (n.opType === 'QLinearAdd')
      return (
        s +
        dataInputs(n)
          .filter((t) => inits.has(t))
          .reduce((a, t) => a + inits.get(t).values.length, 0)
      );
    return s;
  }, 0);
  return { graph: g, cuts, classifierParams, pooled: nodes[poolIdx].output![0] };
}

function quantizedInput(g: TailGraph): string {
  const q = g.nodes.find((n) => n.opType === 'QuantizeLinear' && n.input![0] === g.input);
  return q ? q.output![0] : g.input;
}

// ---------------------------------------------------------------------------------------------------------------
// Graph edit: a cut tensor as a float output

export const CUT_OUTPUT_PREFIX = 'tl_cut_';

export function cutOutputName(tensor: string): string {
  return CUT_OUTPUT_PREFIX + tensor.replace(/[^A-Za-z0-9_.]/g, '_');
}

/**
 * Adds one float NCHW output per tensor (named `cutOutputName(tensor)`): a DequantizeLinear with the (scale, zero
 * point) of the op that produced the tensor. Float tensors are passed through with an Identity. Returns the model.
 */
export function exposeCuts(model: OnnxModel, tensors: string[]): OnnxModel {
  const graph = model.graph!;
  const inits = new Initializers(model);
  const all = graph.node as OnnxNode[];
  for (const tensor of tensors) {
    const name = cutOutputName(tensor);
    if (graph.output!.some((o) => o.name === name)) continue;
    const p = all.find((n) => n.output!.includes(tensor));
    const isInput = graph.input!.some((i) => i.name === tensor);
    if (!p && !isInput) throw new TlError(`ONNX graph has no tensor named "${tensor}"`);
    const q = p ? outputQuant(p, inits) : undefined;
    if (p && !q && p.opType!.startsWith('QLinear')) throw new TlError(`cannot find the quantization of "${tensor}"`);
    graph.node!.push(
      onnx.NodeProto.create(
        q
          ? {
              opType: 'DequantizeLinear',
              name: `${name}_dq`,
              input: [tensor, q.scaleName, q.zeroPointName],
              output: [name],
            }
          : { opType: 'Identity', name: `${name}_id`, input: [tensor], output: [name] },
      ),
    );
    graph.output!.push(
      onnx.ValueInfoProto.create({
        name,
        type: onnx.TypeProto.create({ tensorType: onnx.TypeProto.Tensor.create({ elemType: DT.FLOAT }) }),
      }),
    );
  }
  return model;
}

export function encodeOnnx(model: OnnxModel): Uint8Array {
  return onnx.ModelProto.encode(model).finish();
}
