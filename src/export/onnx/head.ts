// The trained head as ONNX nodes: standardization folded into the first dense layer, Gemm (+ Relu) per layer, and a
// Softmax that makes `probabilities`. Weights can be stored as float32, float16 (Cast back to float) or int8 with a
// per-row scale (Cast + Mul): the arithmetic stays float32 either way.
import type { HeadWeights, DenseLayer } from '../../classifier/head.js';
import { DT, float16Tensor, floatTensor, int8Tensor, node, quantizeInt8Rows, type OnnxModel } from './build.js';

export type WeightQuantization = 'none' | 'int8' | 'float16';

export const PROBABILITIES_OUTPUT = 'probabilities';
export const FEATURES_OUTPUT = 'features';

/**
 * The head's dense layers with the feature standardization folded into the first one:
 * W'[o,i] = W[o,i] / std[i], b'[o] = b[o] - sum_i W[o,i] * mean[i] / std[i]. Same function, one layer fewer.
 */
export function foldStandardization(head: HeadWeights): DenseLayer[] {
  const [first, ...rest] = head.layers;
  const W = new Float32Array(first.W.length);
  const b = new Float32Array(first.outputs);
  for (let o = 0; o < first.outputs; o++) {
    let shift = 0;
    const row = o * first.inputs;
    for (let i = 0; i < first.inputs; i++) {
      W[row + i] = first.W[row + i] / head.std[i];
      shift += (first.W[row + i] * head.mean[i]) / head.std[i];
    }
    b[o] = first.b[o] - shift;
  }
  return [{ ...first, W, b }, ...rest];
}

/** Appends the head after `featureTensor` ([N, dim] float) to the model's graph; its last node outputs `output`. */
export function appendHeadNodes(
  model: OnnxModel,
  featureTensor: string,
  head: HeadWeights,
  quantize: WeightQuantization,
  output = PROBABILITIES_OUTPUT,
): void {
  const g = model.graph!;
  let x = featureTensor;
  foldStandardization(head).forEach((layer, k) => {
    const p = `tl_head_${k}`;
    const weight = `${p}_W`;
    if (quantize === 'float16') {
      g.initializer!.push(float16Tensor(`${weight}_f16`, [layer.outputs, layer.inputs], layer.W));
      g.node!.push(node('Cast', [`${weight}_f16`], [weight], `${p}_dequantize`, { to: DT.FLOAT }));
    } else if (quantize === 'int8') {
      const { q, scales } = quantizeInt8Rows(layer.W, layer.outputs, layer.inputs);
      g.initializer!.push(int8Tensor(`${weight}_int8`, [layer.outputs, layer.inputs], q));
      g.initializer!.push(floatTensor(`${weight}_scale`, [layer.outputs, 1], scales));
      g.node!.push(node('Cast', [`${weight}_int8`], [`${weight}_int8f`], `${p}_cast`, { to: DT.FLOAT }));
      g.node!.push(node('Mul', [`${weight}_int8f`, `${weight}_scale`], [weight], `${p}_dequantize`));
    } else {
      g.initializer!.push(floatTensor(weight, [layer.outputs, layer.inputs], layer.W));
    }
    g.initializer!.push(floatTensor(`${p}_b`, [layer.outputs], layer.b));
    // Gemm with transB: W stays [out, in] row-major as in the bundle.
    const z = layer.activation === 'relu' ? `${p}_z` : `${p}_logits`;
    g.node!.push(node('Gemm', [x, weight, `${p}_b`], [z], `${p}_gemm`, { transB: 1 }));
    if (layer.activation === 'relu') {
      g.node!.push(node('Relu', [z], [`${p}_out`], `${p}_relu`));
      x = `${p}_out`;
    } else {
      g.node!.push(node('Softmax', [z], [output], `${p}_softmax`, { axis: 1 }));
      x = output;
    }
  });
}
