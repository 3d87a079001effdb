// The training set of each fine-tuning epoch: the cached activations at the cut, or augmented ones (augment.ts):
// rung 3 augments the preprocessed image afresh each epoch; rung 2 cycles through cached augmented copies, or runs the
// frozen part on fresh augmentations every epoch when none are cached.
import type { LabeledImage } from '../data/dataset.js';
import type { CutBackbone } from '../backbone/runtimes/types.js';
import { FeatureStore } from '../features/store.js';
import { augmentImage, augmentedCut } from '../finetune/augment.js';
import { TlError } from '../util/errors.js';
import { extractLabelled, type LabelledFeatures } from './labelled-features.js';
import type { ActSet } from './finetune-epochs.js';
import type { FinetuneSettings } from './finetune-recipe.js';
import type { FinetuneTrainOptions, TrainEvent } from './types.js';

/** Extracted rows as activations at the cut. */
export function actSet(rows: LabelledFeatures): ActSet {
  return { acts: rows.features, labels: rows.labels, paths: rows.paths };
}

/** What extracting augmented copies needs from the run. */
export interface AugmentRun {
  frozen: CutBackbone;
  classes: string[];
  seed: number;
  emit: (e: TrainEvent) => void;
  opts: FinetuneTrainOptions;
}

/** The frozen part's outputs on augmentation `copy` of each image of `set`, all of them or a clear error (`lost`). */
export async function augmentedActs(
  run: AugmentRun,
  into: FeatureStore,
  set: ActSet,
  copy: number,
  lost: string,
): Promise<ActSet> {
  const items: LabeledImage[] = set.paths.map((path, i) => ({ path, label: run.classes[set.labels[i]] }));
  const cut = augmentedCut(run.frozen, { seed: run.seed, copy });
  const c = actSet(await extractLabelled(cut, into, items, run.classes, 'train', run.emit, run.opts));
  if (c.acts.length !== set.acts.length) throw new TlError(lost, 'Run again.');
  return c;
}

/**
 * Training set of each epoch (1-based) when it changes: `copies` are the cached augmented copies of the whole training
 * split, `fitRows` the rows of it trained on. Undefined: the cached activations every epoch.
 */
export function epochSets(
  run: AugmentRun,
  s: FinetuneSettings,
  fitSet: ActSet,
  copies: ActSet[],
  fitRows: (set: ActSet) => ActSet,
): ((epoch: number) => Promise<ActSet>) | undefined {
  if (s.augment && s.strategy === 'full') {
    // Freeze nothing: the cached activation is the preprocessed image (NHWC), augmented afresh each epoch.
    const spec = run.frozen.input;
    return async (epoch) => ({
      ...fitSet,
      acts: fitSet.acts.map((x) => augmentImage(x, spec, spec.size, 'NHWC', { seed: run.seed, copy: epoch })),
    });
  }
  if (copies.length) {
    const fitCopies = copies.map(fitRows);
    return async (epoch) => fitCopies[(epoch - 1) % fitCopies.length];
  }
  if (s.augment) {
    // No cached copies: decode and run the frozen part on fresh augmentations every epoch (memory store only).
    return async (epoch) => {
      const mem = FeatureStore.open(':memory:');
      try {
        return await augmentedActs(run, mem, fitSet, 1_000_000 + epoch, 'an image became unreadable during training');
      } finally {
        mem.close();
      }
    };
  }
  return undefined;
}
