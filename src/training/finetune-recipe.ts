// Rungs 2-3's recipe: the settings a fine-tuning run uses when not told otherwise, and why (the rates above all).
import { DEFAULT_MODEL_ID } from '../backbone/zoo.js';
import { domainSummary, type DomainCheck } from '../plan/domain-rule.js';
import type { RateSchedule } from '../finetune/schedule.js';
import type { FinetuneTrainOptions } from './types.js';
import {
  FINETUNE_BATCH_SIZE,
  FINETUNE_LR,
  FINETUNE_PATIENCE,
  FULL_EPOCHS,
  PARTIAL_EPOCHS,
  REPLACE_LR,
} from '../options/train-options.js';

export interface FinetuneSettings {
  strategy: 'partial' | 'full';
  freeze?: number;
  trainLast?: number;
  /** Drop the unfrozen blocks: new hidden units (1x1 conv + ReLU each) + global average pool + softmax. */
  replace?: number[];
  epochs: number;
  batchSize: number;
  /** Adam learning rate of the softmax. */
  lr: number;
  /** Adam learning rate of the unfrozen pretrained blocks (discriminative: lower than the head's). */
  tailLr: number;
  patience: number;
  /** Image size for the frozen part (TF.js backbones; the int8 ONNX model is fixed at 224 unless everything trains). */
  size?: number;
  /** Augment the training images (see augment.ts for what it costs per rung). */
  augment: boolean;
  /** partial + augment: cache this many augmented copies per image; epochs cycle through them. */
  augmentCopies?: number;
  /** After the first epoch's warm-up: the full rates (rung 2) or a cosine decay over the epochs (rung 3). */
  schedule: RateSchedule;
  /** Decoupled weight decay (step.ts); 0: none. */
  weightDecay: number;
  /** Stop as soon as the run is clearly behind epoch 0 on the inner split (auto's try; epoch-choice.ts). */
  stopWhenBehind: boolean;
}

/**
 * Rung 3's default backbone is the default backbone (MobileNetV2): with data-parallel steps over worker threads and
 * micro-batches (the optimizer step keeps the requested batch, 32 by default) it trains fast enough, and at the
 * images' native size when they are small. mobilenet-v1-0.25 stays available via --model for speed. --model wins.
 */
export const FULL_DEFAULT_MODEL = DEFAULT_MODEL_ID;

/** The backbone a run fine-tunes: --model, else the rung's default. */
export function finetuneModel(opts: FinetuneTrainOptions): string {
  return opts.model ?? (opts.strategy === 'full' ? FULL_DEFAULT_MODEL : DEFAULT_MODEL_ID);
}

/**
 * Rung 3's rate for the pretrained layers, as a divisor of the head's. Far from ImageNet (EuroSAT) the features must
 * move: at a fifth EuroSAT reached 0.965, at a tenth it still underfit after 2 epochs (train accuracy 91%). On photos
 * the features are already right and a fifth wrecks them: cats/dogs' inner val fell from 0.993 (the head) to 0.897
 * after the first full-rate epoch, and the run ended 0.3 below the head. There the usual fine-tuning rates apply:
 * Keras' transfer-learning guide unfreezes everything at 1e-5, fastai's fine_tune spreads 1e-5..1e-4 over the body
 * (head at 1e-3); a fiftieth of ours (2e-5) sits in that range. Unknown domain (no ImageNet head to ask): a fifth.
 */
export const FULL_TAIL_DIVISOR = { far: 5, photo: 50 } as const;

export function fullTailDivisor(domain: DomainCheck | undefined): number {
  return domain && !domain.far ? FULL_TAIL_DIVISOR.photo : FULL_TAIL_DIVISOR.far;
}

export function finetuneDefaults(opts: FinetuneTrainOptions, domain?: DomainCheck): FinetuneSettings {
  const strategy = opts.strategy === 'full' ? 'full' : 'partial';
  const replace = opts.replace;
  // Measured on EuroSAT: new --replace units learn best at 1e-4 (at 1e-3 they drift below their epoch-0 accuracy);
  // reused pretrained blocks get a tenth of the head's rate (discriminative rates).
  const lr = opts.lr ?? (replace ? REPLACE_LR : FINETUNE_LR);
  return {
    strategy,
    freeze: strategy === 'full' ? 0 : opts.freeze,
    trainLast: strategy === 'full' ? undefined : opts.trainLast,
    replace,
    epochs: opts.epochs ?? (strategy === 'full' ? FULL_EPOCHS : PARTIAL_EPOCHS),
    batchSize: opts.finetuneBatchSize ?? FINETUNE_BATCH_SIZE,
    lr,
    // Rung 3: by domain (fullTailDivisor), under a cosine decay.
    tailLr: opts.tailLr ?? (replace ? lr : strategy === 'full' ? lr / fullTailDivisor(domain) : lr / 10),
    patience: opts.patience ?? FINETUNE_PATIENCE,
    size: opts.size,
    // Rung 3 augments by default (fresh draws each epoch cost no extra forward there; --no-augment turns it off).
    augment: opts.augment ?? (strategy === 'full' || opts.augmentCopies !== undefined),
    augmentCopies: strategy === 'full' ? undefined : opts.augmentCopies,
    schedule: strategy === 'full' ? 'cosine' : 'constant',
    // No default decay: no measured run has shown one helps yet (AdamW-style, see step.ts).
    weightDecay: opts.weightDecay ?? 0,
    stopWhenBehind: false,
  };
}

/** What rung 3's rates are and why, for the run's log. */
export function fullRatesWhy(s: FinetuneSettings, domain: DomainCheck | undefined): string {
  const rates = `rates: head ${s.lr.toExponential(0)}, pretrained layers ${s.tailLr.toExponential(0)}`;
  if (!domain) return `${rates}${s.tailLr === s.lr / FULL_TAIL_DIVISOR.far ? " (the head's / 5)" : ''}`;
  const seen = domainSummary(domain);
  return domain.far
    ? `${rates}: ${seen}, so the pretrained features must move (the head's / ${FULL_TAIL_DIVISOR.far})`
    : `${rates}: ${seen}, so its features move little (the head's / ${FULL_TAIL_DIVISOR.photo}; far sets get / ${FULL_TAIL_DIVISOR.far})`;
}
