// What every rung shares: the options (a union over `strategy`: which fields apply to which rung), the events a
// training run reports, its result and the config it records in the bundle. The dispatcher (train.ts), the harness
// (harness.ts), rung 1 (head.ts) and fine-tuning (finetune*.ts) all import these from here, never from each other.
import type { CurvePoint } from '../eval/report.js';
import type { ExtractProgress } from '../features/extract.js';
import type { FeatureStore } from '../features/store.js';
import type { RemoteExtractor } from '../features/extract-remote.js';
import type { Dataset, ClassCount } from '../data/dataset.js';
import type { SkippedFile } from '../data/files.js';
import type { L2Selection } from '../solvers/select-l2.js';
import type { Metrics } from '../eval/metrics.js';
import type { Classifier } from '../classifier/classifier.js';
import type { HeadSpec } from '../classifier/head-spec.js';
import type { ClassWeightMode } from '../classifier/head-policy.js';
import type { Plan } from '../plan/plan.js';
import type { DomainCheck } from '../plan/domain.js';
import type { EpochBudget } from './epoch-budget.js';

export type { HeadSpec } from '../classifier/head-spec.js';
export type { SplitsUsed, HeadConfig, FinetuneConfig, TrainConfig } from '../classifier/config.js';
import type { TrainConfig } from '../classifier/config.js';

export type Strategy = 'head' | 'partial' | 'full' | 'auto';
/** The library's and the CLI's one default: pick the rung from images per class, time budget and measured speed. */
export const DEFAULT_STRATEGY: Strategy = 'auto';

/** Options of every rung. */
export interface CommonTrainOptions {
  /** Backbone id (default: the zoo's best; rung 3 too). */
  model?: string;
  modelPath?: string;
  /** Validation fraction when the data has no split of its own. */
  val?: number;
  seed?: number;
  /** A CSV manifest may list files outside its folder (loadDataset's allowOutside; CLI --allow-outside). */
  allowOutside?: boolean;
  /** L2 strength of the softmax; chosen by 5-fold CV on the training split when not set. */
  l2?: number;
  /** 'balanced' reweights classes by inverse frequency; 'auto' does so only when imbalanced (max/min >= 1.5). */
  classWeights?: ClassWeightMode;
  /** Images per backbone forward pass while extracting features. */
  batchSize?: number;
  /** Where TF.js fine-tuning runs: cpu, webgpu, auto (default env.device, TL_DEVICE, else cpu). */
  device?: 'cpu' | 'webgpu' | 'auto';
  store?: FeatureStore;
  onEvent?: (e: TrainEvent) => void;
  signal?: AbortSignal;
  /** Run rung 1's feature extraction on a queue of `tl worker`s (src/queue/); cut activations stay local. */
  remote?: RemoteExtractor;
}

/** Rung 1: a new head on frozen features. */
export interface HeadTrainOptions extends CommonTrainOptions {
  strategy: 'head';
  head?: HeadSpec;
  /** Epochs for the MLP head (the linear head trains to convergence). */
  epochs?: number;
}

/** Rungs 2 ('partial': the last blocks, on activations cached at a cut) and 3 ('full': every layer). */
export interface FinetuneTrainOptions extends CommonTrainOptions {
  strategy: 'partial' | 'full';
  /** partial: freeze the first N blocks (see `tl plan` for the block list). */
  freeze?: number;
  /** partial: train the last K blocks (default 2). */
  trainLast?: number;
  /** partial: replace the unfrozen blocks by new 1x1-conv units of these sizes (default: reuse their pretrained weights). */
  replace?: number[];
  /** Adam rate of the softmax (default 1e-3; 1e-4 with replace). */
  lr?: number;
  /**
   * Adam rate of the unfrozen blocks (default: a tenth of lr for reused blocks, lr itself for new replace units; rung 3:
   * lr/50 on photos close to ImageNet, lr/5 far from it).
   */
  tailLr?: number;
  /** Decoupled (AdamW) weight decay of kernels and the head's W, not biases/BatchNorm (default 0). */
  weightDecay?: number;
  /** Epochs (default 8 partial, 6 full: PARTIAL_EPOCHS/FULL_EPOCHS in options/train-options.ts); early stopping keeps the best. */
  epochs?: number;
  /** Minibatch size (default 32, capped to fit the wasm heap). */
  finetuneBatchSize?: number;
  /** Early-stopping patience in epochs (default 3). */
  patience?: number;
  /** Keep the epoch with the best validation accuracy (default true; false keeps the last epoch). */
  restoreBest?: boolean;
  /** Input size in pixels for TF.js backbones (e.g. 160 for full fine-tuning). */
  size?: number;
  /** Augment training images (random resized crop 0.6-1, flip, brightness/contrast ±10%; seeded). */
  augment?: boolean;
  /** partial + augment: cache K augmented copies per image at the cut (K x disk, computed once); epochs cycle them. */
  augmentCopies?: number;
}

/** 'auto' (the default): the plan picks a rung; the options of the rung it picks apply. */
export interface AutoTrainOptions extends Omit<HeadTrainOptions, 'strategy'>, Omit<FinetuneTrainOptions, 'strategy'> {
  strategy?: 'auto';
  /** Seconds the training may take (default 900: DEFAULT_TIME_BUDGET in options/train-options.ts). */
  timeBudget?: number;
}

export type TrainOptions = HeadTrainOptions | FinetuneTrainOptions | AutoTrainOptions;

/** One point of a training curve (L-BFGS iteration or epoch): the report's `CurvePoint`. */
export type HistoryPoint = CurvePoint;

export type TrainEvent =
  /** Once the images are read: counts and warnings on the images used (unreadable files already skipped). */
  | { type: 'dataset'; dataset: Dataset; counts: ClassCount[]; warnings: string[] }
  | { type: 'backbone'; id: string; featureDim: number }
  | { type: 'extract-start'; split: 'train' | 'val'; total: number }
  | { type: 'extract'; split: 'train' | 'val'; progress: ExtractProgress }
  | { type: 'extract-done'; split: 'train' | 'val'; embedded: number; cached: number; skipped: number; seconds: number }
  | { type: 'skip'; file: SkippedFile }
  | { type: 'select-l2'; selection: L2Selection; seconds: number }
  /** The temperature folded into the head (harness.ts), and the held-out training rows it was fitted on. */
  | {
      type: 'temperature';
      temperature: number;
      rows: number;
      capped: boolean;
      logLossBefore: number;
      logLossAfter: number;
    }
  | { type: 'progress'; point: HistoryPoint; of?: number }
  | { type: 'done'; metrics: Metrics; seconds: number }
  | { type: 'plan'; plan: Plan }
  | {
      type: 'finetune-setup';
      cut: string;
      trainable: string[];
      backend: string;
      /** Where training runs: "cpu (wasm)", "webgpu (llvmpipe ..., software)"; and the frozen part when elsewhere. */
      device?: string;
      note?: string;
      replace?: number[];
      /** the training size picked, and why */ size?: string;
      /** rung 3: the learning rates and why */ rates?: string;
    }
  | { type: 'finetune-batch'; requested: number; used: number; bytesPerImage: number }
  /** After each training step of an epoch: images done of the epoch's total. */
  | { type: 'finetune-step'; epoch: number; of: number; done: number; total: number }
  /**
   * The epochs auto's time budget holds changed: `epochs` of the `of` planned (before the first epoch from the plan's
   * estimate of one, after an epoch from its measured seconds; back up to `of` when epochs run faster).
   */
  | { type: 'finetune-budget'; epochs: number; of: number; epochSeconds: number; measured: boolean }
  /** A checkpoint of this same run was found: training continues after its last finished epoch. */
  | { type: 'finetune-resume'; epoch: number; of: number; dir: string }
  /**
   * Fine-tuning's epochs are over: the epoch kept and why (the paired test against epoch 0 on the inner split), and
   * when they ended before the last, why (patience since the best fine-tuned epoch, or clearly behind epoch 0).
   */
  | { type: 'finetune-verdict'; kept: number; why: string; stopped?: { epoch: number; why: 'patience' | 'behind' } }
  | {
      type: 'finetune-epoch';
      epoch: number;
      seconds: number;
      images: number;
      memory: { numTensors: number; numBytes: number; numDataIds: number };
    };

export interface TrainResult {
  classifier: Classifier;
  metrics: Metrics;
  history: HistoryPoint[];
  selection?: L2Selection;
  dataset: Dataset;
  counts: ClassCount[];
  warnings: string[];
  timings: { extractSeconds: number; trainSeconds: number; totalSeconds: number };
  config: TrainConfig;
  /** `auto` only: the plan that picked the rung (its reason and estimates). */
  plan?: Plan;
  /** Wall seconds of each stage as run, beside the plan's estimate for the rung that ran (when auto planned). */
  stages?: StageTimes;
}

/** Estimated (by auto's plan) and actual seconds of each stage of the run (finetune/plan.ts's StageName). */
export interface StageTimes {
  rung: 'head' | 'partial' | 'full';
  stages: { stage: string; estimatedSeconds?: number; actualSeconds: number }[];
  estimatedTotalSeconds?: number;
  actualTotalSeconds: number;
  /** Fine-tuning: epochs run (early stopping may end before the estimate's maximum) and seconds of each. */
  epochSeconds?: number[];
}

/** What the dispatcher hands a rung besides its options: the loaded dataset and the clock. */
export interface RungContext {
  dataset: Dataset;
  /** Call once the images are read, with the class index of each usable one: emits the 'dataset' event. */
  reportUsed(
    trainLabels: ArrayLike<number>,
    valLabels: ArrayLike<number>,
  ): { counts: ClassCount[]; warnings: string[] };
  emit: (e: TrainEvent) => void;
  /** Date.now() when trainClassifier started (the result's totalSeconds count from it). */
  t0: number;
  /** auto's ImageNet-likeness check of this dataset, when its plan ran one (rung 3 reuses it for its rates). */
  domain?: DomainCheck;
  /** auto is trying this rung against the head: stop as soon as it is clearly behind (training/epoch-choice.ts). */
  autoTry?: boolean;
  /** auto's try: when its time is up (the epochs are cut to fit: epoch-budget.ts). */
  budget?: EpochBudget;
}

/** The fine-tuning rung's view of any options (an auto run that picked partial carries extra head fields; ignored). */
export function finetuneOptionsOf(opts: TrainOptions, strategy: 'partial' | 'full'): FinetuneTrainOptions {
  return { ...(opts as Omit<FinetuneTrainOptions, 'strategy'>), strategy };
}

/** The head rung's view of any options. */
export function headOptionsOf(opts: TrainOptions): HeadTrainOptions {
  return { ...(opts as Omit<HeadTrainOptions, 'strategy'>), strategy: 'head' };
}
