// The model-zoo vocabulary and the interfaces every backbone implements.

/** The name of the runtime that loads a model: one registered in src/backbone/runtimes/registry.ts ('onnx', 'tfjs-layers'). */
export type ModelFormat = string;

/** How the feature store keeps a backbone's vectors: 'f32' (features) or 'f16' (cut activations for fine-tuning). */
export type VectorEncoding = 'f32' | 'f16';

// How a photo becomes the network's input tensor: with the preprocessing, in data/ (below backbone/).
import type { InputSpec } from '../data/input-spec.js';
export type { InputSpec };

/** A zoo entry's feature tensor or head output left to detection when its file is loaded (runtimes/onnx/detect.ts). */
export const DETECT_FROM_GRAPH = '(detected from the graph)';

/**
 * How a transformer's tokens [N, 1+P, D] (class token first, then P patch tokens) become one vector per image:
 * 'cls' = the class token (D); 'mean' = the mean of the patch tokens (D); 'cls+mean' = the two concatenated (2D),
 * DINOv2's linear-evaluation feature. Computed by nodes added to the ONNX graph (runtimes/onnx/token-pool.ts), so
 * extraction and an exported classifier run the same math.
 */
export type TokenPool = 'cls' | 'mean' | 'cls+mean';
export const TOKEN_POOLS: readonly TokenPool[] = ['cls', 'mean', 'cls+mean'];

export function isTokenPool(pool: string | undefined): pool is TokenPool {
  return (TOKEN_POOLS as readonly string[]).includes(pool ?? '');
}

export interface FeatureSpec {
  /** ONNX tensor name or TF.js layer name whose activation is the feature. */
  tensor: string;
  dim: number;
  /** 'gap' = global average pool a 4-D map; 'none' = the tensor is already [N, dim]; a TokenPool: a token tensor. */
  pool: 'gap' | 'none' | TokenPool;
}

/** A published linear-probe accuracy of a backbone's frozen features (what rung 1 trains), with its source. */
export interface LinearProbe {
  dataset: string;
  top1: number;
}

export interface HeadSpec {
  /** ONNX output name or TF.js layer name of the original 1000-way classifier. */
  output: string;
  /** What the head emits: logits need a softmax, probabilities do not. */
  activation: 'logits' | 'probabilities';
  /** Class order of the head: synset list file in assets/labels. */
  synsets: 'imagenet-synsets' | 'darknet-synsets';
}

export interface ModelFile {
  name: string;
  size: number;
  sha256: string;
  url: string;
}

export interface ModelEntry {
  id: string;
  title: string;
  format: ModelFormat;
  /** Folder name under a models directory or the cache. */
  folder: string;
  /** The file a loader opens (the .onnx file or model.json). */
  entry: string;
  files: ModelFile[];
  input: InputSpec;
  feature: FeatureSpec;
  head: HeadSpec;
  imagenetTop1: number;
  /**
   * What `imagenetTop1` measures: 'top-1' = the model's own ImageNet classifier (the default); 'linear' = a linear
   * classifier trained on its frozen features (self-supervised and image-text encoders have no ImageNet head);
   * 'zero-shot' = an image-text model matched against class-name prompts, when no linear probe is published.
   */
  imagenetMetric?: 'top-1' | 'linear' | 'zero-shot';
  /** Where a published `imagenetTop1` comes from (paper and table), when it is not the file's model card. */
  imagenetSource?: string;
  /** Published linear probes on other sets (rung 1's ceiling on such data) and where they are published. */
  linearProbes?: { source: string; results: LinearProbe[] };
  /** One line: what this backbone is good for (`tl models list`). */
  goodFor?: string;
  params: number;
  license: string;
  source: string;
  /** Registered by the user, not shipped in the zoo. */
  custom?: boolean;
  /** When a user model was registered (ISO time): a bundle trained before a replacement says so. */
  registeredAt?: string;
  /** How the feature tensor was found in the file (`tl models add model.onnx`), for `tl models info`. */
  detected?: string;
  /** Set on a zoo entry whose files were never downloaded and run by the toolkit: why its size/sha256 are trusted. */
  unverified?: string;
  /** A fused model (`--model a+b`, backbone/fused.ts): the entries whose vectors it concatenates. */
  parts?: ModelEntry[];
}

/** What an extractor's vectors are, when not the entry's own features: the feature store keys and encodes by it. */
export interface VectorSpec {
  /** Names them: 'input@224' (the image), a cut tensor or layer, '<cut>+tail' (a fine-tuned tail), '...#aug(...)' (an augmented copy). */
  source: string;
  encoding: VectorEncoding;
}

/** A photo already decoded and laid out as the backbone expects: size*size*3 floats. */
export type InputTensorData = Float32Array;

export interface EmbedResult {
  /** One row of `featureDim` floats per image. */
  features: Float32Array[];
  /** The original head's class scores (softmaxed), when asked for. */
  probabilities?: Float32Array[];
}

/**
 * A feature extractor: a pretrained network with its classifier cut off, the frozen part of a cut network, or a
 * fine-tuned network. All the feature store, the trainers and the classifier need.
 */
export interface Backbone {
  readonly entry: ModelEntry;
  readonly id: string;
  readonly input: InputSpec;
  readonly featureDim: number;
  /** sha256 over the model's files: part of the feature-cache key. */
  readonly weightsHash: string;
  /** Set when the vectors are not `entry.feature` as float32 (a cut, a fine-tuned tail, an augmented copy). */
  readonly vectors?: VectorSpec;
  /** Where its forward passes run when a device was asked for and taken ("webgpu (llvmpipe, software)"); absent: cpu. */
  readonly device?: string;
  /** Feature vectors for a batch of preprocessed images. */
  embed(batch: InputTensorData[]): Promise<Float32Array[]>;
  dispose(): Promise<void>;
}

/** The optional capability of a whole pretrained network: its original ImageNet head still runs. */
export interface ImagenetClassifier {
  /** Features and ImageNet probabilities of the original head (proves the backbone is loaded right). */
  embedAndClassify(batch: InputTensorData[]): Promise<Required<EmbedResult>>;
}

/** What `loadBackbone` returns: a whole pretrained network, feature extractor and ImageNet classifier. */
export type PretrainedBackbone = Backbone & ImagenetClassifier;

/** Whether this extractor can still classify ImageNet (a cut or fine-tuned network cannot). */
export function canClassifyImagenet(b: Backbone): b is PretrainedBackbone {
  return typeof (b as Partial<ImagenetClassifier>).embedAndClassify === 'function';
}
