// The one interface every backbone runtime implements, and the shapes it hands to the rest of the toolkit: block
// tables, frozen-part runners and trainable tails (rungs 2-3), and the graph an export extends with a head.
import type * as tfjs from '@tensorflow/tfjs';
import type {
  Backbone,
  FeatureSpec,
  InputSpec,
  ModelEntry,
  PretrainedBackbone,
  TokenPool,
  VectorSpec,
} from '../types.js';

/** One layer (TF.js) or node (ONNX) with its output shape and parameter count: `tl models info --layers`. */
export interface LayerInfo {
  index: number;
  name: string;
  type: string;
  outputShape: string;
  params: number;
}

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

/** A backbone seen as blocks to freeze or train. Plain data: it is posted to the data-parallel workers. */
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

/** A Backbone whose "features" are the flattened NHWC activation at a cut, stored as float16 in the feature store. */
export interface CutBackbone extends Backbone {
  /** The cut (or `input@SIZE`), float16. */
  readonly vectors: VectorSpec;
  readonly cutShape: [number, number, number];
  /** Where the frozen part runs when not on the TF.js engine of the run (e.g. 'onnxruntime cpu'): the setup line says it. */
  readonly engine?: string;
}

/** Which code runs a tail: a runtime's `fineTuning.tailKind` ('onnx-tail', 'tfjs-layers'), or 'replace' (new units, any runtime). */
export type TailKind = string;

export interface TrainableTail {
  kind: TailKind;
  cut: string;
  /** NHWC activation shape at the cut (without the batch). */
  inputShape: [number, number, number];
  featureDim: number;
  /** Hidden sizes of a replaced tail (1x1 convs + ReLU, then global average pool). */
  replace?: number[];
  /** Images per `apply` when only computing features (bounds the memory one call holds); default 32. */
  inferBatch?: number;
  /** Trainable variables by a stable name (what the bundle stores). */
  variables: Map<string, tfjs.Variable>;
  /** Activation → pooled features [N, featureDim]; BatchNorm always uses its frozen statistics. */
  apply(x: tfjs.Tensor4D): tfjs.Tensor2D;
  /** Weights of the tail that never train (BatchNorm moving statistics), by name (read asynchronously: webgpu). */
  frozenWeights(): Promise<Map<string, Float32Array>>;
  dispose(): void;
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

/** What a runtime reads from a classifier file by itself (`tl models add model.onnx`): all but the mean/std. */
export interface DetectedBackbone {
  /** The image input: layout, and its side when the graph fixes it (undefined: the user gives --size). */
  input: { name: string; layout: 'NCHW' | 'NHWC'; size?: number; batch: number | 'dynamic' };
  feature: FeatureSpec;
  /** The original classifier: the graph output it feeds, whether a softmax was applied, how many classes (absent: a feature extractor). */
  head?: { output: string; activation: 'logits' | 'probabilities'; classes: number };
  /** One line for `tl models info`: which node was taken as the classifier and what the feature is. */
  how: string;
}

/** The backbone as a graph src/export appends a head to: ONNX bytes, or a loaded TF.js layers model. */
/** `owned`: a fresh copy made for the export (the caller disposes it), not the loaded backbone's own model. */
export type ExportGraph =
  { kind: 'onnx'; bytes: Uint8Array } | { kind: 'tfjs-layers'; model: tfjs.LayersModel; owned: boolean };

/** Rungs 2-3 on a runtime: its blocks, its frozen part up to a cut, and its layers after the cut as TF.js variables. */
export interface FineTuning {
  /** The `kind` of the tails `buildTail` makes, as saved in bundles. */
  readonly tailKind: string;
  /** How a saved tail of that kind runs, for the bundle's classifier.json (`tail.runs`). */
  readonly tailRuns: string;
  /** Why this runtime's tail cannot train the model in `dir` (undefined: it can), read from its files. */
  refusal?(entry: ModelEntry, dir: string): Promise<Error | undefined>;
  /** The block table that --freeze / --train-last count, and the input as a cut. */
  listUnits(entry: ModelEntry, dir: string): Promise<{ inputCut: string; units: Unit[] }>;
  /** Images → activation at `cut` (a block boundary, not the input), NHWC. `input` may differ in size from the entry's. */
  openCut(net: Network, cut: string, input: InputSpec, weightsHash: string): Promise<CutBackbone>;
  /** The pretrained layers after `cut` as trainable TF.js variables ending in the pooled features. */
  buildTail(tf: typeof tfjs, net: Network, cut: string, cutShape: [number, number, number]): Promise<TrainableTail>;
}

/**
 * One backbone runtime (onnxruntime-node, TF.js layers on wasm, ...), registered once in ./registry.ts. Cheap to
 * import: each method loads its runtime's code on first use, so a command that needs one runtime never loads another.
 */
export interface BackboneRuntime {
  /** The `format` of the model entries this runtime runs. */
  readonly format: string;
  /** One line for users: what it runs and on what. */
  readonly description: string;
  /** Planning prior for `tl plan` before anything is measured: images/s of feature extraction on 2 cores. */
  readonly extractPrior: number;
  /** Pools a transformer's token output (`feature.pool` cls, mean, cls+mean) inside its graph. */
  readonly poolsTokens?: boolean;
  /** Whether a model can be registered by URL (single-file formats). */
  readonly registerByUrl: boolean;
  /** Files a user model registered by path consists of, relative to the entry file's folder (the entry first). */
  modelFiles(entryPath: string): Promise<string[]>;
  /** Load the whole pretrained network from its (resolved, checked) folder. */
  load(entry: ModelEntry, dir: string, weightsHash: string): Promise<PretrainedBackbone>;
  /** Reads input spec, feature tensor and original head from the model file itself (formats that support it). */
  detect?(entryPath: string, opts?: { pool?: TokenPool }): Promise<DetectedBackbone>;
  /** Every layer / node, for `tl models info --layers`. */
  describeLayers(entry: ModelEntry, dir: string): Promise<LayerInfo[]>;
  /** Present when the runtime's models can be fine-tuned (rungs 2 and 3). */
  readonly fineTuning?: FineTuning;
  /**
   * The backbone graph `tl export` appends a head to (`backbone`: what this runtime's `load` returned for `entry`).
   * `size`: a fine-tuned tail's training size; the graph is then a fresh copy at that input size where the format
   * fixes it (an ONNX graph's input is rewritten by the export itself).
   */
  exportGraph(entry: ModelEntry, backbone?: Backbone, size?: number): Promise<ExportGraph>;
}
