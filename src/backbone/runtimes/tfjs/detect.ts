// The TF.js layers counterpart of ../onnx/detect.ts: from a model.json alone (topology + weights manifest), walk back
// from the model's output through Softmax/Reshape/Flatten/Dropout (and a global pool after a 1x1 conv classifier) to
// the last Dense or 1x1 Conv2D; its input is the feature, named where the vector was made (past Reshape/Dropout that
// only change its shape), average-pooled when it is a map. The input size comes from the input layer.
import { readFile } from 'node:fs/promises';
import { TlError } from '../../../util/errors.js';
import type { DetectedBackbone } from '../types.js';

interface Layer {
  class_name: string;
  name?: string;
  config: {
    name: string;
    activation?: string;
    kernel_size?: number[];
    batch_input_shape?: (number | null)[];
    target_shape?: number[];
  };
  inbound_nodes: [string, number, number, unknown][][];
}
interface ModelJson {
  modelTopology: { model_config?: { config: Topology }; config?: Topology };
  weightsManifest: { weights: { name: string; shape: number[] }[] }[];
}
interface Topology {
  layers: Layer[];
  input_layers: [string, number, number][];
  output_layers: [string, number, number][];
}

const AFTER_CLASSIFIER = new Set([
  'Activation',
  'Softmax',
  'Reshape',
  'Flatten',
  'Dropout',
  'GlobalAveragePooling2D',
  'ReLU',
  'LeakyReLU',
]);
const SAME_VECTOR = new Set(['Reshape', 'Flatten', 'Dropout']);

export function detectTfjsLayers(json: ModelJson): DetectedBackbone {
  const topo = json.modelTopology.model_config?.config ?? json.modelTopology.config;
  if (!topo?.layers)
    throw new TlError(
      'this model.json has no layers topology (a TF.js graph model?)',
      'Register it with a JSON description.',
    );
  const byName = new Map(topo.layers.map((l) => [l.config.name, l]));
  const kernels = new Map(json.weightsManifest.flatMap((g) => g.weights).map((w) => [w.name, w.shape]));
  const inputOf = (l: Layer) => (l.inbound_nodes[0]?.length === 1 ? byName.get(l.inbound_nodes[0][0][0]) : undefined);

  const inLayer = byName.get(topo.input_layers[0]?.[0] ?? '');
  const shape = inLayer?.config.batch_input_shape;
  if (!shape || shape.length !== 4 || shape[3] !== 3)
    throw new TlError('cannot read an [N,H,W,3] image input from this model.json');
  const size = shape[1] !== null && shape[1] === shape[2] ? shape[1] : undefined;

  const output = topo.output_layers[0]?.[0] ?? '';
  let l = byName.get(output);
  let softmax = false;
  let pooledAfter = false;
  for (let hops = 0; l && hops < 32; hops++, l = inputOf(l)) {
    const kernel = kernels.get(`${l.config.name}/kernel`);
    const isConv1x1 = l.class_name === 'Conv2D' && kernel?.length === 4 && kernel[0] === 1 && kernel[1] === 1;
    if ((l.class_name === 'Dense' && kernel?.length === 2) || isConv1x1) {
      if (l.config.activation === 'softmax') softmax = true;
      const [inDim, classes] = kernel!.slice(-2);
      // Past Reshape/Flatten/Dropout only to a pooled vector (MobileNet's GAP -> Reshape -> Dropout -> 1x1 conv);
      // a flattened map (VGG) stays what the classifier reads.
      const direct = inputOf(l);
      let back = direct;
      while (back && SAME_VECTOR.has(back.class_name)) back = inputOf(back);
      let feature = back?.class_name === 'GlobalAveragePooling2D' ? back : direct;
      while (feature?.class_name === 'Dropout' && inputOf(feature)) feature = inputOf(feature)!;
      if (!feature) throw new TlError(`the classifier ${l.config.name} has no single input layer`);
      // A map (the classifier pools after itself, as Darknet does) is average-pooled; a pooled vector is taken as is.
      const pool = feature.class_name === 'GlobalAveragePooling2D' || !pooledAfter ? 'none' : 'gap';
      return {
        input: { name: inLayer!.config.name, layout: 'NHWC', size, batch: 'dynamic' },
        feature: { tensor: feature.config.name, dim: inDim, pool },
        head: { output, activation: softmax ? 'probabilities' : 'logits', classes },
        how: `classifier ${l.class_name} "${l.config.name}" (${inDim} -> ${classes}) found from output "${output}"; feature = ${pool === 'gap' ? 'its input map, global-average-pooled' : `layer "${feature.config.name}"`}`,
      };
    }
    if (!AFTER_CLASSIFIER.has(l.class_name)) break;
    if (l.class_name === 'Softmax' || l.config.activation === 'softmax') softmax = true;
    if (l.class_name === 'GlobalAveragePooling2D') pooledAfter = true;
  }
  throw new TlError(
    `cannot find the classifier in this model.json: walking back from "${output}" reached ${l ? `a ${l.class_name} layer (${l.config.name})` : 'the input'}`,
    'Register it with a JSON description naming the feature layer (docs/backbones.md, "Bring your own backbone").',
  );
}

export async function detectTfjsLayersFile(path: string): Promise<DetectedBackbone> {
  return detectTfjsLayers(JSON.parse(await readFile(path, 'utf8')) as ModelJson);
}
