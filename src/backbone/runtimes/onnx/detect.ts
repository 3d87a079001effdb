// Finds what a backbone needs in any ImageNet ONNX classifier, without tensor names: walk back from the class-score
// output through what follows a classifier (Softmax, Flatten/Reshape/Squeeze, bias Add, dequantization, a global
// pool after a 1x1 conv classifier) to the last Gemm/MatMul (or 1x1 Conv) with constant weights; its input is the
// feature (average-pooled when it is a spatial map; a ViT's class token when a Gather/Slice on the token axis feeds
// it). The input size and layout come from the graph input. Quantized graphs keep the int8 tensor: onnx-graph.ts
// dequantizes it with the scale of the QLinear op that consumes it.
// Feature extractors (no classifier: DINOv2, CLIP's vision model as exported for Hugging Face / Transformers.js) are
// found by their output names first: `image_embeds`, then `pooler_output`, then the tokens `last_hidden_state`
// pooled by a rule (token-pool.ts; default cls+mean, or the one the caller names).
import onnxProto from 'onnx-proto';
import { TlError } from '../../../util/errors.js';
import type { DetectedBackbone } from '../types.js';
import { TOKEN_POOLS, type TokenPool } from '../../types.js';
export { DETECT_FROM_GRAPH } from '../../types.js';

type Model = InstanceType<typeof onnxProto.onnx.ModelProto>;

type Graph = InstanceType<typeof onnxProto.onnx.GraphProto>;
type Node = InstanceType<typeof onnxProto.onnx.NodeProto>;
// Decoded messages have every repeated field as an array: the class types (not the I* interfaces) say so.
type ValueInfo = InstanceType<typeof onnxProto.onnx.ValueInfoProto>;
type Tensor = InstanceType<typeof onnxProto.onnx.TensorProto>;

// Ops between the classifier and the class scores that keep "one score per class": followed through their data input.
const AFTER_CLASSIFIER = new Set([
  'Softmax',
  'LogSoftmax',
  'Flatten',
  'Reshape',
  'Squeeze',
  'Unsqueeze',
  'Identity',
  'Dropout',
  'Cast',
  'DequantizeLinear',
  'QuantizeLinear',
  'Add',
  'Sub',
  'Mul',
  'Div',
  'QLinearAdd',
  'QLinearMul',
  'Relu',
  'Clip',
  // A 1x1 conv classifier on a map is pooled afterwards (SqueezeNet, Darknet): the map before it is the feature.
  'GlobalAveragePool',
  'QLinearGlobalAveragePool',
  'ReduceMean',
  'AveragePool',
]);
// Ops that do not change a vector's values (walked back from the classifier's input toward the same vector, earlier).
const SAME_VALUES = new Set(['Identity', 'Dropout']);
const GLOBAL_POOLS = new Set(['GlobalAveragePool', 'QLinearGlobalAveragePool', 'ReduceMean', 'AveragePool']);
// Classifier op -> index of its weight input.
// (QGemm: onnxruntime's quantizer for Gemm, com.microsoft domain.)
const CLASSIFIERS: Record<string, number> = {
  Gemm: 1,
  QGemm: 3,
  MatMul: 1,
  MatMulInteger: 1,
  QLinearMatMul: 3,
  Conv: 1,
  QLinearConv: 3,
};

class GraphIndex {
  readonly producer = new Map<string, Node>();
  readonly constants = new Map<string, number[]>();
  readonly shapes = new Map<string, (number | string)[]>();
  constructor(readonly graph: Graph) {
    for (const n of graph.node as Node[]) for (const o of n.output) this.producer.set(o, n);
    for (const t of graph.initializer as Tensor[]) this.constants.set(t.name, (t.dims ?? []).map(Number));
    for (const n of graph.node as Node[]) {
      const value = n.opType === 'Constant' ? n.attribute.find((a) => a.name === 'value')?.t : undefined;
      if (value) this.constants.set(n.output[0], (value.dims ?? []).map(Number));
    }
    for (const v of [...graph.input, ...graph.valueInfo, ...graph.output] as ValueInfo[]) {
      const dims = v.type?.tensorType?.shape?.dim;
      if (dims)
        this.shapes.set(
          v.name,
          dims.map((d) => (d.dimParam ? d.dimParam : d.dimValue != null ? Number(d.dimValue) : '?')),
        );
    }
  }
  isConstant(t: string): boolean {
    return this.constants.has(t);
  }
  /** Dims of a constant weight, following DequantizeLinear / Transpose / Cast / Identity (QDQ graphs, transposed weights). */
  weightDims(t: string): { dims: number[]; transposed: boolean } | undefined {
    let transposed = false;
    for (let hops = 0; hops < 6; hops++) {
      const dims = this.constants.get(t);
      if (dims) return { dims, transposed };
      const n = this.producer.get(t);
      if (!n || !['DequantizeLinear', 'Transpose', 'Cast', 'Identity'].includes(n.opType)) return undefined;
      if (n.opType === 'Transpose') transposed = !transposed;
      t = n.input[0];
    }
    return undefined;
  }
  rank(t: string): number | undefined {
    return this.shapes.get(t)?.length;
  }
}

function attrInt(n: Node, name: string, fallback: number): number {
  const a = n.attribute.find((x) => x.name === name);
  return a?.i != null ? Number(a.i) : fallback;
}

/** The classifier's input and its (in, out) sizes, or undefined when `n` is not a classifier with constant weights. */
function asClassifier(g: GraphIndex, n: Node): { data: string; inDim: number; classes: number } | undefined {
  const wi = CLASSIFIERS[n.opType];
  if (wi === undefined) return undefined;
  const w = g.weightDims(n.input[wi]);
  if (!w || g.isConstant(n.input[0])) return undefined;
  const d = w.dims;
  if (n.opType === 'Conv' || n.opType === 'QLinearConv') {
    // A 1x1 conv with one group is a per-position linear classifier: [classes, in, 1, 1].
    if (d.length !== 4 || d[2] !== 1 || d[3] !== 1 || attrInt(n, 'group', 1) !== 1) return undefined;
    return { data: n.input[0], inDim: d[1], classes: d[0] };
  }
  if (d.length < 2) return undefined;
  const [rows, cols] = d.slice(-2);
  // Gemm: B is [K, N], or [N, K] with transB=1; MatMul: B is [K, N].
  let transposed = (n.opType === 'Gemm' || n.opType === 'QGemm') && attrInt(n, 'transB', 0) === 1;
  if (w.transposed) transposed = !transposed;
  return transposed
    ? { data: n.input[0], inDim: cols, classes: rows }
    : { data: n.input[0], inDim: rows, classes: cols };
}

/** The data input of an op that follows the classifier: the one that is not a constant (bias, scale, shape). */
function dataInput(g: GraphIndex, n: Node): string | undefined {
  if (n.opType === 'QLinearAdd' || n.opType === 'QLinearMul') return g.isConstant(n.input[0]) ? n.input[3] : n.input[0];
  const live = n.input.filter((t) => t && !g.isConstant(t) && !isConstantShape(g, t));
  return live.length === 1 ? live[0] : undefined;
}

// A Reshape's target shape is often computed (Shape -> Gather -> Concat): it is not the data.
function isConstantShape(g: GraphIndex, t: string): boolean {
  const n = g.producer.get(t);
  return (
    !!n &&
    ['Shape', 'Concat', 'Gather', 'Unsqueeze', 'Constant', 'ConstantOfShape'].includes(n.opType) &&
    traceHitsShape(g, n, 0)
  );
}
function traceHitsShape(g: GraphIndex, n: Node, depth: number): boolean {
  if (n.opType === 'Shape' || n.opType === 'Constant') return true;
  if (depth > 6) return false;
  return n.input.every(
    (i) => g.isConstant(i) || (g.producer.has(i) && traceHitsShape(g, g.producer.get(i)!, depth + 1)),
  );
}

interface Walk {
  output: string;
  classifier: Node;
  data: string;
  inDim: number;
  classes: number;
  softmax: boolean;
  pooledAfter: boolean;
}

function walkBack(g: GraphIndex, output: string): Walk | string {
  let t = output;
  let softmax = false;
  let pooledAfter = false;
  for (let hops = 0; hops < 64; hops++) {
    const n = g.producer.get(t);
    if (!n) return `reached the graph input "${t}"`;
    const c = asClassifier(g, n);
    if (c) return { output, classifier: n, ...c, softmax, pooledAfter };
    if (!AFTER_CLASSIFIER.has(n.opType)) return `reached a ${n.opType} node (${n.name || n.output[0]})`;
    if (n.opType === 'Softmax') softmax = true;
    if (GLOBAL_POOLS.has(n.opType)) pooledAfter = true;
    const next = dataInput(g, n);
    if (!next) return `reached a ${n.opType} node with two data inputs (${n.name || n.output[0]})`;
    t = next;
  }
  return 'walked 64 nodes without finding a Gemm, MatMul or 1x1 Conv';
}

/** What the graph input says: one image input [N,3,S,S] (NCHW) or [N,S,S,3] (NHWC). */
function detectInput(g: GraphIndex, graph: Graph): DetectedBackbone['input'] {
  const inputs = (graph.input as ValueInfo[]).filter((i) => !g.isConstant(i.name));
  const images = inputs.filter((i) => (g.shapes.get(i.name)?.length ?? 0) === 4);
  if (images.length !== 1) {
    throw new TlError(
      `cannot tell the image input of this ONNX graph: ${images.length} four-dimensional inputs (${inputs.map((i) => i.name).join(', ') || 'none'})`,
      'Register it with a JSON description instead (`tl models add FILE.json`, see docs/backbones.md, "Bring your own backbone").',
    );
  }
  const name = images[0].name;
  const [n, a, b, c] = g.shapes.get(name)!;
  const layout = a === 3 ? 'NCHW' : c === 3 ? 'NHWC' : undefined;
  if (!layout)
    throw new TlError(`input "${name}" [${[n, a, b, c].join(',')}] has no 3-channel axis (neither NCHW nor NHWC RGB)`);
  const [h, w] = layout === 'NCHW' ? [b, c] : [a, b];
  const size = typeof h === 'number' && h > 0 && h === w ? h : undefined;
  return { name, layout, size, batch: typeof n === 'number' && n > 0 ? n : 'dynamic' };
}

export interface DetectOptions {
  /** Pool the graph's token output by this rule (a feature extractor's `last_hidden_state`), whatever else it has. */
  pool?: TokenPool;
}

/** Detects input spec, feature tensor (+ pooling) and original head of an ImageNet classifier or feature-extractor graph. */
export function detectInGraph(model: Model, opts: DetectOptions = {}): DetectedBackbone {
  const graph = model.graph as Graph | null | undefined;
  if (!graph) throw new TlError('this ONNX file has no graph');
  const g = new GraphIndex(graph);
  const input = detectInput(g, graph);
  const extractor = detectFeatureOutput(g, graph, opts.pool);
  if (extractor) return { input, ...extractor };
  const reasons: string[] = [];
  for (const out of graph.output as ValueInfo[]) {
    const w = walkBack(g, out.name);
    if (typeof w === 'string') {
      reasons.push(`from output "${out.name}": ${w}`);
      continue;
    }
    return describe(g, input, w);
  }
  throw new TlError(
    `cannot find the classifier in this ONNX graph (${reasons.join('; ')})`,
    'Name the feature tensor yourself: list the nodes with `tl models info ID --layers` after registering it with a JSON description (`tl models add FILE.json`).',
  );
}

function describe(g: GraphIndex, input: DetectedBackbone['input'], w: Walk): DetectedBackbone {
  let tensor = w.data;
  // Dropout/Identity between the feature and the classifier change nothing: name the vector where it was made.
  for (let n = g.producer.get(tensor); n && SAME_VALUES.has(n.opType); n = g.producer.get(tensor)) tensor = n.input[0];
  const producer = g.producer.get(tensor);
  const isConv = w.classifier.opType === 'Conv' || w.classifier.opType === 'QLinearConv';
  const rank = g.rank(tensor) ?? (isConv ? 4 : w.classifier.opType === 'Gemm' ? 2 : undefined);
  const spatial = g.shapes.get(tensor)?.slice(2);
  const alreadyPooled =
    (producer && GLOBAL_POOLS.has(producer.opType)) || (spatial?.length === 2 && spatial.every((d) => d === 1));
  const pool: 'gap' | 'none' = rank === 4 && !alreadyPooled ? 'gap' : 'none';
  if (rank === 3) {
    throw new TlError(
      `the classifier ${w.classifier.opType} "${w.classifier.name || w.classifier.output[0]}" takes a 3-D tensor "${tensor}" (tokens); the toolkit takes one vector per image`,
      'Register it with a JSON description naming a [N, dim] tensor (e.g. the class token after the last LayerNorm).',
    );
  }
  const token = producer && isTokenSelect(g, producer);
  const where = token
    ? 'the class token (a Gather/Slice on the token axis) it reads'
    : pool === 'gap'
      ? `its input map, global-average-pooled${w.pooledAfter ? ' (the graph pools after the classifier)' : ''}`
      : 'its input';
  const how = `classifier ${w.classifier.opType} "${w.classifier.name || w.classifier.output[0]}" (${w.inDim} -> ${w.classes}) found from output "${w.output}"; feature = ${where}`;
  return {
    input,
    feature: { tensor, dim: w.inDim, pool },
    head: { output: w.output, activation: w.softmax ? 'probabilities' : 'logits', classes: w.classes },
    how,
  };
}

function isTokenSelect(g: GraphIndex, n: Node): boolean {
  if (n.opType === 'Gather') return attrInt(n, 'axis', 0) === 1;
  if (n.opType === 'Squeeze' || n.opType === 'Reshape' || n.opType === 'Flatten') {
    const src = g.producer.get(n.input[0]);
    return !!src && src.opType === 'Slice' && sliceAxesInclude(g, src, 1);
  }
  return false;
}

function sliceAxesInclude(g: GraphIndex, n: Node, axis: number): boolean {
  const attr = n.attribute.find((a) => a.name === 'axes');
  if (attr) return (attr.ints ?? []).map(Number).includes(axis);
  // Opset 10+: axes is the 4th input, a small constant; without it the slice covers the leading axes.
  const axesName = n.input[3];
  if (!axesName) return axis === 0 || n.input.length > 1;
  const init = (g.graph.initializer as Tensor[]).find((t) => t.name === axesName);
  const vals = init
    ? [...(init.int64Data ?? []).map(Number), ...(init.rawData?.length ? readInt64s(init.rawData) : [])]
    : [];
  return vals.includes(axis);
}

function readInt64s(raw: Uint8Array): number[] {
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  return Array.from({ length: raw.byteLength / 8 }, (_, i) => Number(view.getBigInt64(i * 8, true)));
}

// Output names of feature-extraction exports (Hugging Face Optimum, Transformers.js), best feature first.
const EMBEDDING_OUTPUTS = ['image_embeds', 'pooler_output'];
const TOKEN_OUTPUT = 'last_hidden_state';
// Without a named rule, tokens are pooled as DINOv2's linear evaluation does: class token + mean of the patch tokens.
const DEFAULT_TOKEN_POOL: TokenPool = 'cls+mean';

/**
 * The feature of a graph with no classifier: an embedding output, or the token output pooled by a rule. Undefined
 * when the graph has none of these outputs (then it is read as a classifier).
 */
function detectFeatureOutput(
  g: GraphIndex,
  graph: Graph,
  pool: TokenPool | undefined,
): Omit<DetectedBackbone, 'input'> | undefined {
  const outputs = (graph.output as ValueInfo[]).map((o) => o.name);
  if (pool) {
    const rank3 = outputs.filter((o) => g.rank(o) === 3);
    const tokens = outputs.includes(TOKEN_OUTPUT) ? TOKEN_OUTPUT : rank3.length === 1 ? rank3[0] : undefined;
    if (!tokens)
      throw new TlError(
        `pooling rule "${pool}" needs a token output [N, tokens, dim] ("${TOKEN_OUTPUT}"); this graph's outputs are ${outputs.join(', ')}`,
        `Leave the pooling rule out for a classifier or an embedding model; ${TOKEN_POOLS.join(', ')} pool a transformer's tokens.`,
      );
    return tokenFeature(g, tokens, pool, `pooling rule "${pool}" named`);
  }
  const embedding = EMBEDDING_OUTPUTS.find((o) => outputs.includes(o));
  if (embedding) {
    const dim = tensorWidth(g, embedding);
    return {
      feature: { tensor: embedding, dim: needWidth(embedding, dim), pool: 'none' },
      how: `feature extractor (no classifier): output "${embedding}" [N, ${dim}] is the feature`,
    };
  }
  if (outputs.includes(TOKEN_OUTPUT))
    return tokenFeature(g, TOKEN_OUTPUT, DEFAULT_TOKEN_POOL, 'no embedding output; default rule');
  return undefined;
}

function tokenFeature(g: GraphIndex, tokens: string, pool: TokenPool, why: string): Omit<DetectedBackbone, 'input'> {
  const width = needWidth(tokens, tensorWidth(g, tokens));
  const dim = pool === 'cls+mean' ? 2 * width : width;
  const rule = {
    cls: 'the class token',
    mean: 'the mean of the patch tokens',
    'cls+mean': 'class token + mean of the patch tokens',
  }[pool];
  return {
    feature: { tensor: tokens, dim, pool },
    how: `feature extractor (no classifier): output "${tokens}" [N, tokens, ${width}] pooled as ${rule} (${why}) -> ${dim}-d`,
  };
}

function needWidth(tensor: string, dim: number | undefined): number {
  if (dim) return dim;
  throw new TlError(
    `cannot tell the width of "${tensor}" from this ONNX graph`,
    'Register it with a JSON description that gives feature.dim (`tl models add FILE.json`, README "Bring your own backbone").',
  );
}

/** The last axis of a tensor: from its declared shape, else from the weights of the op that makes it. */
function tensorWidth(g: GraphIndex, t: string): number | undefined {
  for (let hops = 0; hops < 16; hops++) {
    const last = g.shapes.get(t)?.at(-1);
    if (typeof last === 'number' && last > 0) return last;
    const n = g.producer.get(t);
    if (!n) return undefined;
    if (n.opType === 'LayerNormalization') return g.weightDims(n.input[1])?.dims.at(-1);
    const c = asClassifier(g, n);
    if (c) return c.classes;
    if (n.opType === 'Add' || n.opType === 'Mul') {
      // A bias or scale constant of the full width, else follow the data.
      const k = n.input.find((i) => g.isConstant(i));
      const kd = k ? g.constants.get(k) : undefined;
      if (kd && kd.length && kd.at(-1)! > 1) return kd.at(-1);
    }
    if (
      !['Gather', 'Slice', 'Squeeze', 'Unsqueeze', 'Identity', 'Add', 'Mul', 'Div', 'Cast', 'Flatten'].includes(
        n.opType,
      )
    )
      return undefined;
    const next = dataInput(g, n) ?? n.input[0];
    t = next;
  }
  return undefined;
}

/** Detection from the bytes of an .onnx file. */
export function detectOnnxBackbone(bytes: Uint8Array, opts: DetectOptions = {}): DetectedBackbone {
  let model: Model;
  try {
    model = onnxProto.onnx.ModelProto.decode(bytes);
  } catch (err) {
    throw new TlError(`not an ONNX model file: ${(err as Error).message}`);
  }
  return detectInGraph(model, opts);
}
