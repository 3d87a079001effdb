// The trained top of the classifier as plain arrays: standardize → dense layers → softmax. One forward function used
// by prediction, evaluation and the saved bundle, so they all compute exactly the same thing.
import { softmaxInPlace } from '../util/math.js';

export interface DenseLayer {
  /** out x in, row-major. */
  W: Float32Array;
  b: Float32Array;
  inputs: number;
  outputs: number;
  activation: 'relu' | 'softmax';
}

export interface HeadWeights {
  kind: 'linear' | 'mlp';
  /** Feature standardization learned on the training set: x' = (x - mean) / std. */
  mean: Float32Array;
  std: Float32Array;
  layers: DenseLayer[];
}

/** The linear head (a new softmax) over standardized features: W is K x dim, row-major. */
export function linearHead(
  standardizer: { mean: Float32Array; std: Float32Array },
  W: Float32Array,
  b: Float32Array,
): HeadWeights {
  const K = b.length;
  return {
    kind: 'linear',
    mean: standardizer.mean,
    std: standardizer.std,
    layers: [{ W, b, inputs: W.length / K, outputs: K, activation: 'softmax' }],
  };
}

/** Class scores before the softmax (logits) for one feature vector. */
export function headLogits(head: HeadWeights, feature: Float32Array): Float32Array {
  let x = new Float32Array(feature.length);
  for (let i = 0; i < x.length; i++) x[i] = (feature[i] - head.mean[i]) / head.std[i];
  for (const layer of head.layers) {
    const out = new Float32Array(layer.outputs);
    for (let o = 0; o < layer.outputs; o++) {
      let s = layer.b[o];
      const row = o * layer.inputs;
      for (let i = 0; i < layer.inputs; i++) s += layer.W[row + i] * x[i];
      out[o] = s;
    }
    if (layer.activation === 'relu') for (let o = 0; o < out.length; o++) out[o] = out[o] > 0 ? out[o] : 0;
    x = out;
  }
  return x;
}

/** The head's logits of feature rows, as one n x K array (a temperature's input). */
export function logitRows(head: HeadWeights, rows: readonly Float32Array[]): Float64Array {
  const K = head.layers[head.layers.length - 1].outputs;
  const out = new Float64Array(rows.length * K);
  rows.forEach((f, i) => out.set(headLogits(head, f), i * K));
  return out;
}

/** Class probabilities for one feature vector. */
export function headForward(head: HeadWeights, feature: Float32Array): Float32Array {
  return softmaxInPlace(headLogits(head, feature));
}

/**
 * The same head with its logits divided by `temperature` (the last layer's W and b scaled): a calibrated head is an
 * ordinary head, so bundles, exports and the server need not know (solvers/temperature.ts).
 */
export function withTemperature(head: HeadWeights, temperature: number): HeadWeights {
  const last = head.layers[head.layers.length - 1];
  const scale = (a: Float32Array) => a.map((v) => v / temperature);
  return { ...head, layers: [...head.layers.slice(0, -1), { ...last, W: scale(last.W), b: scale(last.b) }] };
}
