// Edits an ONNX graph so the penultimate tensor becomes an output. Works on the original model file: no pre-edited
// copies are shipped. Quantized (uint8/int8) tensors get a DequantizeLinear node with the scale and zero point of the
// QLinear op that consumes them; 4-D maps can be global-average-pooled and flattened; a transformer's tokens pooled by
// a rule (token-pool.ts: class token, mean of the patch tokens, or both).
import onnxProto from 'onnx-proto';
import { TlError } from '../../../util/errors.js';
import { DETECT_FROM_GRAPH, detectInGraph } from './detect.js';
import { tokenPoolNodes } from './token-pool.js';
import { isTokenPool, type FeatureSpec } from '../../types.js';

const { onnx } = onnxProto;
type Model = InstanceType<typeof onnx.ModelProto>;
type Node = InstanceType<typeof onnx.NodeProto>;

export const FEATURE_OUTPUT = 'tl_features';

// Ops whose first input is quantized and followed by (scale, zero point): QLinearConv, QLinearMatMul, QLinearAdd, ...
const QLINEAR_FIRST_INPUT_PARAMS: Record<string, [number, number]> = {
  QLinearMatMul: [1, 2],
  QGemm: [1, 2],
  QLinearConv: [1, 2],
  QLinearAdd: [1, 2],
  QLinearMul: [1, 2],
  QLinearGlobalAveragePool: [1, 2],
  QLinearAveragePool: [1, 2],
  DequantizeLinear: [1, 2],
};

export type FeatureEdit = FeatureSpec;

export function decodeModel(bytes: Uint8Array): Model {
  return onnx.ModelProto.decode(bytes);
}

/** Adds a float output `tl_features` [N, dim] computed from `edit.tensor`; returns the re-encoded model. */
export function exposeFeatures(bytes: Uint8Array, edit: FeatureEdit): Uint8Array {
  const model = decodeModel(bytes);
  edit = resolveDetected(model, edit);
  const graph = model.graph!;
  const nodes = graph.node as Node[];
  const producer = nodes.find((n) => n.output.includes(edit.tensor));
  const isInitializer = graph.initializer!.some((t) => t.name === edit.tensor);
  if (!producer && !isInitializer && !graph.input!.some((i) => i.name === edit.tensor)) {
    throw new TlError(
      `ONNX graph has no tensor named "${edit.tensor}"`,
      'List candidate tensors with `tl models info ID --layers`.',
    );
  }
  let current = edit.tensor;
  const added: Node[] = [];
  if (isQuantized(model, edit.tensor, producer)) {
    const consumer = nodes.find((n) => n.input[0] === edit.tensor && n.opType in QLINEAR_FIRST_INPUT_PARAMS);
    if (!consumer)
      throw new TlError(`cannot find the quantization scale of "${edit.tensor}": no QLinear op consumes it`);
    const [si, zi] = QLINEAR_FIRST_INPUT_PARAMS[consumer.opType];
    added.push(
      onnx.NodeProto.create({
        opType: 'DequantizeLinear',
        name: 'tl_dequantize_features',
        input: [current, consumer.input[si], consumer.input[zi]],
        output: ['tl_features_float'],
      }),
    );
    current = 'tl_features_float';
  }
  if (edit.pool === 'gap') {
    added.push(
      onnx.NodeProto.create({
        opType: 'GlobalAveragePool',
        name: 'tl_gap',
        input: [current],
        output: ['tl_features_pooled'],
      }),
    );
    current = 'tl_features_pooled';
  } else if (isTokenPool(edit.pool)) {
    const pooled = tokenPoolNodes(model, current, edit.pool);
    added.push(...pooled.nodes);
    graph.initializer!.push(...pooled.initializers);
    current = pooled.output;
  }
  // Flatten to [N, dim] whatever the tensor's rank (e.g. [N,C,1,1] after pooling).
  added.push(
    onnx.NodeProto.create({
      opType: 'Flatten',
      name: 'tl_flatten',
      input: [current],
      output: [FEATURE_OUTPUT],
      attribute: [onnx.AttributeProto.create({ name: 'axis', type: onnx.AttributeProto.AttributeType.INT, i: 1 })],
    }),
  );
  graph.node!.push(...added);
  makeBatchDynamic(graph);
  graph.output!.push(
    onnx.ValueInfoProto.create({
      name: FEATURE_OUTPUT,
      type: onnx.TypeProto.create({
        tensorType: onnx.TypeProto.Tensor.create({
          elemType: onnx.TensorProto.DataType.FLOAT,
          shape: onnx.TensorShapeProto.create({
            dim: [
              onnx.TensorShapeProto.Dimension.create({ dimParam: 'N' }),
              onnx.TensorShapeProto.Dimension.create({ dimValue: edit.dim }),
            ],
          }),
        }),
      }),
    }),
  );
  return onnx.ModelProto.encode(model).finish();
}

/** A zoo entry whose feature is `DETECT_FROM_GRAPH` gets the detected tensor and pooling; its dim must match. */
export function resolveDetected(model: Model, edit: FeatureEdit): FeatureEdit {
  if (edit.tensor !== DETECT_FROM_GRAPH) return edit;
  // An entry that names a token pooling rule (DINOv2: cls+mean) has it applied to the graph's token output.
  const found = detectInGraph(model, { pool: isTokenPool(edit.pool) ? edit.pool : undefined }).feature;
  if (found.dim !== edit.dim) {
    throw new TlError(
      `the feature detected in this ONNX graph is ${found.dim}-d, the model entry says ${edit.dim}-d`,
      'The file is not the network the entry describes; check its URL and sha256.',
    );
  }
  return found;
}

// Exports that fix the batch at 1 ([1,3,224,224]) still run batches once the batch axis is symbolic; the stored
// intermediate shapes would contradict that, so onnxruntime infers them again.
function makeBatchDynamic(graph: NonNullable<Model['graph']>): void {
  const fixed = [...(graph.input ?? []), ...(graph.output ?? [])].filter((v) => {
    const d0 = v.type?.tensorType?.shape?.dim?.[0];
    return d0 && !d0.dimParam && Number(d0.dimValue) === 1;
  });
  const inits = new Set(graph.initializer!.map((t) => t.name));
  if (!fixed.some((v) => !inits.has(v.name) && graph.input!.includes(v))) return;
  for (const v of fixed)
    if (!inits.has(v.name))
      v.type!.tensorType!.shape!.dim![0] = onnx.TensorShapeProto.Dimension.create({ dimParam: 'N' });
  graph.valueInfo = [];
}

function isQuantized(model: Model, tensor: string, producer: Node | undefined): boolean {
  const vi = [...(model.graph!.valueInfo ?? []), ...(model.graph!.output ?? [])].find((v) => v.name === tensor);
  const t = vi?.type?.tensorType?.elemType;
  if (t === onnx.TensorProto.DataType.UINT8 || t === onnx.TensorProto.DataType.INT8) return true;
  if (t === onnx.TensorProto.DataType.FLOAT) return false;
  // No type annotation: follow the data back through shape-only ops to the op that produced it.
  let node = producer;
  const nodes = model.graph!.node as Node[];
  for (let hops = 0; node && hops < 8; hops++) {
    if (node.opType.startsWith('QLinear') || node.opType === 'QuantizeLinear') return true;
    if (!['Reshape', 'Flatten', 'Squeeze', 'Unsqueeze', 'Transpose'].includes(node.opType)) return false;
    const src = node.input[0];
    node = nodes.find((n) => n.output.includes(src));
  }
  return false;
}
