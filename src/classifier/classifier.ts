// The library's main object: a backbone plus a trained head. Load a bundle, predict images, save.
import type { Backbone } from '../backbone/types.js';
import { loadFeatureBackbone } from '../backbone/load.js';
import { backboneMismatch } from '../backbone/mismatch.js';
import { findModel } from '../backbone/registry.js';
import type { ResolveOptions } from '../backbone/resolve.js';
import { extractFeatures, type ExtractOptions } from '../features/extract.js';
import { FeatureStore } from '../features/store.js';
import { preprocess } from '../data/image.js';
import type { SkippedFile } from '../data/files.js';
import { TlError } from '../util/errors.js';
import { topK } from '../util/math.js';
import { headForward } from './head.js';
import { unknownDistance } from './unknown.js';
import { loadBundle, saveBundle, type BundleData } from './bundle.js';

export interface LabelProbability {
  label: string;
  probability: number;
}

export interface Prediction {
  /** Most probable class. */
  label: string;
  probability: number;
  /** Top-k classes, most probable first. */
  top: LabelProbability[];
  /** True when the image is far from every class seen in training (see docs/unknown.md). */
  unknown: boolean;
  /** Mean cosine distance to the 5 nearest training images the bundle keeps (older bundles: the nearest image, or class centroid); compared with the bundle's threshold. */
  distance: number;
}

export interface FilePrediction extends Prediction {
  path: string;
}

export class Classifier {
  private constructor(
    readonly data: BundleData,
    readonly backbone: Backbone,
  ) {}

  get labels(): string[] {
    return this.data.labels;
  }

  /** Load a saved bundle and the backbone it was trained on (checked by weights hash). */
  static async load(dir: string, opts: ResolveOptions = {}): Promise<Classifier> {
    const data = await loadBundle(dir);
    const base = await loadMatchingBackbone(data, opts);
    if (!data.tail) return new Classifier(data, base);
    // A fine-tuned bundle: the frozen part from the (hash-checked) backbone files, then the trained tail.
    const [{ loadNetwork }, { FinetunedBackbone }] = await Promise.all([
      import('../finetune/network.js'),
      import('../finetune/finetuned-backbone.js'),
    ]);
    const entry = base.entry;
    await base.dispose();
    return new Classifier(data, await FinetunedBackbone.restore(await loadNetwork(entry, opts), data.tail));
  }

  /** Wrap freshly trained weights (used by the trainer). */
  static fromParts(data: BundleData, backbone: Backbone): Classifier {
    return new Classifier(data, backbone);
  }

  async save(dir: string, extras: Record<string, string> = {}): Promise<void> {
    await saveBundle(dir, this.data, extras);
  }

  /** Classify from a backbone feature vector (what the cache stores). */
  predictFeature(feature: Float32Array, top = 3): Prediction {
    const probs = headForward(this.data.head, feature);
    const order = topK(probs, Math.min(top, probs.length));
    const distance = unknownDistance(this.data.unknown, feature);
    return {
      label: this.labels[order[0]],
      probability: probs[order[0]],
      top: order.map((k) => ({ label: this.labels[k], probability: probs[k] })),
      unknown: distance > this.data.unknown.threshold,
      distance,
    };
  }

  /** All class probabilities for a feature vector, in label order. */
  probabilities(feature: Float32Array): Float32Array {
    return headForward(this.data.head, feature);
  }

  /** Classify one image given as a path or encoded bytes (JPEG, PNG, WebP, ...). */
  async predict(image: string | Buffer, opts: { top?: number } = {}): Promise<Prediction> {
    let input: Float32Array;
    try {
      input = await preprocess(image, this.backbone.input);
    } catch (err) {
      throw new TlError(`cannot classify ${typeof image === 'string' ? image : 'image'}: ${(err as Error).message}`);
    }
    const [feature] = await this.backbone.embed([input]);
    return this.predictFeature(feature, opts.top);
  }

  /** Classify many files, batched, using (and filling) the feature cache. Unreadable files are skipped. */
  async predictFiles(
    paths: string[],
    opts: { top?: number; store?: FeatureStore | null } & Pick<
      ExtractOptions,
      'onProgress' | 'onSkip' | 'batchSize'
    > = {},
  ): Promise<{ predictions: FilePrediction[]; skipped: SkippedFile[] }> {
    const store = opts.store === null ? FeatureStore.open(':memory:') : opts.store;
    const r = await extractFeatures(this.backbone, paths, {
      store: store ?? undefined,
      onProgress: opts.onProgress,
      onSkip: opts.onSkip,
      batchSize: opts.batchSize,
    });
    if (opts.store === null) store?.close();
    const predictions: FilePrediction[] = [];
    r.features.forEach((f, i) => f && predictions.push({ path: paths[i], ...this.predictFeature(f, opts.top) }));
    return { predictions, skipped: r.skipped };
  }

  async dispose(): Promise<void> {
    await this.backbone.dispose();
  }
}

async function loadMatchingBackbone(data: BundleData, opts: ResolveOptions): Promise<Backbone> {
  const ref = data.backbone;
  let entry;
  try {
    entry = findModel(ref.id);
  } catch {
    throw new TlError(
      `this classifier was trained on backbone "${ref.id}", which is not available here`,
      `Register it with \`tl models add\` (weights sha256 must give hash ${ref.weightsHash.slice(0, 16)}...).`,
    );
  }
  const mismatch = backboneMismatch(entry, ref, data.createdAt);
  if (mismatch) throw mismatch;
  return loadFeatureBackbone(entry, opts);
}
