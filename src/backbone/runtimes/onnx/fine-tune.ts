// Rungs 2-3 on the int8 ONNX model: its blocks (engine/onnx-tail reads the graph), the frozen part run by
// onnxruntime up to the cut (dequantized, NHWC), and the layers after the cut converted to float TF.js variables.
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type * as tfjs from '@tensorflow/tfjs';
import type { InputSpec, InputTensorData, ModelEntry } from '../../types.js';
import type { CutBackbone, Network, TrainableTail, Unit } from '../types.js';
import { buildTail as convertTail, CutRunner, listCuts } from './tail/index.js';
import { decodeOnnx } from './tail/graph.js';
import { TlError } from '../../../util/errors.js';
import { splitRows } from '../../../util/rows.js';

export async function listUnits(entry: ModelEntry, dir: string): Promise<{ inputCut: string; units: Unit[] }> {
  const s = listCuts(await readFile(join(dir, entry.entry)));
  const units: Unit[] = s.cuts
    .filter((c) => c.kind !== 'input' && c.kind !== 'pooled')
    .map((c, i) => ({
      index: i,
      label: c.label,
      cut: c.tensor,
      shape: [c.shape[1], c.shape[2], c.shape[0]],
      params: c.blockParams,
    }));
  return { inputCut: s.cuts[0].tensor, units };
}

/** Whether each model file is a transformer, by path, size and time (the backbone list asks on every request). */
const transformerFiles = new Map<string, boolean>();

/** Refused (TlError) when the model's graph is a transformer's: the tail converter trains CNN blocks only. */
export async function transformerRefusal(entry: ModelEntry, dir: string): Promise<TlError | undefined> {
  const file = join(dir, entry.entry);
  const st = await stat(file);
  const key = `${file}\0${st.size}\0${st.mtimeMs}`;
  let transformer = transformerFiles.get(key);
  if (transformer === undefined) {
    transformer = isTransformer(await readFile(file));
    transformerFiles.set(key, transformer);
  }
  return transformer ? transformerFineTuneError(entry.id) : undefined;
}

/** A transformer graph: LayerNormalization, or attention (a MatMul of two computed tensors, e.g. Q x K^T). */
function isTransformer(bytes: Uint8Array): boolean {
  const graph = decodeOnnx(bytes).graph;
  // Constants and what is computed from constants only (a shared weight's Identity, a transposed weight): nodes are
  // in topological order, so one pass finds them.
  const constants = new Set((graph?.initializer ?? []).map((t) => t.name));
  for (const n of graph?.node ?? [])
    if ((n.input ?? []).every((i) => !i || constants.has(i))) for (const o of n.output ?? []) constants.add(o);
  return (graph?.node ?? []).some(
    (n) =>
      n.opType === 'LayerNormalization' || (n.opType === 'MatMul' && (n.input ?? []).every((i) => !constants.has(i))),
  );
}

function transformerFineTuneError(id: string): TlError {
  return new TlError(
    `${id} is a transformer (attention and LayerNorm blocks): fine-tuning (rungs 2-3) trains the blocks of CNNs only`,
    'Use --strategy head (rung 1): a new softmax on its frozen features, which is what DINOv2 and CLIP features are made for.',
  );
}

export async function openCut(net: Network, cut: string, input: InputSpec, weightsHash: string): Promise<CutBackbone> {
  const entry = net.entry;
  if (input.size !== entry.input.size) {
    throw new TlError(
      `the int8 ONNX ${entry.id} runs at ${entry.input.size} px only`,
      'Leave --size out, or use a TF.js backbone.',
    );
  }
  const unit = net.units.find((u) => u.cut === cut);
  if (!unit) throw new TlError(`${cut} is not a block boundary of ${entry.id}`);
  const runner = await CutRunner.create(await readFile(join(net.dir, entry.entry)), [cut]);
  const dim = unit.shape[0] * unit.shape[1] * unit.shape[2];
  const per = 3 * input.size * input.size;
  return {
    id: entry.id,
    input,
    weightsHash,
    vectors: { source: cut, encoding: 'f16' },
    entry,
    featureDim: dim,
    cutShape: unit.shape,
    // onnxruntime's CPU provider: its webgpu provider needs a Vulkan adapter, and a cut runs once per image (cached).
    engine: 'onnxruntime cpu',
    async embed(batch: InputTensorData[]) {
      const data = new Float32Array(batch.length * per);
      batch.forEach((x, i) => data.set(x, i * per));
      const r = await runner.run(data, batch.length, input.size);
      return splitRows(r.cuts[cut].data, batch.length, dim);
    },
    async dispose() {
      await runner.dispose();
    },
  };
}

export async function buildTail(
  tf: typeof tfjs,
  net: Network,
  cut: string,
  cutShape: [number, number, number],
): Promise<TrainableTail> {
  const entry = net.entry;
  const tail = convertTail(
    onnxAtSize(await readFile(join(net.dir, entry.entry)), cut === net.inputCut ? cutShape[0] : undefined),
    cut,
    tf,
  );
  return {
    kind: 'onnx-tail', // = onnxRuntime.fineTuning.tailKind
    cut,
    inputShape: cutShape,
    featureDim: entry.feature.dim,
    // Cut at the input, the converted tail holds ~270 MB per 160 px image inside one apply: small chunks.
    inferBatch: cutShape[2] === 3 ? 4 : 32,
    variables: new Map(Object.entries(tail.variables)),
    apply: (x) => tail.apply(x, false),
    frozenWeights: async () => new Map(),
    dispose: () => tail.dispose(),
  };
}

/**
 * The ONNX model with its input declared at `size` px: the converted tail takes its static shapes from the graph
 * input, and every op after the input is size-agnostic (convs, adds, global pool), so a tail cut at the input can
 * train at e.g. 160 px although onnxruntime runs the int8 model at 224 only.
 */
function onnxAtSize(bytes: Uint8Array, size?: number): ReturnType<typeof decodeOnnx> {
  const model = decodeOnnx(bytes);
  if (size === undefined) return model;
  const inits = new Set((model.graph?.initializer ?? []).map((t) => t.name));
  const inp = (model.graph?.input ?? []).find((i) => !inits.has(i.name!));
  const dims = inp?.type?.tensorType?.shape?.dim;
  if (!dims || dims.length !== 4) throw new TlError('ONNX model input is not NCHW with static dims');
  dims[2].dimValue = size;
  dims[3].dimValue = size;
  return model;
}
