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

/** Class probabilities for one feature vector. */
export function headForward(head: HeadWeights, feature: Float32Array): Float32Array {
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
    else softmaxInPlace(out);
    x = out;
  }
  return x;
}
