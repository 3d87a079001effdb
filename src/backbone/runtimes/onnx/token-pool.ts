// The pooling rules of a transformer's token output [N, 1+P, D] (class token first) as ONNX nodes appended to the
// graph the toolkit runs and exports: 'cls' = Gather token 0; 'mean' = Slice tokens 1.. then ReduceMean over them;
// 'cls+mean' = Concat of the two (DINOv2's linear-evaluation feature). One definition for extraction and `tl export`.
// Opset 10+ (Slice with inputs); ReduceMean takes its axes as an input from opset 18, as an attribute before.
import onnxProto from 'onnx-proto';
import type { TokenPool } from '../../types.js';
import { TlError } from '../../../util/errors.js';

const { onnx } = onnxProto;
type Model = InstanceType<typeof onnx.ModelProto>;
type Node = InstanceType<typeof onnx.NodeProto>;
type Tensor = InstanceType<typeof onnx.TensorProto>;

const INT = onnx.AttributeProto.AttributeType.INT;
const INTS = onnx.AttributeProto.AttributeType.INTS;

function int64(name: string, values: number[], scalar = false): Tensor {
  const raw = new BigInt64Array(values.map((v) => BigInt(v)));
  return onnx.TensorProto.create({
    name,
    dataType: onnx.TensorProto.DataType.INT64,
    dims: scalar ? [] : [values.length],
    rawData: new Uint8Array(raw.buffer),
  });
}

/** The default-domain opset the graph imports (ReduceMean takes its axes as an input from 18, Slice from 10). */
export function defaultOpset(model: Model): number {
  return Number((model.opsetImport ?? []).find((o) => !o.domain || o.domain === 'ai.onnx')?.version ?? 0);
}

/** Nodes and constants that pool `tokens` by `pool`; the result is tensor `output` [N, D] or [N, 2D]. */
export function tokenPoolNodes(
  model: Model,
  tokens: string,
  pool: TokenPool,
): { nodes: Node[]; initializers: Tensor[]; output: string } {
  const opset = defaultOpset(model);
  // Slice takes starts/ends/axes as inputs from opset 10; transformer exports are 11+ (LayerNormalization: 17).
  if (opset < 10)
    throw new TlError(
      `pooling a token output needs an ONNX graph of opset 10 or newer; this one declares opset ${opset}`,
      'Export the model again with a newer opset (torch.onnx.export(..., opset_version=17)).',
    );
  const nodes: Node[] = [];
  const initializers: Tensor[] = [];
  const cls = () => {
    initializers.push(int64('tl_pool_cls_index', [0], true));
    nodes.push(
      onnx.NodeProto.create({
        opType: 'Gather',
        name: 'tl_pool_cls',
        input: [tokens, 'tl_pool_cls_index'],
        output: ['tl_pool_cls'],
        attribute: [onnx.AttributeProto.create({ name: 'axis', type: INT, i: 1 })],
      }),
    );
    return 'tl_pool_cls';
  };
  const mean = () => {
    // The patch tokens: every token after the class token (Slice clamps the end to the token count).
    initializers.push(
      int64('tl_pool_patch_starts', [1]),
      int64('tl_pool_patch_ends', [Number.MAX_SAFE_INTEGER]),
      int64('tl_pool_token_axis', [1]),
    );
    nodes.push(
      onnx.NodeProto.create({
        opType: 'Slice',
        name: 'tl_pool_patches',
        input: [tokens, 'tl_pool_patch_starts', 'tl_pool_patch_ends', 'tl_pool_token_axis'],
        output: ['tl_pool_patches'],
      }),
    );
    const keepdims = onnx.AttributeProto.create({ name: 'keepdims', type: INT, i: 0 });
    if (opset >= 18) {
      nodes.push(
        onnx.NodeProto.create({
          opType: 'ReduceMean',
          name: 'tl_pool_mean',
          input: ['tl_pool_patches', 'tl_pool_token_axis'],
          output: ['tl_pool_mean'],
          attribute: [keepdims],
        }),
      );
    } else {
      nodes.push(
        onnx.NodeProto.create({
          opType: 'ReduceMean',
          name: 'tl_pool_mean',
          input: ['tl_pool_patches'],
          output: ['tl_pool_mean'],
          attribute: [onnx.AttributeProto.create({ name: 'axes', type: INTS, ints: [1] }), keepdims],
        }),
      );
    }
    return 'tl_pool_mean';
  };
  if (pool === 'cls') return { nodes, initializers, output: cls() };
  if (pool === 'mean') return { nodes, initializers, output: mean() };
  const parts = [cls(), mean()];
  nodes.push(
    onnx.NodeProto.create({
      opType: 'Concat',
      name: 'tl_pool_cls_mean',
      input: parts,
      output: ['tl_pool_cls_mean'],
      attribute: [onnx.AttributeProto.create({ name: 'axis', type: INT, i: 1 })],
    }),
  );
  return { nodes, initializers, output: 'tl_pool_cls_mean' };
}
