// `--strategy auto`'s time estimate: each rung's seconds, stage by stage, from what the probes measured on this machine
// and these images (probes.ts) and the measured correction of each stage (stage-calibration.ts). Pure arithmetic, no
// I/O (test/unit/plan-modules.test.ts reads the imports): the same measurements always give the same estimate.
import type { FullEpochProbe } from './full-probe.js';
import { expectedGain, expectsToTrainOn, formatSeconds, type Domain, type Rung } from './decide.js';
import { calibratedStageSeconds } from './stage-calibration.js';
import { FINETUNE_BATCH_SIZE, FINETUNE_PATIENCE, FULL_EPOCHS, PARTIAL_EPOCHS } from '../options/train-options.js';

/** The stages a run's time is made of (estimated by the plan, measured by the run: TrainResult.stages). */
export type StageName = 'plan' | 'extract' | 'head-fit' | 'epochs' | 'final';

export interface StageTime {
  stage: StageName;
  seconds: number;
  /** What the number covers, e.g. "1200 uncached images at 0.02 s" or "8 epochs x 21 s". */
  detail?: string;
}

export interface RungEstimate {
  rung: Rung;
  /** Estimated wall time of the whole run (sum of the stages), seconds. */
  seconds: number;
  stages: StageTime[];
  /** Expected val accuracy change vs the head, in points (measured priors, see decide.ts); null: none measured. */
  expectedGain: number | null;
  detail: string;
  /** Fine-tuning: estimated seconds of one epoch, and how many epochs the estimate counts. */
  epochSeconds?: number;
  epochs?: number;
  /**
   * Fine-tuning: the run's seconds if early stopping ends it after the fewest epochs (patience's, nothing beats
   * epoch 0) and after all of them; `seconds` counts `epochs` (what the budget rule compares).
   */
  secondsRange?: [number, number];
  epochsRange?: [number, number];
  /** Rung 3 given more epochs for a long budget (plan.ts epochsForBudget): its estimate at the default count. */
  ungrown?: RungEstimate;
}

/** New units on the deepest cut at 1/16 of the input resolution (MobileNetV2: after block 13, 14x14x96). */
export interface PartialRecipe {
  trainLast: number;
  replace: number[];
}

/** The CLI flags that ask for a recipe by hand. */
export const recipeFlags = (r: PartialRecipe) => `--train-last ${r.trainLast} --replace hidden:${r.replace.join(',')}`;

/**
 * What the run will do, as the layers above decide it (this layer may not import them; test/unit/plan-rules.test.ts
 * checks these equal training/finetune-recipe.ts's defaults, classifier/inner-split.ts's fraction and unknown.ts's caps).
 */
export const RUN_SHAPE = {
  partialEpochs: PARTIAL_EPOCHS,
  fullEpochs: FULL_EPOCHS,
  patience: FINETUNE_PATIENCE,
  innerValFraction: 0.15,
  unknownReferences: 1000,
  unknownCalibration: 5000,
  fullBatchSize: FINETUNE_BATCH_SIZE,
};
/** The scoring forward (no gradients) costs about a third of a training step per image. */
const INFER_COST = 1 / 3;

/** The data's size as the run splits it. */
export interface RunSize {
  classes: number;
  /** Mean training images per class. */
  perClass: number;
  train: number;
  val: number;
  /** Training images the fine-tuning epochs fit on (the rest is the inner val split, scored each epoch). */
  fit: number;
}

/** `trainPerClass`: training images of each class. */
export function runSize(trainPerClass: number[], train: number, val: number): RunSize {
  const classes = Math.max(1, trainPerClass.length);
  const perClass = Math.round(trainPerClass.reduce((a, n) => a + n, 0) / classes);
  return { classes, perClass, train, val, fit: Math.round(train * (1 - RUN_SHAPE.innerValFraction)) };
}

/** Images per second of each stage: measured now, or given by the caller (measured: false). */
export interface Throughput {
  extract: number;
  partialTrain: number;
  fullTrain: number;
  measured: boolean;
}

/** What the probes measured (probes.ts): everything the estimate needs. */
export interface Measurements {
  throughput: Throughput;
  /** Of the images the run reads (train + val), how many the feature cache lacks for each rung's frozen part. */
  uncached: { features: number; partial: number; full: number };
  /** Seconds per uncached image: extraction (read, decode, forward), and decoding alone (what rung 3 caches). */
  secondsPerImage: { embed: number; decode: number };
  /** Fixed costs every run pays again: reading + hashing every file, loading the backbone (seconds). */
  fixedSeconds: { hash: number; load: number };
  /** Width of the backbone's features and of the partial tail's. */
  featureDim: number;
  partialTailDim: number;
  /** The partial rung's trainable blocks, by label ('' when the steps were not probed). */
  trainable: string;
  /** The L2 search + final fit, seconds: rung 1's on the backbone's features, each fine-tuning rung's on its tail's. */
  headFitSeconds: Record<Rung, number>;
  /** Seconds per multiply-add of a dot product in JavaScript (the unknown flag's distances). */
  dotSeconds: number;
  /** Rung 3's training size (the images' own when smaller than the backbone's), and its measured epoch parts. */
  fullSize: number;
  fullProbe?: FullEpochProbe;
  /** The partial recipe auto uses far from ImageNet (when one was picked). */
  recipe?: PartialRecipe;
}

/**
 * Epochs of a fine-tuning run as early stopping decides them: at least the patience (nothing beats epoch 0), at most
 * all. The estimate counts all of them when a gain is expected (or a far domain is tried unmeasured, decide.ts
 * triesPartial), else the patience's: on the 29 locked bench:auto runs this rule was within ±30% of the epochs run
 * on 19, the mean epochs run per rung/domain/size (leave-one-dataset-out) on 8: early stopping's count does not follow
 * the size or domain, so the plan gives the range too.
 */
export interface EpochCount {
  expected: number;
  fewest: number;
  most: number;
}

export function epochsExpected(rung: Rung, gain: number | undefined, domain: Domain, perClass: number): EpochCount {
  const most = rung === 'full' ? RUN_SHAPE.fullEpochs : RUN_SHAPE.partialEpochs;
  const fewest = Math.min(most, RUN_SHAPE.patience);
  return { expected: expectsToTrainOn(rung, gain, domain, perClass) ? most : fewest, fewest, most };
}

/** A run's seconds if it stops after the fewest epochs and after the most, from its estimate counting `expected`. */
export function secondsRange(total: number, e: EpochCount, epochSeconds: number): [number, number] {
  return [total - (e.expected - e.fewest) * epochSeconds, total + (e.most - e.expected) * epochSeconds];
}

/**
 * Seconds of one whole-network epoch from rung 3's probe: the optimizer steps over the fit rows (the last one
 * partial), the augmentation drawn for each fit row, and the scoring forward of the inner val rows. (The checkpoint
 * write after it is left out, as the run's own per-epoch seconds leave it out.)
 */
export function fullEpochCost(p: FullEpochProbe, rows: { fit: number; check: number }): number {
  const steps = Math.ceil(rows.fit / p.batchSize);
  return (
    rows.fit * (p.trainSecondsPerImage + p.augmentSecondsPerImage) +
    steps * p.stepSeconds +
    rows.check * p.scoreSecondsPerImage
  );
}

/** A fine-tuning rung's per-epoch and per-image costs (seconds). */
interface EpochCost {
  epochSeconds: number;
  inferSecondsPerImage: number;
  /** Once per run, added to the epochs stage (the first steps' tier-up and worker start). */
  warmupSeconds: number;
}

/** Each rung's estimate, head first, from the probes' measurements; `domain` picks the gain priors. */
export function estimateRungs(size: RunSize, m: Measurements, domain: Domain): RungEstimate[] {
  const images = size.train + size.val;
  const extractStage = (n: number, perImage: number, what: string): StageTime => ({
    stage: 'extract',
    seconds: m.fixedSeconds.hash + m.fixedSeconds.load + n * perImage,
    detail: `${n} of ${images} images not cached (${what}, ~${perImage.toFixed(3)} s each), + reading ${images} files and loading the model`,
  });
  // After the fit: the unknown flag's threshold (up to unknownCalibration training images, each scored against the
  // references) and val's distances, then metrics.
  const refs = Math.min(size.train, RUN_SHAPE.unknownReferences);
  const calibration = Math.min(size.train, Math.max(refs, RUN_SHAPE.unknownCalibration));
  const afterFit = (dim: number) => refs * (calibration + size.val) * dim * m.dotSeconds;
  // Rung 1: extraction of what is not cached, then the L2 search + final fit.
  const headStages = calibrated('head', images, [
    extractStage(m.uncached.features, m.secondsPerImage.embed, 'features'),
    {
      stage: 'head-fit',
      seconds: m.headFitSeconds.head + afterFit(m.featureDim),
      detail: 'L2 search by 5-fold CV + final fit',
    },
  ]);
  const tp = m.throughput;
  // From a training rate alone (img/s): scoring an image costs INFER_COST of a training step.
  const costAt = (imgPerSec: number): EpochCost => ({
    epochSeconds: size.fit / imgPerSec + (size.train - size.fit) / (imgPerSec / INFER_COST),
    inferSecondsPerImage: INFER_COST / imgPerSec,
    warmupSeconds: 0,
  });
  const recipe = m.recipe;
  const partial = tunedEstimate('partial', size, domain, {
    extract: extractStage(m.uncached.partial, m.secondsPerImage.embed, 'activations at the cut'),
    cost: costAt(tp.partialTrain),
    dim: m.partialTailDim,
    headFitSeconds: m.headFitSeconds.partial,
    afterFit,
    what: recipe
      ? `${recipe.replace.join(',')} new units in place of the last ${recipe.trainLast} blocks (${recipeFlags(recipe)}) + softmax on cached activations at ~${tp.partialTrain.toFixed(0)} img/s`
      : `last blocks${m.trainable ? ` (${m.trainable})` : ''} + softmax on cached activations at ~${tp.partialTrain.toFixed(0)} img/s`,
  });
  const probe = m.fullProbe;
  const full = tunedEstimate('full', size, domain, {
    extract: extractStage(m.uncached.full, m.secondsPerImage.decode, `decoded at ${m.fullSize} px`),
    cost: probe
      ? {
          epochSeconds: fullEpochCost(probe, { fit: size.fit, check: size.train - size.fit }),
          inferSecondsPerImage: probe.scoreSecondsPerImage,
          warmupSeconds: probe.warmupSeconds,
        }
      : costAt(tp.fullTrain),
    dim: m.featureDim,
    headFitSeconds: m.headFitSeconds.full,
    afterFit,
    what: `every layer at ${m.fullSize} px at ~${tp.fullTrain.toFixed(1)} img/s${probe ? ` (${probe.threads} thread${probe.threads > 1 ? 's' : ''}, passes of ${probe.microBatch})` : ''}`,
  });
  const head: RungEstimate = {
    rung: 'head',
    seconds: sum(headStages),
    stages: headStages,
    expectedGain: 0,
    detail: 'new softmax on frozen features (L-BFGS, L2 by 5-fold CV)',
  };
  return [head, partial, full];
}

const sum = (s: StageTime[]) => s.reduce((a, x) => a + x.seconds, 0);

/**
 * Each probe times the stage's kernel; the run adds what the probe leaves out (Adam, scoring, checkpoints, worker
 * hand-offs, reading the cache back): measured corrections per rung and stage (stage-calibration.ts).
 */
function calibrated(rung: Rung, images: number, stages: StageTime[]): StageTime[] {
  for (const st of stages) st.seconds = calibratedStageSeconds(rung, st.stage, st.seconds, images);
  return stages;
}

/**
 * Rungs 2-3: activations at the cut, the L-BFGS head on the tail's features (85% of train), the epochs (training steps
 * on the fit rows + scoring the inner val rows), then the tail's features of train and val once for the report.
 */
function tunedEstimate(
  rung: 'partial' | 'full',
  size: RunSize,
  domain: Domain,
  p: {
    extract: StageTime;
    cost: EpochCost;
    /** Width of the tail's features. */
    dim: number;
    /** The same L2 search as rung 1's, on the tail's features. */
    headFitSeconds: number;
    afterFit: (dim: number) => number;
    /** What the rung trains, and how fast. */
    what: string;
  },
): RungEstimate {
  const gain = expectedGain(rung, size.perClass, domain);
  const epochs = epochsExpected(rung, gain, domain, size.perClass);
  const { inferSecondsPerImage: infer, warmupSeconds } = p.cost;
  const images = size.train + size.val;
  const stages = calibrated(rung, images, [
    p.extract,
    {
      stage: 'head-fit',
      seconds: size.train * infer + p.headFitSeconds,
      detail: 'tail features + L-BFGS head (search included)',
    },
    {
      stage: 'epochs',
      seconds: epochs.expected * p.cost.epochSeconds + warmupSeconds,
      detail: `${epochs.expected} epochs (early stopping after ${RUN_SHAPE.patience} without gain)`,
    },
    {
      stage: 'final',
      seconds: images * infer + p.afterFit(p.dim),
      detail: 'features of train + val, unknown flag, metrics',
    },
  ]);
  const epochSeconds = calibratedStageSeconds(rung, 'epochs', p.cost.epochSeconds, images);
  const seconds = sum(stages);
  // The epoch count is early stopping's: the estimate counts the expected one, the range the fewest and the most.
  const range = secondsRange(seconds, epochs, epochSeconds);
  return {
    rung,
    seconds,
    stages,
    expectedGain: gain ?? null,
    epochSeconds,
    epochs: epochs.expected,
    epochsRange: [epochs.fewest, epochs.most],
    secondsRange: range,
    detail: `${p.what}, ${epochs.expected} of ${epochs.most} epochs counted (early stopping: ${formatSeconds(range[0])} to ${formatSeconds(range[1])} in all)`,
  };
}
