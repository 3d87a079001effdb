// Feature vectors (or cut activations) for labelled images, through the cache, reporting progress as train events.
// Used by the rung harness (harness.ts: both splits) and fine-tuning's augmented copies (finetune-sets.ts).
import type { Backbone } from '../backbone/types.js';
import { extractFeatures } from '../features/extract.js';
import type { FeatureStore } from '../features/store.js';
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
  const r = await extractFeatures(
    backbone,
    items.map((x) => x.path),
    {
      store,
      batchSize: opts.batchSize,
      signal: opts.signal,
      remote: opts.remote,
      onProgress: (progress) => emit({ type: 'extract', split, progress }),
      onSkip: (file) => emit({ type: 'skip', file }),
    },
  );
  emit({
    type: 'extract-done',
    split,
    embedded: r.embedded,
    cached: r.cached,
    skipped: r.skipped.length,
    seconds: r.elapsedMs / 1000,
  });
  const keep = items.map((_, i) => i).filter((i) => r.features[i]);
  return {
    features: keep.map((i) => r.features[i]!),
    labels: Int32Array.from(keep.map((i) => classes.indexOf(items[i].label))),
    paths: keep.map((i) => items[i].path),
  };
}
