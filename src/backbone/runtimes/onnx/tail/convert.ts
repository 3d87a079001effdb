// Converts the part of a quantized (QOperator) ONNX CNN after a cut point into TF.js ops on float32 tf.Variables, so
// the top blocks of the int8 backbone can be fine-tuned (onnxruntime-node cannot train). Weights are dequantized
// (w = (q - zp) * scale, per tensor or per output channel), biases are int32 with scale x_scale * w_scale, and each
// quantized output's representable range [scale*(qmin-zp), scale*(qmax-zp)] becomes a clamp: for the uint8 outputs
// with zero point 0 that is the fused ReLU6 (its top is the calibrated maximum, not 6).
import type * as tfjs from '@tensorflow/tfjs';
import { TlError } from '../../../../util/errors.js';
import { registerWasmGradKernels } from '../../../../engine/wasm-grad-kernels.js';
import { clipWithFastGrad } from '../../../../engine/clip.js';
import {
  analyzeGraph,
  attrs,
  blockStructure,
  decodeOnnx,
  outputQuant,
  type BlockStructure,
  type Initializers,
  type OnnxModel,
  type OnnxNode,
  type TailGraph,
} from './graph.js';

type TF = typeof tfjs;
type Tensor = tfjs.Tensor;

export interface TailOptions {
  /**
   * Clamp the outputs of linear ops (projection convs, residual adds, pool) to their quantized range too, as the int8
   * graph saturates there. Default false: those ranges are wide enough that they almost never saturate (measured:
   * no change in accuracy), and a clamp there would stop gradients for no gain. ReLU-range outputs are always
   * clamped: that is the activation.
   */
  clampLinear?: boolean;
  /**
   * 'fake': round every quantized tensor to its int8 grid (x → round(x/scale)*scale, gradient passed straight
   * through), which reproduces onnxruntime's int8 output almost exactly. 'none' (default): plain float, i.e. the
   * int8 model without its rounding noise.
   */
  quantize?: 'none' | 'fake';
  /**
   * How convolutions run. 'matmul' (default): 1x1 convs as a matMul over [N*H*W, C] (its gradients are matMuls:
   * tens of times faster than tfjs-backend-cpu's naive Conv2DBackpropFilter), depthwise convs as tf.depthwiseConv2d
   * (on wasm its gradients are the kernels engine/wasm-grad-kernels.ts registers; measured 1.3-1.8x faster to train and
   * 1.6-1.8x faster to run than 'shifted'). 'shifted': depthwise convs as a sum of kh*kw shifted, channel-scaled copies
   * of the input, for a backend with no depthwise gradients. 'native': tf.conv2d / tf.depthwiseConv2d throughout.
   * Convs with a kernel over 1x1 and group 1 (the stem) are always native.
   */
  convImpl?: 'matmul' | 'shifted' | 'native';
  /** Also convert the classifier (QLinearMatMul + QLinearAdd after the pooled features) as a dense layer. */
  classifier?: boolean;
  /** Make the variables trainable (default true). */
  trainable?: boolean;
}

export interface TailLayerInfo {
  node: string;
  op: 'conv' | 'depthwise' | 'add' | 'pool' | 'dense';
  /** Output float clamp, or null when none is applied. */
  clamp: [number, number] | null;
  /** Names of the variables (ONNX initializer names) this layer uses. */
  variables: string[];
}

export interface Tail {
  /** The cut tensor (ONNX name) whose dequantized activation `apply` takes. */
  cut: string;
  /** Activation shape at the cut [C,H,W] (tfjs input is NHWC: [N,H,W,C]). */
  inputShape: number[];
  /** Trainable float copies of every weight and bias after the cut, keyed by ONNX initializer name. */
  variables: Record<string, tfjs.Variable>;
  /** Classifier variables (weight [1280,1000], bias [1000]) when `classifier: true`; also in `variables`. */
  classifierVariables: Record<string, tfjs.Variable>;
  layers: TailLayerInfo[];
  /** Number of float parameters in the feature tail (not counting the classifier). */
  params: number;
  /** NHWC float activation at the cut → pooled features [N, C]. */
  apply(x: tfjs.Tensor4D, training: boolean): tfjs.Tensor2D;
  /** Pooled features → ImageNet logits [N, 1000] (the original classifier); throws unless `classifier: true`. */
  classify(features: tfjs.Tensor2D): tfjs.Tensor2D;
  dispose(): void;
}

let instance = 0;

/** Builds the float TF.js tail of a quantized ONNX model after `cutTensor` (see `listCuts` for the cut names). */
export function buildTail(modelBytes: Uint8Array | OnnxModel, cutTensor: string, tf: TF, opts: TailOptions = {}): Tail {
  const model = modelBytes instanceof Uint8Array ? decodeOnnx(modelBytes) : modelBytes;
  const g = analyzeGraph(model);
  const { inits } = g;
  const start = cutTensor === g.input ? -1 : g.nodes.findIndex((n) => n.output!.includes(cutTensor));
  if (start < 0 && cutTensor !== g.input)
    throw new TlError(`no tensor "${cutTensor}" on the data path of the ONNX graph`);
  const poolIdx = g.nodes.findIndex((n) => n.opType === 'QLinearGlobalAveragePool');
  if (start > poolIdx) throw new TlError(`cut "${cutTensor}" is after the pooled features`);
  // Every later node must only read tensors made after the cut (or the cut itself).
  const known = new Set([cutTensor]);
  const featureNodes = g.nodes.slice(start + 1, poolIdx + 1);
  const classifierNodes = g.nodes.slice(poolIdx + 1).filter((n) => n.opType !== 'DequantizeLinear');
  const prefix = `tl_tail${instance++}`;
  const variables: Record<string, tfjs.Variable> = {};
  const classifierVariables: Record<string, tfjs.Variable> = {};
  const layers: TailLayerInfo[] = [];
  const trainable = opts.trainable ?? true;
  // Depthwise convs run as tf.depthwiseConv2d (see convImpl), whose gradients tfjs-wasm lacks: register ours.
  if (trainable && tf.getBackend() === 'wasm' && opts.convImpl !== 'shifted') registerWasmGradKernels(tf);
  const newVar = (name: string, t: Tensor, into = variables) => {
    const v = tf.variable(t, trainable, `${prefix}/${name}`);
    t.dispose();
    into[name] = v;
    if (into !== variables) variables[name] = v;
    return v;
  };

  type Step = (env: Map<string, Tensor>) => void;
  const featureSteps: Step[] = [];
  const classifierSteps: Step[] = [];

  // A quantized output whose range starts at 0 is a fused ReLU/ReLU6: always clamp. Others only with clampLinear.
  const clampFor = (n: OnnxNode): [number, number] | null => {
    const q = outputQuant(n, inits);
    if (!q || (q.lo < 0 && !opts.clampLinear)) return null;
    return [q.lo, q.hi];
  };
  const fakeQuant = opts.quantize === 'fake';
  // Straight-through estimator: forward rounds to the grid, backward is the identity.
  const roundSte = tf.customGrad(((x: Tensor, save: tfjs.GradSaveFunc) => {
    save([]);
    return { value: tf.round(x), gradFunc: (dy: Tensor) => dy };
  }) as unknown as Parameters<TF['customGrad']>[0]) as (x: Tensor) => Tensor;
  const quantizer = (n: OnnxNode) => {
    const q = outputQuant(n, inits);
    return (t: Tensor): Tensor => {
      if (!fakeQuant || !q) return t;
      return tf.mul(roundSte(tf.div(tf.clipByValue(t, q.lo, q.hi), q.scale)), q.scale);
    };
  };
  // One clamp per range, each with a one-kernel gradient (engine/clip.ts): tfjs's own clipByValue gradient is five.
  const clips = new Map<string, (t: Tensor) => Tensor>();
  const clamp = (t: Tensor, c: [number, number] | null): Tensor => {
    if (!c) return t;
    const key = `${c[0]},${c[1]}`;
    let f = clips.get(key);
    if (!f) clips.set(key, (f = clipWithFastGrad(tf, c[0], c[1])));
    return f(t);
  };
  const read = (env: Map<string, Tensor>, name: string): Tensor => {
    const t = env.get(name);
    if (!t)
      throw new TlError(
        `tail needs tensor "${name}" that is not computed after the cut (cut inside a residual block?)`,
      );
    return t;
  };

  for (const n of featureNodes) {
    for (const i of dataInputsOf(n))
      if (!known.has(i))
        throw new TlError(`cut "${cutTensor}" is not a block boundary: node ${n.name} reads "${i}" from before it`);
    for (const o of n.output!) known.add(o);
    featureSteps.push(convertNode(n));
  }
  if (opts.classifier) {
    for (const n of classifierNodes) {
      for (const o of n.output!) known.add(o);
      classifierSteps.push(convertNode(n, true));
    }
  }

  function convertNode(n: OnnxNode, inClassifier = false): Step {
    const [x] = n.input!;
    const out = n.output![0];
    switch (n.opType) {
      case 'QLinearConv': {
        const a = attrs(n);
        const group = (a.group as number) ?? 1;
        const strides = ((a.strides as number[]) ?? [1, 1]) as [number, number];
        const dil = ((a.dilations as number[]) ?? [1, 1]) as [number, number];
        const p = (a.pads as number[]) ?? [0, 0, 0, 0];
        const wName = n.input![3];
        const w = inits.get(wName);
        const [O, I, kh, kw] = w.dims;
        const xScale = inits.scalar(n.input![1]);
        const wScale = inits.get(n.input![4]).values;
        const wZp = inits.get(n.input![5]).values;
        const per = I * kh * kw;
        const wf = new Float32Array(w.values.length);
        for (let o = 0; o < O; o++) {
          const s = wScale.length > 1 ? wScale[o] : wScale[0];
          const z = wZp.length > 1 ? wZp[o] : wZp[0];
          for (let j = 0; j < per; j++) wf[o * per + j] = (w.values[o * per + j] - z) * s;
        }
        const oihw = tf.tensor4d(wf, [O, I, kh, kw]);
        const depthwise = group > 1 && I === 1;
        if (group > 1 && !depthwise)
          throw new TlError(`grouped conv with ${I} channels per group is not supported (${n.name})`);
        // ONNX OIHW → tfjs HWIO, or for depthwise (O = C*m, one input channel per group) → [kh, kw, C, m].
        const filterT = tf.tidy(() =>
          depthwise
            ? tf.transpose(oihw, [2, 3, 0, 1]).reshape([kh, kw, group, O / group])
            : tf.transpose(oihw, [2, 3, 1, 0]),
        );
        oihw.dispose();
        const filter = newVar(wName, filterT);
        const vars = [wName];
        let bias: tfjs.Variable | undefined;
        const bName = n.input![8];
        if (bName) {
          const b = inits.get(bName).values;
          const bf = new Float32Array(O);
          for (let o = 0; o < O; o++) bf[o] = b[o] * xScale * (wScale.length > 1 ? wScale[o] : wScale[0]);
          bias = newVar(bName, tf.tensor1d(bf));
          vars.push(bName);
        }
        const c = clampFor(n);
        const fq = quantizer(n);
        const pad: [[number, number], [number, number], [number, number], [number, number]] = [
          [0, 0],
          [p[0], p[2]],
          [p[1], p[3]],
          [0, 0],
        ];
        const symmetric = p[0] === p[1] && p[1] === p[2] && p[2] === p[3];
        layers.push({ node: n.name!, op: depthwise ? 'depthwise' : 'conv', clamp: c, variables: vars });
        const fast = (opts.convImpl ?? 'matmul') !== 'native';
        if (
          fast &&
          !depthwise &&
          kh === 1 &&
          kw === 1 &&
          strides[0] === 1 &&
          strides[1] === 1 &&
          p.every((v) => v === 0)
        ) {
          return (env) => {
            const xin = read(env, x) as tfjs.Tensor4D;
            const [nb, h, wd, ci] = xin.shape;
            let y: Tensor = tf.matMul(
              xin.reshape([nb * h * wd, ci]),
              (filter as Tensor).reshape([ci, O]) as tfjs.Tensor2D,
            );
            if (bias) y = tf.add(y, bias);
            env.set(out, fq(clamp(y.reshape([nb, h, wd, O]), c)));
          };
        }
        if (opts.convImpl === 'shifted' && depthwise && O === group) {
          return (env) => {
            const xin = read(env, x) as tfjs.Tensor4D;
            const [nb, h, wd, ch] = xin.shape;
            const ho = Math.floor((h + p[0] + p[2] - dil[0] * (kh - 1) - 1) / strides[0]) + 1;
            const wo = Math.floor((wd + p[1] + p[3] - dil[1] * (kw - 1) - 1) / strides[1]) + 1;
            // Pad enough that every strided window slice of size (ho*s, wo*s) fits, then subsample by reshaping.
            const needH = (kh - 1) * dil[0] + ho * strides[0];
            const needW = (kw - 1) * dil[1] + wo * strides[1];
            const xp = tf.pad(xin, [
              [0, 0],
              [p[0], Math.max(0, needH - h - p[0])],
              [p[1], Math.max(0, needW - wd - p[1])],
              [0, 0],
            ]);
            const wflat = (filter as Tensor).reshape([kh * kw, ch]);
            let y: Tensor | undefined;
            for (let i = 0; i < kh; i++)
              for (let j = 0; j < kw; j++) {
                let xs: Tensor = tf.slice(
                  xp,
                  [0, i * dil[0], j * dil[1], 0],
                  [nb, ho * strides[0], wo * strides[1], ch],
                );
                if (strides[0] > 1 || strides[1] > 1) {
                  // Rank 4, not 6: tfjs-wasm slices rank > 4 with a per-element JS loop (measured 40x slower).
                  xs = tf
                    .slice(xs.reshape([nb * ho, strides[0], wo, strides[1] * ch]), [0, 0, 0, 0], [nb * ho, 1, wo, ch])
                    .reshape([nb, ho, wo, ch]);
                }
                const term = tf.mul(xs, tf.slice(wflat, [i * kw + j, 0], [1, ch]).reshape([ch]));
                y = y ? tf.add(y, term) : term;
              }
            if (bias) y = tf.add(y!, bias);
            env.set(out, fq(clamp(y!, c)));
          };
        }
        return (env) => {
          const xin = read(env, x) as tfjs.Tensor4D;
          // A number pad keeps the padding symmetric like ONNX (tfjs 'same' puts the odd pixel at the bottom/right).
          let y: Tensor = depthwise
            ? tf.depthwiseConv2d(xin, filter as tfjs.Tensor4D, strides, symmetric ? p[0] : pad, 'NHWC', dil)
            : tf.conv2d(xin, filter as tfjs.Tensor4D, strides, symmetric ? p[0] : pad, 'NHWC', dil);
          if (bias) y = tf.add(y, bias);
          env.set(out, fq(clamp(y, c)));
        };
      }
      case 'QLinearAdd': {
        // A + B; in the classifier, B is the quantized bias initializer.
        const bName = n.input![3];
        let constB: tfjs.Variable | undefined;
        if (inits.has(bName)) {
          const b = inits.get(bName).values;
          const s = inits.scalar(n.input![4]);
          const z = inits.get(n.input![5]).values[0];
          constB = newVar(
            bName,
            tf.tensor1d(Float32Array.from(b, (v) => (v - z) * s)),
            inClassifier ? classifierVariables : variables,
          );
        }
        const c = clampFor(n);
        const fq = quantizer(n);
        layers.push({ node: n.name!, op: 'add', clamp: c, variables: constB ? [bName] : [] });
        return (env) => env.set(out, fq(clamp(tf.add(read(env, x), constB ?? read(env, bName)), c)));
      }
      case 'QLinearGlobalAveragePool': {
        const c = clampFor(n);
        const fq = quantizer(n);
        layers.push({ node: n.name!, op: 'pool', clamp: c, variables: [] });
        return (env) => env.set(out, fq(clamp(tf.mean(read(env, x), [1, 2]), c)));
      }
      case 'Reshape':
      case 'Flatten':
      case 'Squeeze':
        return (env) => {
          const t = read(env, x);
          env.set(out, t.reshape([t.shape[0], -1]));
        };
      case 'QLinearMatMul': {
        const wName = n.input![3];
        const w = inits.get(wName);
        const [K, N] = w.dims;
        const s = inits.get(n.input![4]).values;
        const z = inits.get(n.input![5]).values;
        const wf = new Float32Array(K * N);
        // Per-column (output unit) scales along the last axis, or one scale.
        for (let k = 0; k < K; k++)
          for (let j = 0; j < N; j++) {
            wf[k * N + j] = (w.values[k * N + j] - (z.length > 1 ? z[j] : z[0])) * (s.length > 1 ? s[j] : s[0]);
          }
        const wv = newVar(wName, tf.tensor2d(wf, [K, N]), classifierVariables);
        const c = clampFor(n);
        const fq = quantizer(n);
        layers.push({ node: n.name!, op: 'dense', clamp: c, variables: [wName] });
        return (env) => env.set(out, fq(clamp(tf.matMul(read(env, x) as tfjs.Tensor2D, wv as tfjs.Tensor2D), c)));
      }
      default:
        throw new TlError(`cannot convert ONNX op ${n.opType} (${n.name}) to TF.js`);
    }
  }

  const featureOut = g.nodes[poolIdx].output![0];
  const classifierOut = classifierNodes.at(-1)?.output![0];
  let params = 0;
  for (const [k, v] of Object.entries(variables)) if (!(k in classifierVariables)) params += v.size;
  const cShape = g.shapes.get(cutTensor)!;

  return {
    cut: cutTensor,
    inputShape: cShape,
    variables,
    classifierVariables,
    layers,
    params,
    apply(xin: tfjs.Tensor4D, _training: boolean): tfjs.Tensor2D {
      // The folded graph has no batch norm or dropout: training and inference compute the same function.
      if (xin.shape[3] !== cShape[0] || xin.shape[1] !== cShape[1] || xin.shape[2] !== cShape[2]) {
        throw new TlError(
          `tail input must be NHWC [N,${cShape[1]},${cShape[2]},${cShape[0]}], got [${xin.shape.join(',')}]`,
        );
      }
      return tf.tidy(() => {
        const env = new Map<string, Tensor>([[cutTensor, xin]]);
        for (const step of featureSteps) step(env);
        const f = env.get(featureOut)!;
        return f.reshape([f.shape[0], -1]) as tfjs.Tensor2D;
      });
    },
    classify(features: tfjs.Tensor2D): tfjs.Tensor2D {
      if (!opts.classifier || !classifierOut)
        throw new TlError('tail built without the classifier (pass { classifier: true })');
      return tf.tidy(() => {
        const env = new Map<string, Tensor>([[featureOut, features]]);
        for (const step of classifierSteps) step(env);
        return env.get(classifierOut)! as tfjs.Tensor2D;
      });
    },
    dispose() {
      for (const v of Object.values(variables)) v.dispose();
    },
  };
}

function dataInputsOf(n: OnnxNode): string[] {
  switch (n.opType) {
    case 'QLinearAdd':
    case 'QLinearMul':
    case 'QLinearMatMul':
      return [n.input![0], n.input![3]];
    default:
      return [n.input![0]];
  }
}

/** The cut points (stem, blocks, head conv, pooled features) with shapes and parameter counts. */
export function listCuts(modelBytes: Uint8Array | OnnxModel): BlockStructure {
  return blockStructure(modelBytes instanceof Uint8Array ? decodeOnnx(modelBytes) : modelBytes);
}

export type { TailGraph, Initializers };
