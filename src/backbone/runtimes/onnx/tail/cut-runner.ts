// Runs the int8 ONNX model in onnxruntime-node with extra float outputs: the dequantized activation at one or more
// cut tensors (for feeding a TF.js tail), the pooled features `tl_features` and the original logits (for checking it).
import { availableParallelism } from 'node:os';
import { createSession, type OnnxSession } from '../session.js';
import { exposeFeatures, FEATURE_OUTPUT, type FeatureEdit } from '../graph.js';
import { cutOutputName, decodeOnnx, encodeOnnx, exposeCuts } from './graph.js';

export interface CutRun {
  /** Per cut tensor: the dequantized activation, NHWC (transposed from ORT's NCHW), and its shape [N,H,W,C]. */
  cuts: Record<string, { data: Float32Array; shape: [number, number, number, number] }>;
  /** `tl_features` [N, dim] when the runner was made with a feature edit. */
  features?: Float32Array;
  /** The model's own output (logits) [N, classes] when asked for. */
  logits?: Float32Array;
}

/** Returns the model bytes with `cutOutputName(t)` float NCHW outputs added for each tensor (and `tl_features`). */
export function exposeCutOutputs(bytes: Uint8Array, tensors: string[], feature?: FeatureEdit): Uint8Array {
  const base = feature ? exposeFeatures(bytes, feature) : bytes;
  return encodeOnnx(exposeCuts(decodeOnnx(base), tensors));
}

export class CutRunner {
  private constructor(
    private session: OnnxSession,
    readonly tensors: string[],
    private hasFeatures: boolean,
    private logitsName: string,
  ) {}

  static async create(
    bytes: Uint8Array,
    tensors: string[],
    opts: { feature?: FeatureEdit; threads?: number } = {},
  ): Promise<CutRunner> {
    const edited = exposeCutOutputs(bytes, tensors, opts.feature);
    const session = await createSession({ bytes: edited, threads: opts.threads ?? availableParallelism() });
    const logitsName = decodeOnnx(bytes).graph!.output![0].name!;
    return new CutRunner(session, tensors, !!opts.feature, logitsName);
  }

  /**
   * `input`: the preprocessed NCHW float batch [N,3,H,W] flattened; `n` the batch size. The array is handed to the
   * session's thread (transferred, not copied): the caller must not use it afterwards.
   */
  async run(input: Float32Array, n: number, size: number, opts: { logits?: boolean } = {}): Promise<CutRun> {
    const names = this.tensors.map(cutOutputName);
    if (this.hasFeatures) names.push(FEATURE_OUTPUT);
    if (opts.logits) names.push(this.logitsName);
    const out = await this.session.run(input, [n, 3, size, size], names);
    const cuts: CutRun['cuts'] = {};
    this.tensors.forEach((t, i) => {
      const o = out[i];
      const d = o.dims;
      cuts[t] =
        d.length === 4
          ? { data: nchwToNhwc(o.data as Float32Array, d[0], d[1], d[2], d[3]), shape: [d[0], d[2], d[3], d[1]] }
          : { data: o.data as Float32Array, shape: [d[0], 1, 1, d.slice(1).reduce((a, b) => a * b, 1)] };
    });
    return {
      cuts,
      features: this.hasFeatures ? out[this.tensors.length].data : undefined,
      logits: opts.logits ? out[names.length - 1].data : undefined,
    };
  }

  async dispose(): Promise<void> {
    await this.session.release();
  }
}

export function nchwToNhwc(src: Float32Array, n: number, c: number, h: number, w: number): Float32Array {
  const out = new Float32Array(src.length);
  const hw = h * w;
  for (let b = 0; b < n; b++) {
    const sb = b * c * hw;
    for (let ch = 0; ch < c; ch++) {
      const s0 = sb + ch * hw;
      for (let i = 0; i < hw; i++) out[sb + i * c + ch] = src[s0 + i];
    }
  }
  return out;
}
