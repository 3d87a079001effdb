// TF.js export: a layers model (model.json + one weights .bin) loadable by tf.loadLayersModel. For TF.js backbones:
// the backbone truncated at its feature layer (+ global average pooling when the zoo entry says pool 'gap'), then the
// head as Dense layers with the feature standardization folded into the first one, softmax last. Saved through
// tf.io.withSaveHandler (no tfjs-node). Weights can be stored as float16 or as uint8 with a per-tensor affine
// (scale, min): TF.js's own weight quantization, decoded back to float32 at load time.
import type * as tfType from '@tensorflow/tfjs';
import type { ModelEntry } from '../backbone/types.js';
import type { HeadWeights } from '../classifier/head.js';
import type { TailSnapshot } from '../backbone/runtimes/types.js';
import { TlError } from '../util/errors.js';
import { VERSION } from '../util/version.js';
import { toFloat16 } from '../util/f16.js';
import { foldStandardization, type WeightQuantization } from './onnx/head.js';

export const TFJS_WEIGHTS_FILE = 'weights.bin';

export interface TfjsExport {
  modelJson: Record<string, unknown>;
  weights: Uint8Array;
  /** Layers of the exported model, in order. */
  layers: number;
  params: number;
}

/** Builds the classifier as a tf.LayersModel sharing the backbone's layers (dispose only the new head layers' owner). */
export function buildTfjsClassifier(
  tf: typeof tfType,
  full: tfType.LayersModel,
  entry: ModelEntry,
  head: HeadWeights,
): tfType.LayersModel {
  let layer;
  try {
    layer = full.getLayer(entry.feature.tensor);
  } catch {
    throw new TlError(`TF.js model ${entry.id} has no layer "${entry.feature.tensor}"`);
  }
  let x = layer.output as tfType.SymbolicTensor;
  if (entry.feature.pool === 'gap')
    x = tf.layers.globalAveragePooling2d({ name: 'tl_gap' }).apply(x) as tfType.SymbolicTensor;
  return withHead(tf, full, x, entry, head);
}

/**
 * A --replace tail on a TF.js backbone: the layers up to the cut, then 1x1 conv + ReLU per hidden size with the
 * trained weights (kernel [1,1,in,out] as stored), global average pooling, then the head.
 */
export function buildTfjsReplaceClassifier(
  tf: typeof tfType,
  full: tfType.LayersModel,
  entry: ModelEntry,
  tail: TailSnapshot,
  head: HeadWeights,
): tfType.LayersModel {
  let x = (
    tail.cut === full.inputLayers[0].name ? full.inputs[0] : full.getLayer(tail.cut).output
  ) as tfType.SymbolicTensor;
  const byName = new Map(tail.variables.map((v) => [v.name, v]));
  (tail.replace ?? []).forEach((units, i) => {
    const kernel = byName.get(`conv${i}/kernel`);
    const bias = byName.get(`conv${i}/bias`);
    if (!kernel || !bias)
      throw new TlError(`the bundle's replace tail has no weights for unit ${i}`, 'The bundle is damaged; retrain it.');
    const conv = tf.layers.conv2d({ filters: units, kernelSize: 1, activation: 'relu', name: `tl_replace_${i}` });
    x = conv.apply(x) as tfType.SymbolicTensor;
    const w = [tf.tensor(kernel.data, kernel.shape), tf.tensor(bias.data, bias.shape)];
    conv.setWeights(w);
    w.forEach((t) => t.dispose());
  });
  x = tf.layers.globalAveragePooling2d({ name: 'tl_replace_pool' }).apply(x) as tfType.SymbolicTensor;
  return withHead(tf, full, x, entry, head);
}

/** Flatten if needed, the head's Dense layers (standardization folded in), softmax last. */
function withHead(
  tf: typeof tfType,
  full: tfType.LayersModel,
  features: tfType.SymbolicTensor,
  entry: ModelEntry,
  head: HeadWeights,
): tfType.LayersModel {
  let x = features;
  if (x.shape.length > 2) x = tf.layers.flatten({ name: 'tl_flatten' }).apply(x) as tfType.SymbolicTensor;
  foldStandardization(head).forEach((l, k) => {
    const dense = tf.layers.dense({ units: l.outputs, activation: l.activation, name: `tl_dense_${k}` });
    x = dense.apply(x) as tfType.SymbolicTensor;
    // Bundle W is [out, in]; a Dense kernel is [in, out].
    const kernel = new Float32Array(l.W.length);
    for (let o = 0; o < l.outputs; o++)
      for (let i = 0; i < l.inputs; i++) kernel[i * l.outputs + o] = l.W[o * l.inputs + i];
    const weights = [tf.tensor2d(kernel, [l.inputs, l.outputs]), tf.tensor1d(l.b)];
    dense.setWeights(weights);
    weights.forEach((w) => w.dispose());
  });
  return tf.model({ inputs: full.inputs, outputs: x, name: `${entry.id.replace(/[^A-Za-z0-9_]/g, '_')}_classifier` });
}

/** Serializes a layers model to model.json + one weights file, optionally with quantized weights. */
export async function saveTfjsModel(
  tf: typeof tfType,
  model: tfType.LayersModel,
  quantize: WeightQuantization,
): Promise<TfjsExport> {
  let artifacts: tfType.io.ModelArtifacts | undefined;
  await model.save(
    tf.io.withSaveHandler(async (a) => {
      artifacts = a;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  if (!artifacts?.weightSpecs || !artifacts.weightData) throw new TlError('TF.js did not produce model artifacts');
  const raw =
    artifacts.weightData instanceof ArrayBuffer
      ? artifacts.weightData
      : tf.io.CompositeArrayBuffer.join(artifacts.weightData);
  const specs: tfType.io.WeightsManifestEntry[] = [];
  const parts: Uint8Array[] = [];
  let offset = 0;
  let params = 0;
  for (const spec of artifacts.weightSpecs) {
    const n = spec.shape.reduce((a, b) => a * b, 1);
    const bytesPer = spec.dtype === 'float32' || spec.dtype === 'int32' ? 4 : spec.dtype === 'bool' ? 1 : 0;
    if (!bytesPer) throw new TlError(`cannot export weight ${spec.name} of dtype ${spec.dtype}`);
    const slice = new Uint8Array(raw, offset, n * bytesPer);
    offset += n * bytesPer;
    params += n;
    if (spec.dtype !== 'float32' || quantize === 'none') {
      specs.push({ name: spec.name, shape: spec.shape, dtype: spec.dtype });
      parts.push(slice.slice());
      continue;
    }
    const values = new Float32Array(slice.slice().buffer);
    if (quantize === 'float16') {
      const h = toFloat16(values);
      specs.push({ name: spec.name, shape: spec.shape, dtype: 'float32', quantization: { dtype: 'float16' } });
      parts.push(new Uint8Array(h.buffer));
    } else {
      // uint8 affine per tensor, the scheme of tensorflowjs_converter --quantize_uint8: v = q * scale + min.
      let min = Infinity;
      let max = -Infinity;
      for (const v of values) {
        if (v < min) min = v;
        if (v > max) max = v;
      }
      if (!Number.isFinite(min)) min = max = 0;
      const scale = max > min ? (max - min) / 255 : 1;
      const q = new Uint8Array(values.length);
      for (let i = 0; i < values.length; i++) q[i] = Math.round((values[i] - min) / scale);
      specs.push({
        name: spec.name,
        shape: spec.shape,
        dtype: 'float32',
        quantization: { dtype: 'uint8', scale, min },
      });
      parts.push(q);
    }
  }
  const total = parts.reduce((s, p) => s + p.length, 0);
  const weights = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    weights.set(p, at);
    at += p.length;
  }
  const modelJson = {
    format: 'layers-model',
    generatedBy: `TensorFlow.js tfjs-layers v${tf.version.tfjs}`,
    convertedBy: `tl-transfer ${VERSION}`,
    modelTopology: artifacts.modelTopology,
    weightsManifest: [{ paths: [TFJS_WEIGHTS_FILE], weights: specs }],
  };
  return { modelJson, weights, layers: model.layers.length, params };
}

/** model.json + weights bytes → the weightSpecs/weightData pair tf.io.fromMemory takes (handy for tests and Node). */
export function tfjsArtifactsFromFiles(
  modelJson: { modelTopology: unknown; weightsManifest: { weights: tfType.io.WeightsManifestEntry[] }[] },
  weights: Uint8Array,
): tfType.io.ModelArtifacts {
  return {
    modelTopology: modelJson.modelTopology as tfType.io.ModelArtifacts['modelTopology'],
    weightSpecs: modelJson.weightsManifest.flatMap((g) => g.weights),
    weightData: weights.buffer.slice(weights.byteOffset, weights.byteOffset + weights.byteLength) as ArrayBuffer,
  };
}
