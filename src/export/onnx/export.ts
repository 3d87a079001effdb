// ONNX export: one .onnx file = the backbone up to its feature cut + the trained head + softmax.
// - ONNX backbones: the original model file, with the same feature exposure as onnx-graph.ts (exposeFeatures:
//   DequantizeLinear of the int8 feature tensor, Flatten), the head appended, the original 1000-way output removed
//   and every node that no longer feeds an output pruned.
// - TF.js backbones: the layers up to the feature layer converted to ONNX ops (tfjs-to-onnx.ts), NCHW input.
// Outputs: `probabilities` [N, classes] and (unless turned off) `features` [N, dim], the vector the unknown check uses.
import type * as tfType from '@tensorflow/tfjs';
import { decodeModel, exposeFeatures, FEATURE_OUTPUT } from '../../backbone/runtimes/onnx/graph.js';
import type { ModelEntry } from '../../backbone/types.js';
import type { HeadWeights } from '../../classifier/head.js';
import { TlError } from '../../util/errors.js';
import { VERSION } from '../../util/version.js';
import { onnx, pruneGraph, valueInfo, node, type OnnxModel } from './build.js';
import { appendHeadNodes, FEATURES_OUTPUT, PROBABILITIES_OUTPUT, type WeightQuantization } from './head.js';
import { tfjsLayersToOnnx } from './from-tfjs.js';

export interface OnnxExportOptions {
  quantize?: WeightQuantization;
  /** Also output the feature vector (for the unknown check). Default true. */
  features?: boolean;
  /** Stored in the model's metadata_props. */
  metadata?: Record<string, string>;
}

export interface OnnxExport {
  bytes: Uint8Array;
  inputName: string;
  /** [batch, 3, H, W] with a symbolic batch. */
  inputShape: (number | string)[];
  outputs: string[];
  /** Nodes of the source graph that were pruned (the original classifier). */
  prunedNodes: number;
  opset: number;
}

/** ONNX backbone file bytes + trained head → one model. */
export function exportOnnxFromOnnxBackbone(
  backboneBytes: Uint8Array,
  entry: ModelEntry,
  head: HeadWeights,
  numClasses: number,
  opts: OnnxExportOptions = {},
): OnnxExport {
  const model = decodeModel(exposeFeatures(backboneBytes, entry.feature));
  const g = model.graph!;
  // tl_features → features
  for (const n of g.node!) n.output = n.output!.map((o) => (o === FEATURE_OUTPUT ? FEATURES_OUTPUT : o));
  for (const n of g.node!) n.input = n.input!.map((o) => (o === FEATURE_OUTPUT ? FEATURES_OUTPUT : o));
  const inits = new Set((g.initializer ?? []).map((t) => t.name!));
  const input = (g.input ?? []).find((i) => !inits.has(i.name!));
  if (!input) throw new TlError(`${entry.id}: the ONNX graph has no input`);
  const dims = (input.type!.tensorType!.shape!.dim ?? []).map((d) => (d.dimParam ? d.dimParam : Number(d.dimValue)));
  const batch = typeof dims[0] === 'string' && dims[0] ? dims[0] : 'N';
  appendHeadNodes(model, FEATURES_OUTPUT, head, opts.quantize ?? 'none');
  g.output = [valueInfo(PROBABILITIES_OUTPUT, [batch, numClasses])];
  if (opts.features !== false) g.output.push(valueInfo(FEATURES_OUTPUT, [batch, entry.feature.dim]));
  const prunedNodes = pruneGraph(model);
  const opset = defaultOpset(model);
  finishOnnxModel(model, opts.metadata);
  return {
    bytes: onnx.ModelProto.encode(model).finish(),
    inputName: input.name!,
    inputShape: dims,
    outputs: g.output.map((o) => o.name!),
    prunedNodes,
    opset,
  };
}

const TFJS_OPSET = 13;

/** TF.js backbone (loaded layers model) + trained head → one ONNX model with an NCHW float input named `input`. */
export function exportOnnxFromTfjsBackbone(
  full: tfType.LayersModel,
  entry: ModelEntry,
  head: HeadWeights,
  numClasses: number,
  opts: OnnxExportOptions = {},
): OnnxExport & { layers: string[] } {
  const conv = tfjsLayersToOnnx(full, entry.feature.tensor, {
    inputName: 'input',
    quantize: opts.quantize === 'float16' ? 'float16' : 'none',
  });
  const nodes = [...conv.nodes];
  let feat = conv.output;
  if (entry.feature.pool === 'gap') {
    if (conv.outputRank !== 4)
      throw new TlError(`${entry.id}: feature layer ${entry.feature.tensor} is not a 4-D map to pool`);
    nodes.push(node('GlobalAveragePool', [feat], ['tl_gap'], 'tl_gap'));
    feat = 'tl_gap';
  }
  nodes.push(node('Flatten', [feat], [FEATURES_OUTPUT], 'tl_flatten', { axis: 1 }));
  const { channels, height, width } = conv.input;
  const inputShape: (number | string)[] = ['N', channels, height, width];
  const model = onnx.ModelProto.create({
    irVersion: 7,
    opsetImport: [onnx.OperatorSetIdProto.create({ domain: '', version: TFJS_OPSET })],
    graph: onnx.GraphProto.create({
      name: `${entry.id}-classifier`,
      node: nodes,
      initializer: conv.initializers,
      input: [valueInfo('input', inputShape)],
      output: [],
      valueInfo: [],
    }),
  });
  // int8 applies to the head only here; the backbone's float weights stay float32 (or float16 with --quantize float16).
  appendHeadNodes(model, FEATURES_OUTPUT, head, opts.quantize ?? 'none');
  model.graph!.output = [valueInfo(PROBABILITIES_OUTPUT, ['N', numClasses])];
  if (opts.features !== false) model.graph!.output.push(valueInfo(FEATURES_OUTPUT, ['N', entry.feature.dim]));
  const prunedNodes = pruneGraph(model);
  finishOnnxModel(model, opts.metadata);
  return {
    bytes: onnx.ModelProto.encode(model).finish(),
    inputName: 'input',
    inputShape,
    outputs: model.graph!.output.map((o) => o.name!),
    prunedNodes,
    opset: TFJS_OPSET,
    layers: conv.layers,
  };
}

function defaultOpset(model: OnnxModel): number {
  return Number((model.opsetImport ?? []).find((o) => !o.domain || o.domain === 'ai.onnx')?.version ?? 0);
}

export function finishOnnxModel(model: OnnxModel, metadata: Record<string, string> = {}): void {
  model.producerName = 'tl-transfer';
  model.producerVersion = VERSION;
  model.docString =
    'Image classifier exported by tl (tl-transfer): pretrained backbone + trained head. See metadata.json.';
  model.metadataProps = Object.entries(metadata).map(([key, value]) =>
    onnx.StringStringEntryProto.create({ key, value }),
  );
}
