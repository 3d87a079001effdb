// What a trained classifier records about how it was made (classifier.json's `config`), and which split every number
// of the run is on. Written by the rungs (src/training/), read back by bundles, export checks, the server and the CLI.
import type { Dataset } from '../data/dataset.js';
import type { HeadSpec } from './head-spec.js';
import type { L2Source } from './head-policy.js';

/** Which split every number and decision of a run is on (recorded as `config.splits`; in --json and metrics.json). */
export interface SplitsUsed {
  /** The reported metrics: the validation split, read once after every decision was made. */
  reported: { split: 'val' | 'train (no validation images)'; images: number; accuracy: number };
  /** The held-out part of the TRAINING split the run's decisions were made on. */
  decisions: {
    split: 'inner-val' | 'cv-on-train' | 'none';
    /** What was decided there, e.g. 'L2 strength', 'best epoch'. */
    decided: string[];
    /** Images held out (inner-val) or cross-validated (cv-on-train). */
    images: number;
    /** The kept model's accuracy on the inner val split, or the CV accuracy at the chosen L2. */
    accuracy?: number;
  };
  /** The unknown flag: threshold calibrated on training images; the rate it flags measured on val. */
  unknown: {
    /**
     * What the threshold was calibrated on and the score's rule, for display only (never parsed): "train, leave-one-out
     * (mean cosine distance to the 5 nearest training features)"; bundles from before the k-NN rule say "train
     * (leave-one-out nearest-neighbour distances)".
     */
    calibratedOn: string;
    targetFlagRate: number;
    flagRateOnVal?: number;
  };
}

/** What every rung records in classifier.json's `config`. */
type CommonConfig = {
  data: string;
  split: Dataset['splitSource'];
  model: string;
  seed: number;
  l2: number;
  l2SelectedBy: L2Source;
  trainImages: number;
  valImages: number;
  evaluatedOn: 'val' | 'train (no validation images)';
  splits: SplitsUsed;
  /**
   * The temperature folded into the head's last layer, fitted by log loss on held-out training rows (CV out-of-fold
   * logits, or the inner val split); absent in older bundles and when nothing was held out.
   */
  temperature?: number;
};

export type HeadConfig = CommonConfig & {
  /** Absent in bundles written before the config was typed: those are all rung 1. */
  strategy?: 'head';
  head: HeadSpec;
  classWeights: 'balanced' | 'none';
};

export type FinetuneConfig = CommonConfig & {
  strategy: 'partial' | 'full';
  cut: string;
  trainable: string[];
  replace: number[] | null;
  imageSize: number;
  head: { kind: 'linear' };
  epochs: number;
  bestEpoch: number;
  lr: number;
  tailLr: number;
  batchSize: number;
  requestedBatchSize: number;
  augment: { recipe: string; copies: number | null; fresh: boolean } | null;
  backend: string;
  /** Epoch 0 (the L-BFGS head on the pretrained tail) on the inner val split: what the kept epoch had to beat. */
  headOnlyInnerValAccuracy: number;
};

export type TrainConfig = HeadConfig | FinetuneConfig;
