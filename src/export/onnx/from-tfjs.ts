// Converts a TF.js layers model, up to one layer, into ONNX nodes computing the same thing in NCHW. Covers the layer
// types of the zoo's TF.js backbones: Conv2D, DepthwiseConv2D, BatchNormalization, Activation / ReLU / ReLU6 /
// LeakyReLU, ZeroPadding2D, MaxPooling2D / AveragePooling2D, GlobalAveragePooling2D, Reshape (to a vector), Flatten,
// Dropout, Dense, Add. TF's "same" padding (extra pixel at the bottom/right) becomes explicit asymmetric ONNX pads.
import type * as tfType from '@tensorflow/tfjs';
import { TlError } from '../../util/errors.js';
import { DT, float16Tensor, floatTensor, int64Tensor, node, type OnnxNode, type OnnxTensor } from './build.js';
import type { WeightQuantization } from './head.js';

export interface ConvertedGraph {
  nodes: OnnxNode[];
  initializers: OnnxTensor[];
  /** The ONNX graph input: NCHW [N, C, H, W]. */
  input: { name: string; channels: number; height: number; width: number };
  /** The tensor holding the requested layer's activation (NCHW maps, or [N, C] vectors). */
  output: string;
  /** Rank of `output` (2 or 4). */
  outputRank: number;
  /** TF.js layers converted, in order. */
  layers: string[];
}

type Layer = ReturnType<tfType.LayersModel['getLayer']>;
type Cfg = Record<string, unknown>;

/** Converts every layer that `untilLayer` depends on. The ONNX input is `inputName`, NCHW float32. */
export function tfjsLayersToOnnx(
  model: tfType.LayersModel,
  untilLayer: string,
  opts: { inputName?: string; quantize?: WeightQuantization } = {},
): ConvertedGraph {
  const quantize = opts.quantize ?? 'none';
  const target = model.getLayer(untilLayer);
  const spatial = (name: string, shape: (number | null)[]): [number, number] => {
    if (!(shape[1]! > 0 && shape[2]! > 0)) throw new TlError(`TF.js→ONNX: layer ${name} has no fixed input size`);
    return [shape[1]!, shape[2]!];
  };
  const inbound = (l: Layer): Layer[] => {
    const nodes = (l as unknown as { inboundNodes: { inboundLayers: Layer[] }[] }).inboundNodes;
    return nodes.length ? nodes[0].inboundLayers : [];
  };
  // Layers the target depends on, in the model's (topological) order.
  const needed = new Set<Layer>();
  const stack: Layer[] = [target];
  while (stack.length) {
    const l = stack.pop()!;
    if (needed.has(l)) continue;
    needed.add(l);
    stack.push(...inbound(l));
  }
  const order = model.layers.filter((l) => needed.has(l));
  const nodes: OnnxNode[] = [];
  const initializers: OnnxTensor[] = [];
  const tensorOf = new Map<string, string>();
  const rankOf = new Map<string, number>();
  let input: ConvertedGraph['input'] | undefined;
  const inputName = opts.inputName ?? 'input';

  const weight = (name: string, dims: number[], data: Float32Array): string => {
    // Only big tensors (conv kernels) are stored in float16; BN statistics and biases stay float32.
    if (quantize === 'float16' && data.length >= 256) {
      initializers.push(float16Tensor(`${name}_f16`, dims, data));
      nodes.push(node('Cast', [`${name}_f16`], [name], `${name}_cast`, { to: DT.FLOAT }));
    } else initializers.push(floatTensor(name, dims, data));
    return name;
  };
  const constant = (name: string, dims: number[], data: Float32Array) => (
    initializers.push(floatTensor(name, dims, data)),
    name
  );

  for (const layer of order) {
    const cls = layer.getClassName();
    const cfg = layer.getConfig() as Cfg;
    const name = layer.name;
    const ins = inbound(layer).map((l) => {
      const t = tensorOf.get(l.name);
      if (!t) throw new TlError(`TF.js→ONNX: layer ${name} reads ${l.name}, which was not converted`);
      return t;
    });
    const x = ins[0];
    // The shape of the first input as TF.js inferred it when the model was built (NHWC, batch first).
    const firstNode = (layer as unknown as { inboundNodes: { inputShapes: (number | null)[] | (number | null)[][] }[] })
      .inboundNodes[0];
    const shapeIn = firstNode?.inputShapes ?? [];
    const inShape = (Array.isArray(shapeIn[0]) ? shapeIn[0] : shapeIn) as (number | null)[];
    const rank = ins.length ? rankOf.get(inbound(layer)[0].name)! : 4;
    const out = `${name}`;
    let outRank = rank;
    const weights = () => layer.getWeights().map((w) => ({ shape: w.shape, data: w.dataSync() as Float32Array }));
    const activation = (t: string, act: unknown): string =>
      applyActivation(nodes, constant, t, String(act ?? 'linear'), `${name}_act`);
    switch (cls) {
      case 'InputLayer': {
        const [, h, w, c] = (cfg.batchInputShape as number[]) ?? [];
        if (!h || !w || !c) throw new TlError(`TF.js→ONNX: input layer ${name} needs a fixed [H, W, C] shape`);
        input = { name: inputName, channels: c, height: h, width: w };
        tensorOf.set(name, inputName);
        rankOf.set(name, 4);
        continue;
      }
      case 'Conv2D':
      case 'DepthwiseConv2D': {
        if (cfg.dataFormat && cfg.dataFormat !== 'channelsLast')
          throw new TlError(`TF.js→ONNX: ${name} is not channels-last`);
        const ws = weights();
        const k = ws[0];
        const [kh, kw] = k.shape as number[];
        const strides = (cfg.strides as number[]) ?? [1, 1];
        const dil = (cfg.dilationRate as number[] | number | undefined) ?? [1, 1];
        const dilations = Array.isArray(dil) ? dil : [dil, dil];
        const pads = tfPads(String(cfg.padding), spatial(name, inShape), [kh, kw], strides, dilations);
        let wdata: Float32Array;
        let wdims: number[];
        let group = 1;
        if (cls === 'Conv2D') {
          const [, , ci, co] = k.shape as number[];
          // HWIO → OIHW
          wdata = new Float32Array(k.data.length);
          for (let y = 0; y < kh; y++)
            for (let xx = 0; xx < kw; xx++)
              for (let i = 0; i < ci; i++)
                for (let o = 0; o < co; o++) {
                  wdata[((o * ci + i) * kh + y) * kw + xx] = k.data[((y * kw + xx) * ci + i) * co + o];
                }
          wdims = [co, ci, kh, kw];
        } else {
          const [, , c, m] = k.shape as number[];
          // [kh, kw, C, m] → [C*m, 1, kh, kw]; output channel c*m + j, as in TF.
          wdata = new Float32Array(k.data.length);
          for (let y = 0; y < kh; y++)
            for (let xx = 0; xx < kw; xx++)
              for (let ch = 0; ch < c; ch++)
                for (let j = 0; j < m; j++) {
                  wdata[((ch * m + j) * kh + y) * kw + xx] = k.data[((y * kw + xx) * c + ch) * m + j];
                }
          wdims = [c * m, 1, kh, kw];
          group = c;
        }
        const inputs = [x, weight(`${name}_W`, wdims, wdata)];
        if (cfg.useBias && ws[1]) inputs.push(constant(`${name}_b`, [ws[1].data.length], ws[1].data));
        const conv = cfg.activation && cfg.activation !== 'linear' ? `${name}_conv` : out;
        nodes.push(node('Conv', inputs, [conv], name, { kernel_shape: [kh, kw], strides, dilations, pads, group }));
        if (conv !== out) nodes.push(node('Identity', [activation(conv, cfg.activation)], [out], `${name}_out`));
        break;
      }
      case 'BatchNormalization': {
        const axis = (cfg.axis as number) ?? -1;
        if (axis !== -1 && axis !== rank - 1)
          throw new TlError(`TF.js→ONNX: ${name} normalizes axis ${axis}; only the channel axis is supported`);
        const ws = weights();
        const c = ws.at(-1)!.data.length;
        let i = 0;
        const gamma = cfg.scale === false ? new Float32Array(c).fill(1) : ws[i++].data;
        const beta = cfg.center === false ? new Float32Array(c) : ws[i++].data;
        const mean = ws[i++].data;
        const variance = ws[i++].data;
        nodes.push(
          node(
            'BatchNormalization',
            [
              x,
              constant(`${name}_gamma`, [c], gamma),
              constant(`${name}_beta`, [c], beta),
              constant(`${name}_mean`, [c], mean),
              constant(`${name}_var`, [c], variance),
            ],
            [out],
            name,
            { epsilon: { float: (cfg.epsilon as number) ?? 1e-3 } },
          ),
        );
        break;
      }
      case 'Activation':
        nodes.push(node('Identity', [activation(x, cfg.activation)], [out], name));
        break;
      case 'ReLU': {
        const max = cfg.maxValue as number | null | undefined;
        if (max != null)
          nodes.push(
            node(
              'Clip',
              [
                x,
                constant(`${name}_min`, [], new Float32Array([0])),
                constant(`${name}_max`, [], new Float32Array([max])),
              ],
              [out],
              name,
            ),
          );
        else nodes.push(node('Relu', [x], [out], name));
        break;
      }
      case 'LeakyReLU':
        nodes.push(node('LeakyRelu', [x], [out], name, { alpha: { float: (cfg.alpha as number) ?? 0.3 } }));
        break;
      case 'ZeroPadding2D': {
        const p = cfg.padding as number[][];
        nodes.push(
          node(
            'Pad',
            [x, int64Tensor2(initializers, `${name}_pads`, [0, 0, p[0][0], p[1][0], 0, 0, p[0][1], p[1][1]])],
            [out],
            name,
            { mode: 'constant' },
          ),
        );
        break;
      }
      case 'MaxPooling2D':
      case 'AveragePooling2D': {
        const pool = cfg.poolSize as number[];
        const strides = (cfg.strides as number[]) ?? pool;
        const pads = tfPads(String(cfg.padding), spatial(name, inShape), pool, strides, [1, 1]);
        nodes.push(
          node(cls === 'MaxPooling2D' ? 'MaxPool' : 'AveragePool', [x], [out], name, {
            kernel_shape: pool,
            strides,
            pads,
            ...(cls === 'AveragePooling2D' ? { count_include_pad: 0 } : {}),
          }),
        );
        break;
      }
      case 'GlobalAveragePooling2D':
        nodes.push(node('GlobalAveragePool', [x], [`${name}_pooled`], name));
        nodes.push(node('Flatten', [`${name}_pooled`], [out], `${name}_flatten`, { axis: 1 }));
        outRank = 2;
        break;
      case 'Flatten':
        // Keras flattens NHWC: transpose back before flattening so the element order matches.
        if (rank === 4) {
          nodes.push(node('Transpose', [x], [`${name}_nhwc`], `${name}_transpose`, { perm: [0, 2, 3, 1] }));
          nodes.push(node('Flatten', [`${name}_nhwc`], [out], name, { axis: 1 }));
        } else nodes.push(node('Flatten', [x], [out], name, { axis: 1 }));
        outRank = 2;
        break;
      case 'Reshape': {
        const target = cfg.targetShape as number[];
        if (rank === 2 && target.length === 3 && target[0] === 1 && target[1] === 1) {
          // [N, C] → NHWC [N, 1, 1, C], which is NCHW [N, C, 1, 1].
          nodes.push(node('Reshape', [x, int64Tensor2(initializers, `${name}_shape`, [0, -1, 1, 1])], [out], name));
          outRank = 4;
        } else if (target.length === 1 && (rank === 2 || inShape.slice(1, 3).every((d) => d === 1))) {
          nodes.push(node('Flatten', [x], [out], name, { axis: 1 }));
          outRank = 2;
        } else throw new TlError(`TF.js→ONNX: reshape ${name} to [${target.join(',')}] is not supported`);
        break;
      }
      case 'Dropout':
        nodes.push(node('Identity', [x], [out], name));
        break;
      case 'Dense': {
        if (rank !== 2) throw new TlError(`TF.js→ONNX: dense layer ${name} on a rank-${rank} input is not supported`);
        const ws = weights();
        const [ni, no] = ws[0].shape as number[];
        const inputs = [x, weight(`${name}_W`, [ni, no], ws[0].data)];
        inputs.push(constant(`${name}_b`, [no], cfg.useBias && ws[1] ? ws[1].data : new Float32Array(no)));
        const z = cfg.activation && cfg.activation !== 'linear' ? `${name}_z` : out;
        nodes.push(node('Gemm', inputs, [z], name));
        if (z !== out) nodes.push(node('Identity', [activation(z, cfg.activation)], [out], `${name}_out`));
        break;
      }
      case 'Add':
        nodes.push(node('Sum', ins, [out], name));
        break;
      default:
        throw new TlError(`TF.js→ONNX: layer type ${cls} (${name}) is not supported`);
    }
    tensorOf.set(name, out);
    rankOf.set(name, outRank);
  }
  if (!input) throw new TlError('TF.js→ONNX: the model has no input layer');
  return {
    nodes,
    initializers,
    input,
    output: tensorOf.get(target.name)!,
    outputRank: rankOf.get(target.name)!,
    layers: order.map((l) => l.name),
  };
}

function int64Tensor2(inits: OnnxTensor[], name: string, values: number[]): string {
  inits.push(int64Tensor(name, [values.length], values));
  return name;
}

/** ONNX pads [top, left, bottom, right] for TF padding 'valid' or 'same' (the odd pixel goes bottom/right). */
export function tfPads(padding: string, inHW: number[], k: number[], s: number[], d: number[]): number[] {
  if (padding === 'valid') return [0, 0, 0, 0];
  if (padding !== 'same') throw new TlError(`TF.js→ONNX: padding "${padding}" is not supported`);
  const begin: number[] = [];
  const end: number[] = [];
  for (let i = 0; i < 2; i++) {
    const out = Math.ceil(inHW[i] / s[i]);
    const total = Math.max((out - 1) * s[i] + (k[i] - 1) * d[i] + 1 - inHW[i], 0);
    begin.push(Math.floor(total / 2));
    end.push(total - Math.floor(total / 2));
  }
  return [begin[0], begin[1], end[0], end[1]];
}

function applyActivation(
  nodes: OnnxNode[],
  constant: (n: string, d: number[], v: Float32Array) => string,
  x: string,
  act: string,
  name: string,
): string {
  const out = `${name}_${act}`;
  switch (act) {
    case 'linear':
      return x;
    case 'relu':
      nodes.push(node('Relu', [x], [out], name));
      return out;
    case 'relu6':
      nodes.push(
        node(
          'Clip',
          [x, constant(`${name}_min`, [], new Float32Array([0])), constant(`${name}_max`, [], new Float32Array([6]))],
          [out],
          name,
        ),
      );
      return out;
    case 'sigmoid':
      nodes.push(node('Sigmoid', [x], [out], name));
      return out;
    case 'tanh':
      nodes.push(node('Tanh', [x], [out], name));
      return out;
    case 'softmax':
      nodes.push(node('Softmax', [x], [out], name, { axis: 1 }));
      return out;
    default:
      throw new TlError(`TF.js→ONNX: activation "${act}" is not supported`);
  }
}
