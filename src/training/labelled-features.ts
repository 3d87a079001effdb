// Feature vectors (or cut activations) for labelled images, through the cache, reporting progress as train events.
// Used by the rung harness (harness.ts: both splits) and fine-tuning's augmented copies (finetune-sets.ts).
import type { Backbone } from '../backbone/types.js';
import { fuseVectors, isFusedBackbone } from '../backbone/fused.js';
import { extractFeatures, type ExtractProgress } from '../features/extract.js';
import { modelKeyFor, type FeatureStore } from '../features/store.js';
import { TlError } from '../util/errors.js';
import type { LabeledImage } from '../data/dataset.js';
import type { CommonTrainOptions, TrainEvent } from './types.js';

export interface LabelledFeatures {
  features: Float32Array[];
  labels: Int32Array;
  paths: string[];
}

/** Unreadable images are reported as 'skip' events and left out; labels are indices into `classes`. */
export async function extractLabelled(
  backbone: Backbone,
  store: FeatureStore,
  items: LabeledImage[],
  classes: string[],
  split: 'train' | 'val',
  emit: (e: TrainEvent) => void,
  opts: Pick<CommonTrainOptions, 'batchSize' | 'signal' | 'remote'>,
): Promise<LabelledFeatures> {
  emit({ type: 'extract-start', split, total: items.length });
  const r = await extractSplit(backbone, store, items, split, emit, opts, (p) => p);
  emitDone(emit, split, { embedded: r.embedded, cached: r.cached, skipped: r.skipped.length, elapsedMs: r.elapsedMs });
  const keep = items.map((_, i) => i).filter((i) => r.features[i]);
  return {
    features: keep.map((i) => r.features[i]!),
    labels: Int32Array.from(keep.map((i) => classes.indexOf(items[i].label))),
    paths: keep.map((i) => items[i].path),
  };
}

/**
 * A split's vectors left in the feature store (a run bigger than rung 1's memory budget: the harness's bounded path):
 * only the labels, paths and content hashes are held; the vectors are read back from the store a row at a time.
 */
export interface StoredFeatures {
  labels: Int32Array;
  paths: string[];
  hashes: string[];
  dim: number;
  /** Every row in order, read from the store as the caller iterates (one row held at a time). */
  rows(): Iterable<Float32Array>;
  /** The rows at `index` (ascending or not), read from the store. */
  gather(index: ArrayLike<number>): Float32Array[];
}

/** Paths extracted at once by extractLabelledStored: bounds the vectors held while they go to the store. */
export const STORED_EXTRACT_CHUNK = 2048;

/**
 * extractLabelled, but the vectors are only written to the store (extracted STORED_EXTRACT_CHUNK paths at a time and
 * dropped), so memory does not grow with the split. Needs a store that can be written and read back.
 */
export async function extractLabelledStored(
  backbone: Backbone,
  store: FeatureStore,
  items: LabeledImage[],
  classes: string[],
  split: 'train' | 'val',
  emit: (e: TrainEvent) => void,
  opts: Pick<CommonTrainOptions, 'batchSize' | 'signal' | 'remote'>,
): Promise<StoredFeatures> {
  emit({ type: 'extract-start', split, total: items.length });
  const labels: number[] = [];
  const paths: string[] = [];
  const hashes: string[] = [];
  const sum = { embedded: 0, cached: 0, skipped: 0, elapsedMs: 0 };
  for (let first = 0; first < items.length && !opts.signal?.aborted; first += STORED_EXTRACT_CHUNK) {
    const chunk = items.slice(first, first + STORED_EXTRACT_CHUNK);
    const before = { ...sum, done: first };
    // Progress counts the whole split, not the chunk.
    const r = await extractSplit(backbone, store, chunk, split, emit, opts, (p) => ({
      total: items.length,
      done: before.done + p.done,
      embedded: before.embedded + p.embedded,
      cached: before.cached + p.cached,
      skipped: before.skipped + p.skipped,
      elapsedMs: before.elapsedMs + p.elapsedMs,
    }));
    chunk.forEach((item, i) => {
      if (!r.features[i]) return;
      labels.push(classes.indexOf(item.label));
      paths.push(item.path);
      hashes.push(r.contentHashes[i]!);
    });
    sum.embedded += r.embedded;
    sum.cached += r.cached;
    sum.skipped += r.skipped.length;
    sum.elapsedMs += r.elapsedMs;
  }
  emitDone(emit, split, sum);
  const read = storedRowReader(backbone, store);
  return {
    labels: Int32Array.from(labels),
    paths,
    hashes,
    dim: backbone.featureDim,
    *rows() {
      for (const h of hashes) yield read(h);
    },
    gather: (index) => Array.from(index, (i) => read(hashes[i])),
  };
}

/** extractFeatures over one split's `items`, its progress (as `progressOf` maps it) and skips reported as events. */
function extractSplit(
  backbone: Backbone,
  store: FeatureStore,
  items: LabeledImage[],
  split: 'train' | 'val',
  emit: (e: TrainEvent) => void,
  opts: Pick<CommonTrainOptions, 'batchSize' | 'signal' | 'remote'>,
  progressOf: (p: ExtractProgress) => ExtractProgress,
) {
  return extractFeatures(
    backbone,
    items.map((x) => x.path),
    {
      store,
      batchSize: opts.batchSize,
      signal: opts.signal,
      remote: opts.remote,
      onProgress: (p) => emit({ type: 'extract', split, progress: progressOf(p) }),
      onSkip: (file) => emit({ type: 'skip', file }),
    },
  );
}

function emitDone(
  emit: (e: TrainEvent) => void,
  split: 'train' | 'val',
  n: { embedded: number; cached: number; skipped: number; elapsedMs: number },
): void {
  emit({
    type: 'extract-done',
    split,
    embedded: n.embedded,
    cached: n.cached,
    skipped: n.skipped,
    seconds: n.elapsedMs / 1000,
  });
}

/** One image's vector read back from the store, as extraction handed it on (a fused model's parts fused again). */
function storedRowReader(backbone: Backbone, store: FeatureStore): (hash: string) => Float32Array {
  const keys = (isFusedBackbone(backbone) ? backbone.parts : [backbone]).map((b) => modelKeyFor(b));
  return (hash) => {
    const parts = keys.map((k) => {
      const v = store.get(k.key, hash, k.dim);
      if (!v)
        throw new TlError(
          `the feature cache ${store.path} lost a vector during this run (image ${hash.slice(0, 12)})`,
          'Do not prune or clear the feature cache while a training run uses it; run the training again.',
        );
      return v;
    });
    return keys.length === 1 ? parts[0] : fuseVectors(parts);
  };
}
