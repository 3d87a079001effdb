// The two halves of a backbone cut for fine-tuning: the frozen part (runs to the cut; its output is cached on disk)
// and the trainable tail (float TF.js variables from the cut to the pooled features). One implementation per runtime:
// the int8 ONNX model (frozen part on onnxruntime, tail converted by src/engine/onnx-tail) and TF.js layers models
// (frozen part = a sub-model up to the cut layer, tail = the later layers re-applied to a new input, sharing weights).
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type * as tfjs from '@tensorflow/tfjs';
import type { Backbone, InputSpec, InputTensorData, ModelEntry } from '../backbone/types.js';
import { resolveModel, verifyFiles, type ResolveOptions } from '../backbone/resolve.js';
import { weightsHash } from '../backbone/load.js';
import { loadLayersModelFromDir } from '../backbone/tfjs-backbone.js';
import { splitRows } from '../backbone/onnx-backbone.js';
import { tfWasm } from '../backbone/tfjs-runtime.js';
import { registerWasmGradKernels } from '../engine/wasm-grad-kernels.js';
import { buildTail, CutRunner, listCuts } from '../engine/onnx-tail/index.js';
import { decodeOnnx } from '../engine/onnx-tail/graph.js';
import { TlError } from '../util/errors.js';
import { sha256 } from '../util/hash.js';
import { Rng } from '../util/random.js';
import type { VectorEncoding } from '../features/store.js';

type TF = typeof tfjs;

/** A block one can freeze or train: MobileNetV2's stem, inverted-residual blocks and head conv; a conv (+BN+act) of a layers model. */
export interface Unit {
  index: number;
  label: string;
  /** ONNX tensor or TF.js layer name at the END of this unit: the cut when this unit is the last frozen one. */
  cut: string;
  /** Activation shape at that cut, [H, W, C] at the backbone's native input size. */
  shape: [number, number, number];
  params: number;
}

export interface Network {
  entry: ModelEntry;
  /** Model files folder (resolved and sha256-checked). */
  dir: string;
  /** The network input as a cut (freeze 0 = train everything). */
  inputCut: string;
  units: Unit[];
  /** Parameters of every unit, for planning. */
  totalParams: number;
}

export async function loadNetwork(entry: ModelEntry, opts: ResolveOptions = {}): Promise<Network> {
  const { dir } = await resolveModel(entry, opts);
  await verifyFiles(dir, entry);
  if (entry.format === 'onnx') {
    const s = listCuts(await readFile(join(dir, entry.entry)));
    const units: Unit[] = s.cuts
      .filter((c) => c.kind !== 'input' && c.kind !== 'pooled')
      .map((c, i) => ({ index: i, label: c.label, cut: c.tensor, shape: [c.shape[1], c.shape[2], c.shape[0]], params: c.blockParams }));
    return { entry, dir, inputCut: s.cuts[0].tensor, units, totalParams: units.reduce((a, u) => a + u.params, 0) };
  }
  const tf = await tfWasm();
  const model = await loadLayersModelFromDir(tf, dir, entry.entry);
  try {
    const chain = chainToFeature(model, entry);
    const units: Unit[] = [];
    for (let i = 0; i < chain.length; i++) {
      const l = chain[i];
      if (!isWeighted(l)) continue;
      // The unit runs to the last layer before the next weighted conv (its BN and activation).
      let end = i;
      while (end + 1 < chain.length && !isWeighted(chain[end + 1]) && !/Pool/.test(chain[end + 1].getClassName())) end++;
      const shape = chain[end].outputShape as number[];
      const params = chain.slice(i, end + 1).reduce((a, x) => a + x.countParams(), 0);
      units.push({ index: units.length, label: `${l.getClassName()} ${l.name}`, cut: chain[end].name, shape: [shape[1], shape[2], shape[3]], params });
    }
    return { entry, dir, inputCut: model.inputLayers[0].name, units, totalParams: units.reduce((a, u) => a + u.params, 0) };
  } finally {
    model.dispose();
  }
}

function isWeighted(l: tfjs.layers.Layer): boolean {
  return /Conv2D|DepthwiseConv2D|SeparableConv2D|Dense/.test(l.getClassName()) && l.countParams() > 0;
}

/** The layers from the input to the feature layer, checking they form a chain (one inbound layer each). */
function chainToFeature(model: tfjs.LayersModel, entry: ModelEntry): tfjs.layers.Layer[] {
  const end = model.layers.findIndex((l) => l.name === entry.feature.tensor);
  if (end < 0) throw new TlError(`TF.js model ${entry.id} has no layer "${entry.feature.tensor}"`);
  const chain = model.layers.slice(0, end + 1);
  for (let i = 1; i < chain.length; i++) {
    const inbound = chain[i].inboundNodes[0]?.inboundLayers ?? [];
    if (inbound.length !== 1 || inbound[0] !== chain[i - 1]) {
      throw new TlError(`fine-tuning ${entry.id}: layer ${chain[i].name} is not a simple chain step (branches are not supported for TF.js layers backbones)`);
    }
  }
  return chain;
}

/** Which cut a freeze / train-last request means. Returns the unit index of the last frozen unit (-1 = the input). */
export function resolveFreeze(net: Network, req: { freeze?: number; trainLast?: number }): { lastFrozen: number; cut: string; trainable: Unit[] } {
  const n = net.units.length;
  if (req.freeze !== undefined && req.trainLast !== undefined && req.freeze + req.trainLast !== n) {
    throw new TlError(`--freeze ${req.freeze} and --train-last ${req.trainLast} disagree: ${net.entry.id} has ${n} blocks`, 'Give one of them.');
  }
  const frozen = req.freeze ?? (req.trainLast !== undefined ? n - req.trainLast : n - 2);
  if (!Number.isInteger(frozen) || frozen < 0 || frozen > n) {
    throw new TlError(`cannot freeze ${frozen} of ${net.entry.id}'s ${n} blocks`, `Use --freeze 0..${n} or --train-last 0..${n}.`);
  }
  return { lastFrozen: frozen - 1, cut: frozen === 0 ? net.inputCut : net.units[frozen - 1].cut, trainable: net.units.slice(frozen) };
}

// ---------------------------------------------------------------------------------------------------------------
// Frozen part: images → activation at the cut (NHWC, flattened per image)

/** A Backbone whose "features" are the flattened NHWC activation at a cut, stored as float16 in the feature store. */
export interface CutBackbone extends Backbone {
  readonly featureEncoding: VectorEncoding;
  readonly cutShape: [number, number, number];
}

export async function openCutBackbone(net: Network, cut: string, size?: number): Promise<CutBackbone> {
  const entry = net.entry;
  const input: InputSpec = { ...entry.input, size: size ?? entry.input.size };
  const hash = weightsHash(entry);
  const base = { id: entry.id, input, weightsHash: hash, featureEncoding: 'f16' as VectorEncoding };
  if (cut === net.inputCut) {
    // Freeze nothing: the "activation" is the preprocessed image itself, NHWC.
    const s = input.size;
    const dim = s * s * 3;
    return {
      ...base,
      entry: { ...entry, input, feature: { tensor: `input@${s}`, dim, pool: 'none' } },
      featureDim: dim,
      cutShape: [s, s, 3],
      async embed(batch: InputTensorData[]) {
        return batch.map((x) => (input.layout === 'NCHW' ? chwToHwc(x, s) : x.slice()));
      },
      async embedAndClassify(): Promise<never> {
        throw new TlError('not supported on a cut');
      },
      async dispose() {},
    };
  }
  if (size !== undefined && size !== entry.input.size && entry.format === 'onnx') {
    throw new TlError(`the int8 ONNX ${entry.id} runs at ${entry.input.size} px only`, 'Leave --size out, or use a TF.js backbone.');
  }
  if (entry.format === 'onnx') {
    const unit = net.units.find((u) => u.cut === cut);
    if (!unit) throw new TlError(`${cut} is not a block boundary of ${entry.id}`);
    const runner = await CutRunner.create(await readFile(join(net.dir, entry.entry)), [cut]);
    const dim = unit.shape[0] * unit.shape[1] * unit.shape[2];
    const per = 3 * input.size * input.size;
    return {
      ...base,
      entry: { ...entry, input, feature: { tensor: cut, dim, pool: 'none' } },
      featureDim: dim,
      cutShape: unit.shape,
      async embed(batch: InputTensorData[]) {
        const data = new Float32Array(batch.length * per);
        batch.forEach((x, i) => data.set(x, i * per));
        const r = await runner.run(data, batch.length, input.size);
        return splitRows(r.cuts[cut].data, batch.length, dim);
      },
      async embedAndClassify(): Promise<never> {
        throw new TlError('not supported on a cut');
      },
      async dispose() {
        await runner.dispose();
      },
    };
  }
  const tf = await tfWasm();
  const model = await loadLayersModelFromDir(tf, net.dir, entry.entry);
  const chain = chainToFeature(model, entry);
  const cutIdx = chain.findIndex((l) => l.name === cut);
  if (cutIdx < 0) throw new TlError(`${cut} is not a layer of ${entry.id}`);
  const inp = tf.input({ shape: [input.size, input.size, 3] });
  let y = inp as tfjs.SymbolicTensor;
  for (const l of chain.slice(1, cutIdx + 1)) y = l.apply(y) as tfjs.SymbolicTensor;
  const sub = tf.model({ inputs: inp, outputs: y });
  const shape = y.shape.slice(1) as [number, number, number];
  const dim = shape[0] * shape[1] * shape[2];
  const s = input.size;
  return {
    ...base,
    entry: { ...entry, input, feature: { tensor: cut, dim, pool: 'none' } },
    featureDim: dim,
    cutShape: shape,
    async embed(batch: InputTensorData[]) {
      const data = new Float32Array(batch.length * s * s * 3);
      batch.forEach((x, i) => data.set(x, i * s * s * 3));
      const out = tf.tidy(() => (sub.predict(tf.tensor4d(data, [batch.length, s, s, 3])) as tfjs.Tensor));
      try {
        return splitRows(out.dataSync() as Float32Array, batch.length, dim);
      } finally {
        out.dispose();
      }
    },
    async embedAndClassify(): Promise<never> {
      throw new TlError('not supported on a cut');
    },
    async dispose() {
      model.dispose();
    },
  };
}

function chwToHwc(x: Float32Array, s: number): Float32Array {
  const out = new Float32Array(x.length);
  const hw = s * s;
  for (let c = 0; c < 3; c++) for (let i = 0; i < hw; i++) out[i * 3 + c] = x[c * hw + i];
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Trainable tail: cut activation (NHWC) → pooled features

export type TailKind = 'onnx-tail' | 'tfjs-layers' | 'replace';

export interface TrainableTail {
  kind: TailKind;
  cut: string;
  /** NHWC activation shape at the cut (without the batch). */
  inputShape: [number, number, number];
  featureDim: number;
  /** Hidden sizes of a replaced tail (1x1 convs + ReLU, then global average pool). */
  replace?: number[];
  /** Trainable variables by a stable name (what the bundle stores). */
  variables: Map<string, tfjs.Variable>;
  /** Activation → pooled features [N, featureDim]; BatchNorm always uses its frozen statistics. */
  apply(x: tfjs.Tensor4D): tfjs.Tensor2D;
  /** Weights of the tail that never train (BatchNorm moving statistics), by name. */
  frozenWeights(): Map<string, Float32Array>;
  dispose(): void;
}

/** The TF.js engine for training: wasm with the convolution-gradient kernels; 'cpu' only if wasm fails. */
export async function trainingTf(): Promise<{ tf: TF; backend: string; note?: string }> {
  try {
    const tf = await tfWasm();
    registerWasmGradKernels(tf);
    // tfWasm() sets IS_TEST (to silence tfjs's banner), which also turns on a per-kernel data-id check that misfires
    // on gradients of fused convs (tfjs-layers Conv2D). Leaks are checked by the epochs' tf.memory() and the backend's
    // data-id count instead (see the tests).
    tf.env().set('IS_TEST', false);
    return { tf, backend: 'wasm' };
  } catch (err) {
    const tf = await import('@tensorflow/tfjs');
    await tf.setBackend('cpu');
    return { tf, backend: 'cpu', note: `wasm backend failed (${(err as Error).message}); training on the slow 'cpu' backend` };
  }
}

export async function buildTrainableTail(
  tf: TF,
  net: Network,
  cut: string,
  cutShape: [number, number, number],
  opts: { replace?: number[]; seed?: number } = {},
): Promise<TrainableTail> {
  if (opts.replace) return replaceTail(tf, cut, cutShape, opts.replace, opts.seed ?? 0);
  const entry = net.entry;
  if (entry.format === 'onnx') {
    const tail = buildTail(onnxAtSize(await readFile(join(net.dir, entry.entry)), cut === net.inputCut ? cutShape[0] : undefined), cut, tf);
    const variables = new Map(Object.entries(tail.variables));
    return {
      kind: 'onnx-tail',
      cut,
      inputShape: cutShape,
      featureDim: entry.feature.dim,
      variables,
      apply: (x) => tail.apply(x, false),
      frozenWeights: () => new Map(),
      dispose: () => tail.dispose(),
    };
  }
  const model = await loadLayersModelFromDir(tf, net.dir, entry.entry);
  const chain = chainToFeature(model, entry);
  const cutIdx = cut === net.inputCut ? 0 : chain.findIndex((l) => l.name === cut);
  if (cutIdx < 0) throw new TlError(`${cut} is not a layer of ${entry.id}`);
  const inp = tf.input({ shape: cutShape });
  let y = inp as tfjs.SymbolicTensor;
  for (const l of chain.slice(cutIdx + 1)) y = l.apply(y) as tfjs.SymbolicTensor;
  if (entry.feature.pool === 'gap') y = tf.layers.globalAveragePooling2d({}).apply(y) as tfjs.SymbolicTensor;
  const tailModel = tf.model({ inputs: inp, outputs: y });
  const variables = new Map<string, tfjs.Variable>();
  for (const w of tailModel.trainableWeights) variables.set(w.originalName, w.read() as tfjs.Variable);
  const featureDim = (y.shape as number[]).slice(1).reduce((a, b) => a * b, 1);
  return {
    kind: 'tfjs-layers',
    cut,
    inputShape: cutShape,
    featureDim,
    variables,
    // training: false keeps BatchNorm on its moving statistics (and dropout off); gradients still reach gamma/beta.
    apply: (x) => tf.tidy(() => (tailModel.apply(x, { training: false }) as tfjs.Tensor).reshape([x.shape[0], featureDim]) as tfjs.Tensor2D),
    frozenWeights: () => new Map(tailModel.nonTrainableWeights.map((w) => [w.originalName, Float32Array.from(w.read().dataSync() as Float32Array)])),
    dispose: () => model.dispose(),
  };
}

/**
 * The ONNX model with its input declared at `size` px: the converted tail takes its static shapes from the graph
 * input, and every op after the input is size-agnostic (convs, adds, global pool), so a tail cut at the input can
 * train at e.g. 160 px although onnxruntime runs the int8 model at 224 only.
 */
function onnxAtSize(bytes: Uint8Array, size?: number): Uint8Array | ReturnType<typeof decodeOnnx> {
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

/** New units instead of the pretrained ones: 1x1 conv + ReLU per hidden size, then global average pooling. */
function replaceTail(tf: TF, cut: string, cutShape: [number, number, number], hidden: number[], seed: number): TrainableTail {
  const rng = new Rng(seed + 7919);
  const variables = new Map<string, tfjs.Variable>();
  let cin = cutShape[2];
  const layers: { w: tfjs.Variable; b: tfjs.Variable }[] = [];
  hidden.forEach((h, i) => {
    const std = Math.sqrt(2 / cin); // He init for ReLU
    const w = tf.variable(tf.tensor4d(Float32Array.from({ length: cin * h }, () => rng.normal() * std), [1, 1, cin, h]), true, `tl_replace/conv${i}/kernel`);
    const b = tf.variable(tf.zeros([h]), true, `tl_replace/conv${i}/bias`);
    variables.set(`conv${i}/kernel`, w);
    variables.set(`conv${i}/bias`, b);
    layers.push({ w, b });
    cin = h;
  });
  return {
    kind: 'replace',
    cut,
    inputShape: cutShape,
    featureDim: cin,
    replace: hidden,
    variables,
    apply: (x) =>
      tf.tidy(() => {
        let y: tfjs.Tensor4D = x;
        for (const l of layers) y = tf.relu(tf.add(tf.conv2d(y, l.w as tfjs.Tensor4D, 1, 'valid'), l.b)) as tfjs.Tensor4D;
        return tf.mean(y, [1, 2]) as tfjs.Tensor2D;
      }),
    frozenWeights: () => new Map(),
    dispose: () => variables.forEach((v) => v.dispose()),
  };
}

/** Saved form of a trained tail (bundle v2). */
export interface TailSnapshot {
  kind: TailKind;
  cut: string;
  inputShape: [number, number, number];
  /** Image size the frozen part runs at. */
  imageSize: number;
  featureDim: number;
  replace?: number[];
  variables: { name: string; shape: number[]; data: Float32Array }[];
}

export function snapshotTail(t: TrainableTail, imageSize: number): TailSnapshot {
  return {
    kind: t.kind,
    cut: t.cut,
    inputShape: t.inputShape,
    imageSize,
    featureDim: t.featureDim,
    replace: t.replace,
    variables: [...t.variables].map(([name, v]) => ({ name, shape: v.shape.slice(), data: Float32Array.from(v.dataSync() as Float32Array) })),
  };
}

export function assignTail(tf: TF, t: TrainableTail, values: { name: string; data: Float32Array }[]): void {
  for (const { name, data } of values) {
    const v = t.variables.get(name);
    if (!v) throw new TlError(`tail has no variable "${name}"`);
    if (v.size !== data.length) throw new TlError(`tail variable "${name}" has ${v.size} values, saved ${data.length}`);
    const value = tf.tensor(data, v.shape, 'float32');
    v.assign(value);
    value.dispose();
  }
}

export function tailHash(s: TailSnapshot): string {
  const h = [s.kind, s.cut, s.imageSize, JSON.stringify(s.replace ?? null)];
  for (const v of s.variables) h.push(`${v.name}:${v.shape}:${sha256(Buffer.from(v.data.buffer, v.data.byteOffset, v.data.byteLength))}`);
  return sha256(h.join('\n'));
}

// ---------------------------------------------------------------------------------------------------------------
// The fine-tuned network as a Backbone: frozen part → cut → trained tail → pooled features

export class FinetunedBackbone implements Backbone {
  readonly id: string;
  readonly input: InputSpec;
  readonly featureDim: number;
  readonly weightsHash: string;
  readonly entry: ModelEntry;
  private constructor(
    private tf: TF,
    readonly frozen: CutBackbone,
    readonly tail: TrainableTail,
    baseHash: string,
    tailDigest: string,
  ) {
    this.id = frozen.id;
    this.input = frozen.input;
    this.featureDim = tail.featureDim;
    this.entry = { ...frozen.entry, feature: { tensor: `${tail.cut}+tail`, dim: tail.featureDim, pool: 'none' } };
    // The cache key of the fine-tuned features: the base weights plus this exact tail.
    this.weightsHash = sha256(`${baseHash}\n${tailDigest}`);
  }

  static create(tf: TF, frozen: CutBackbone, tail: TrainableTail, snapshot: TailSnapshot): FinetunedBackbone {
    return new FinetunedBackbone(tf, frozen, tail, frozen.weightsHash, tailHash(snapshot));
  }

  /** Rebuild from a bundle's tail section. */
  static async restore(net: Network, snap: TailSnapshot): Promise<FinetunedBackbone> {
    const { tf } = await trainingTf();
    const frozen = await openCutBackbone(net, snap.cut, snap.imageSize === net.entry.input.size ? undefined : snap.imageSize);
    const tail = await buildTrainableTail(tf, net, snap.cut, snap.inputShape, { replace: snap.replace });
    assignTail(tf, tail, snap.variables);
    return FinetunedBackbone.create(tf, frozen, tail, snap);
  }

  async embed(batch: InputTensorData[]): Promise<Float32Array[]> {
    const acts = await this.frozen.embed(batch);
    // The converted int8 MobileNetV2 cut at the input holds ~270 MB per 160 px image inside tail.apply: small chunks.
    const chunk = this.tail.kind === 'onnx-tail' && this.tail.inputShape[2] === 3 ? 4 : 32;
    return tailFeatures(this.tf, this.tail, acts, chunk);
  }

  async embedAndClassify(): Promise<never> {
    throw new TlError('the original ImageNet head is not part of a fine-tuned classifier');
  }

  async dispose(): Promise<void> {
    this.tail.dispose();
    await this.frozen.dispose();
  }
}

/** Pooled features of the tail for cached activations (no gradients), in batches. */
export function tailFeatures(tf: TF, tail: TrainableTail, acts: Float32Array[], batch = 64): Float32Array[] {
  const [h, w, c] = tail.inputShape;
  const per = h * w * c;
  const out: Float32Array[] = [];
  for (let i = 0; i < acts.length; i += batch) {
    const n = Math.min(batch, acts.length - i);
    const data = new Float32Array(n * per);
    for (let j = 0; j < n; j++) data.set(acts[i + j], j * per);
    const f = tf.tidy(() => tail.apply(tf.tensor4d(data, [n, h, w, c])));
    out.push(...splitRows(f.dataSync() as Float32Array, n, tail.featureDim));
    f.dispose();
  }
  return out;
}
