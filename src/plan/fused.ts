// The plan of a fused model (`--model a+b`): it has one rung (a head on the concatenated features; fine-tuning needs one
// backbone), so its plan is what extraction each part still needs and what the head fit costs.
import type { Dataset } from '../data/dataset.js';
import type { ModelEntry } from '../backbone/types.js';
import { weightsHash } from '../backbone/weights-hash.js';
import { runtimeFor } from '../backbone/runtimes/registry.js';
import { FeatureStore, modelKeyFor } from '../features/store.js';
import { estimateHeadFitSeconds } from '../solvers/head-cost.js';
import { sha256 } from '../util/hash.js';
import { readImageBytes } from '../data/image-file.js';

export interface FusedPartPlan {
  id: string;
  dim: number;
  /** Images whose vectors for this part are not in the feature store yet. */
  uncached: number;
  /** Extraction img/s assumed for its runtime on 2 cores (the runtime's prior, not measured now). */
  assumedImagesPerSecond: number;
  extractSeconds: number;
}

export interface FusedPlan {
  model: string;
  choice: 'head';
  reason: string;
  trainImages: number;
  valImages: number;
  parts: FusedPartPlan[];
  headSeconds: number;
  seconds: number;
}

export async function planFused(dataset: Dataset, entry: ModelEntry): Promise<FusedPlan> {
  const paths = [...dataset.train, ...dataset.val].map((i) => i.path);
  const hashes = await Promise.all(
    paths.map(async (p) => sha256(await readImageBytes(p).catch(() => Buffer.alloc(0)))),
  );
  const store = FeatureStore.open();
  let parts: FusedPartPlan[];
  try {
    parts = entry.parts!.map((p) => {
      const { key, dim } = modelKeyFor({
        id: p.id,
        weightsHash: weightsHash(p),
        input: p.input,
        featureDim: p.feature.dim,
        entry: p,
      });
      const uncached = hashes.filter((h) => !store.get(key, h, dim)).length;
      const prior = runtimeFor(p.format).extractPrior;
      return { id: p.id, dim, uncached, assumedImagesPerSecond: prior, extractSeconds: uncached / prior };
    });
  } finally {
    store.close();
  }
  const headSeconds = await estimateHeadFitSeconds({
    trainRows: dataset.train.length,
    valRows: dataset.val.length,
    dim: entry.feature.dim,
    classes: dataset.classes.length,
  });
  return {
    model: entry.id,
    choice: 'head',
    reason: `a fused model trains a head on the concatenated features of ${entry.parts!.length} backbones; fine-tuning needs one backbone`,
    trainImages: dataset.train.length,
    valImages: dataset.val.length,
    parts,
    headSeconds,
    seconds: parts.reduce((a, p) => a + p.extractSeconds, 0) + headSeconds,
  };
}
