// Export of a fine-tuned (rung 2-3) bundle: the frozen part of the backbone up to the tail's cut, then the trained
// tail with the bundle's weights, then the head. What `tl predict` runs (FinetunedBackbone) is reproduced op for op:
// - 'onnx-tail' (int8 ONNX): the original graph up to the cut + DequantizeLinear of the cut tensor (what CutRunner
//   hands the tail), then each QLinear node after the cut as float ONNX ops (Conv / depthwise Conv group=C / Add /
//   GlobalAveragePool) with the trained weights, and Clip where the tail clamps (outputs whose quantized range starts
//   at 0: the fused ReLU6). Cut at the input: the float input feeds the first Conv directly (any --size).
// - 'tfjs-layers': the TF.js model rebuilt at the tail's image size with the trained weights written into its layers,
//   then converted like a rung-1 TF.js backbone (tfjs-to-onnx.ts), or saved as TF.js.
// - 'replace': the frozen part (either runtime), then 1x1 Conv + Relu per hidden size, GlobalAveragePool.
import type * as tfType from '@tensorflow/tfjs';
import { decodeModel } from '../backbone/runtimes/onnx/graph.js';
import { tfWasm } from '../backbone/runtimes/tfjs/tfjs.js';
import { runtimeFor } from '../backbone/runtimes/registry.js';
import type { InputSpec, ModelEntry } from '../backbone/types.js';
import type { TailSnapshot } from '../backbone/runtimes/types.js';
import { analyzeGraph, attrs, cutOutputName, exposeCuts, outputQuant } from '../backbone/runtimes/onnx/tail/graph.js';
import type { HeadWeights } from '../classifier/head.js';
import { TlError } from '../util/errors.js';
import {
  DT,
  float16Tensor,
  floatTensor,
  node,
  onnx,
  pruneGraph,
  valueInfo,
  type OnnxModel,
  type OnnxNode,
  type OnnxTensor,
} from './onnx/build.js';
import { appendHeadNodes, FEATURES_OUTPUT, PROBABILITIES_OUTPUT, type WeightQuantization } from './onnx/head.js';
import { exportOnnxFromTfjsBackbone, finishOnnxModel, type OnnxExport, type OnnxExportOptions } from './onnx/export.js';
import { tfjsLayersToOnnx } from './onnx/from-tfjs.js';

type Vars = Map<string, { shape: number[]; data: Float32Array }>;

/** The input the fine-tuned network takes: the backbone's, at the size the tail was trained at. */
export function finetunedInput(entry: ModelEntry, tail: TailSnapshot): InputSpec {
  return { ...entry.input, size: tail.imageSize };
}

function varsOf(tail: TailSnapshot): Vars {
  return new Map(tail.variables.map((v) => [v.name, { shape: v.shape, data: v.data }]));
}

function need(vars: Vars, name: string, tail: TailSnapshot): { shape: number[]; data: Float32Array } {
  const v = vars.get(name);
  if (!v)
    throw new TlError(
      `the bundle's ${tail.kind} tail has no trained weight "${name}"`,
      'The bundle does not match its backbone; retrain it.',
    );
  return v;
}

/** HWIO [kh, kw, I, O] → ONNX OIHW. */
function hwioToOihw(w: Float32Array, [kh, kw, ci, co]: number[]): Float32Array {
  const out = new Float32Array(w.length);
  for (let y = 0; y < kh; y++)
    for (let x = 0; x < kw; x++)
      for (let i = 0; i < ci; i++)
        for (let o = 0; o < co; o++) {
          out[((o * ci + i) * kh + y) * kw + x] = w[((y * kw + x) * ci + i) * co + o];
        }
  return out;
}

/** Depthwise [kh, kw, C, m] → ONNX [C*m, 1, kh, kw] (output channel c*m + j). */
function depthwiseToOihw(w: Float32Array, [kh, kw, c, m]: number[]): Float32Array {
  const out = new Float32Array(w.length);
  for (let y = 0; y < kh; y++)
    for (let x = 0; x < kw; x++)
      for (let ch = 0; ch < c; ch++)
        for (let j = 0; j < m; j++) {
          out[((ch * m + j) * kh + y) * kw + x] = w[((y * kw + x) * c + ch) * m + j];
        }
  return out;
}

interface Piece {
  nodes: OnnxNode[];
  initializers: OnnxTensor[];
  /** float16: conv kernels of the tail stored as float16 + Cast (as tfjs-to-onnx.ts does for converted weights). */
  quantize?: WeightQuantization;
}

/** A tail weight as an initializer named `name` (or a float16 one Cast to it). */
function addWeight(out: Piece, name: string, dims: number[], data: Float32Array): string {
  if (out.quantize === 'float16' && data.length >= 256) {
    out.initializers.push(float16Tensor(`${name}_f16`, dims, data));
    out.nodes.push(node('Cast', [`${name}_f16`], [name], `${name}_cast`, { to: DT.FLOAT }));
  } else out.initializers.push(floatTensor(name, dims, data));
  return name;
}

/** The QLinear nodes after `cut` up to the pooled features as float ops with the trained weights; returns the pooled NCHW tensor. */
function onnxTailNodes(original: OnnxModel, tail: TailSnapshot, cutFloat: string, out: Piece): string {
  const g = analyzeGraph(original);
  const { inits } = g;
  const vars = varsOf(tail);
  const start = g.nodes.findIndex((n) => n.output!.includes(tail.cut));
  const poolIdx = g.nodes.findIndex((n) => n.opType === 'QLinearGlobalAveragePool');
  if (start < 0 || poolIdx < 0 || start > poolIdx)
    throw new TlError(`the tail's cut "${tail.cut}" is not on the data path of the ONNX backbone`);
  const P = 'tl_ft/';
  const names = new Map<string, string>([[tail.cut, cutFloat]]);
  const read = (t: string) => {
    const n = names.get(t);
    if (!n) throw new TlError(`tail export: tensor "${t}" is read before the cut`);
    return n;
  };
  const scalar = (name: string, v: number) => (
    out.initializers.push(floatTensor(name, [], new Float32Array([v]))),
    name
  );
  // Same rule as the training tail (engine/onnx-tail/convert.ts, clampLinear off): clamp ReLU-range outputs only.
  const clamped = (n: OnnxNode, y: string, final: string): string => {
    const q = outputQuant(n, inits);
    if (!q || q.lo < 0) return y;
    out.nodes.push(
      node('Clip', [y, scalar(`${final}_lo`, q.lo), scalar(`${final}_hi`, q.hi)], [final], `${final}_clip`),
    );
    return final;
  };
  for (const n of g.nodes.slice(start + 1, poolIdx + 1)) {
    const o = P + n.output![0];
    switch (n.opType) {
      case 'QLinearConv': {
        const a = attrs(n);
        const group = (a.group as number) ?? 1;
        const wName = n.input![3];
        const [O, I, kh, kw] = inits.get(wName).dims;
        const w = need(vars, wName, tail);
        const depthwise = group > 1 && I === 1;
        addWeight(
          out,
          P + wName,
          [O, I, kh, kw],
          depthwise ? depthwiseToOihw(w.data, w.shape) : hwioToOihw(w.data, w.shape),
        );
        const ins = [read(n.input![0]), P + wName];
        const bName = n.input![8];
        if (bName) {
          out.initializers.push(floatTensor(P + bName, [O], need(vars, bName, tail).data));
          ins.push(P + bName);
        }
        out.nodes.push(
          node('Conv', ins, [`${o}_conv`], `${o}_conv`, {
            kernel_shape: [kh, kw],
            strides: (a.strides as number[]) ?? [1, 1],
            pads: (a.pads as number[]) ?? [0, 0, 0, 0],
            dilations: (a.dilations as number[]) ?? [1, 1],
            group,
          }),
        );
        names.set(n.output![0], clamped(n, `${o}_conv`, o));
        break;
      }
      case 'QLinearAdd': {
        const bName = n.input![3];
        let b: string;
        if (inits.has(bName)) {
          const v = need(vars, bName, tail);
          out.initializers.push(floatTensor(P + bName, v.shape, v.data));
          b = P + bName;
        } else b = read(bName);
        out.nodes.push(node('Add', [read(n.input![0]), b], [`${o}_add`], `${o}_add`));
        names.set(n.output![0], clamped(n, `${o}_add`, o));
        break;
      }
      case 'QLinearGlobalAveragePool':
        out.nodes.push(node('GlobalAveragePool', [read(n.input![0])], [`${o}_pool`], `${o}_pool`));
        names.set(n.output![0], clamped(n, `${o}_pool`, o));
        break;
      case 'Reshape':
      case 'Flatten':
      case 'Squeeze':
        names.set(n.output![0], read(n.input![0]));
        break;
      default:
        throw new TlError(`tail export: ONNX op ${n.opType} (${n.name}) after the cut has no float equivalent here`);
    }
  }
  return read(g.nodes[poolIdx].output![0]);
}

/** New units (--replace): 1x1 Conv + Relu per hidden size on the NCHW cut activation, then GlobalAveragePool. */
function replaceNodes(tail: TailSnapshot, cutFloat: string, out: Piece): string {
  const vars = varsOf(tail);
  let x = cutFloat;
  (tail.replace ?? []).forEach((_, i) => {
    const w = need(vars, `conv${i}/kernel`, tail);
    const b = need(vars, `conv${i}/bias`, tail);
    const [, , ci, co] = w.shape;
    const p = `tl_replace_${i}`;
    addWeight(out, `${p}_W`, [co, ci, 1, 1], hwioToOihw(w.data, w.shape));
    out.initializers.push(floatTensor(`${p}_b`, [co], b.data));
    out.nodes.push(node('Conv', [x, `${p}_W`, `${p}_b`], [`${p}_conv`], `${p}_conv`, { kernel_shape: [1, 1] }));
    out.nodes.push(node('Relu', [`${p}_conv`], [`${p}_relu`], `${p}_relu`));
    x = `${p}_relu`;
  });
  out.nodes.push(node('GlobalAveragePool', [x], ['tl_replace_pool'], 'tl_replace_pool'));
  return 'tl_replace_pool';
}

/** A 'tfjs-layers' tail's weights written into the (freshly loaded) model's layers. */
export function writeTailWeights(tf: typeof tfType, model: tfType.LayersModel, tail: TailSnapshot): void {
  const vars = varsOf(tail);
  let written = 0;
  for (const w of model.weights) {
    const v = vars.get(w.originalName);
    if (!v) continue;
    const t = tf.tensor(v.data, v.shape, 'float32');
    w.write(t);
    t.dispose();
    written++;
  }
  if (written !== vars.size)
    throw new TlError(
      `only ${written} of the tail's ${vars.size} trained weights match layers of ${model.name}`,
      'The bundle does not match its backbone; retrain it.',
    );
}

/** One ONNX model: frozen part + trained tail + head, its input at the size the tail trained at. */
export async function exportOnnxFinetuned(
  entry: ModelEntry,
  tail: TailSnapshot,
  head: HeadWeights,
  numClasses: number,
  opts: OnnxExportOptions,
): Promise<OnnxExport> {
  const size = tail.imageSize;
  // What the backbone's runtime hands over decides how (not which runtime it is): a layers model at the trained size,
  // or the ONNX graph bytes whose input the export rewrites.
  const graph = await runtimeFor(entry.format).exportGraph(entry, undefined, size);
  if (graph.kind === 'tfjs-layers') {
    const tf = await tfWasm();
    const model = graph.model;
    try {
      if (tail.kind === 'tfjs-layers') {
        writeTailWeights(tf, model, tail);
        return exportOnnxFromTfjsBackbone(model, entry, head, numClasses, opts);
      }
      if (tail.kind !== 'replace')
        throw new TlError(`a ${tail.kind} tail on the TF.js backbone ${entry.id} cannot be exported`);
      const piece: Piece = { nodes: [], initializers: [], quantize: opts.quantize };
      let cutFloat = 'input';
      if (tail.cut !== model.inputLayers[0].name) {
        const conv = tfjsLayersToOnnx(model, tail.cut, { inputName: 'input' });
        piece.nodes.push(...conv.nodes);
        piece.initializers.push(...conv.initializers);
        cutFloat = conv.output;
      }
      const pooled = replaceNodes(tail, cutFloat, piece);
      const m = onnx.ModelProto.create({
        irVersion: 7,
        opsetImport: [onnx.OperatorSetIdProto.create({ domain: '', version: 13 })],
        graph: onnx.GraphProto.create({
          name: `${entry.id}-finetuned-classifier`,
          node: piece.nodes,
          initializer: piece.initializers,
          input: [valueInfo('input', ['N', 3, size, size])],
          output: [],
          valueInfo: [],
        }),
      });
      return finishWithHead(m, pooled, 'input', ['N', 3, size, size], tail, head, numClasses, opts, 13);
    } finally {
      model.dispose();
    }
  }
  const bytes = graph.bytes;
  const model = decodeModel(bytes);
  const g = model.graph!;
  const inits = new Set((g.initializer ?? []).map((t) => t.name!));
  const input = (g.input ?? []).find((i) => !inits.has(i.name!));
  if (!input) throw new TlError(`${entry.id}: the ONNX graph has no input`);
  const dims = input.type!.tensorType!.shape!.dim!;
  const batch = dims[0]?.dimParam || 'N';
  const atInput = g.node!.some(
    (n) => n.opType === 'QuantizeLinear' && n.input![0] === input.name && n.output![0] === tail.cut,
  );
  let cutFloat: string;
  if (atInput) {
    // Nothing frozen: the float image feeds the tail (at the size it trained at; the int8 part is pruned away).
    dims[2].dimValue = size;
    dims[3].dimValue = size;
    cutFloat = input.name!;
  } else {
    if (size !== entry.input.size)
      throw new TlError(
        `a tail cut at ${tail.cut} of the int8 ONNX ${entry.id} must run at ${entry.input.size} px, the bundle says ${size}`,
      );
    exposeCuts(model, [tail.cut]);
    cutFloat = cutOutputName(tail.cut);
  }
  const piece: Piece = { nodes: [], initializers: [], quantize: opts.quantize };
  const pooled =
    tail.kind === 'replace'
      ? replaceNodes(tail, cutFloat, piece)
      : tail.kind === 'onnx-tail'
        ? onnxTailNodes(decodeModel(bytes), tail, cutFloat, piece)
        : undefined;
  if (!pooled) throw new TlError(`a ${tail.kind} tail on the ONNX backbone ${entry.id} cannot be exported`);
  g.node!.push(...piece.nodes);
  g.initializer!.push(...piece.initializers);
  const opset = Number((model.opsetImport ?? []).find((o) => !o.domain || o.domain === 'ai.onnx')?.version ?? 0);
  return finishWithHead(model, pooled, input.name!, [batch, 3, size, size], tail, head, numClasses, opts, opset);
}

function finishWithHead(
  model: OnnxModel,
  pooled: string,
  inputName: string,
  inputShape: (number | string)[],
  tail: TailSnapshot,
  head: HeadWeights,
  numClasses: number,
  opts: OnnxExportOptions,
  opset: number,
): OnnxExport {
  const g = model.graph!;
  const batch = inputShape[0];
  g.node!.push(node('Flatten', [pooled], [FEATURES_OUTPUT], 'tl_features_flatten', { axis: 1 }));
  appendHeadNodes(model, FEATURES_OUTPUT, head, opts.quantize ?? 'none');
  g.output = [valueInfo(PROBABILITIES_OUTPUT, [batch, numClasses])];
  if (opts.features !== false) g.output.push(valueInfo(FEATURES_OUTPUT, [batch, tail.featureDim]));
  const prunedNodes = pruneGraph(model);
  finishOnnxModel(model, opts.metadata);
  return {
    bytes: onnx.ModelProto.encode(model).finish(),
    inputName,
    inputShape,
    outputs: g.output.map((o) => o.name!),
    prunedNodes,
    opset,
  };
}
