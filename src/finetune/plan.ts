// `--strategy auto` and `tl plan`: which rung is worth its time, from images per class, a time budget and the
// training throughput measured on this machine right now (a few minibatches of the tail on random activations).
import type { Dataset } from '../data/dataset.js';
import { classCounts } from '../data/dataset.js';
import { findModel } from '../backbone/registry.js';
import { runtimeFor } from '../backbone/runtimes/registry.js';
import { DEFAULT_MODEL_ID } from '../backbone/zoo.js';
import type { ResolveOptions } from '../backbone/resolve.js';
import { loadNetwork, resolveFreeze, buildTrainableTail, trainingTf, type Network } from './network.js';
import { checkDomain, type DomainCheck } from './domain.js';
import { estimateHeadFitSeconds } from '../train/head-cost.js';

export type Rung = 'head' | 'partial' | 'full';

export interface RungEstimate {
  rung: Rung;
  /** Estimated wall time of a first run (frozen part not cached yet), seconds. */
  seconds: number;
  /** Expected val accuracy change vs the head, in points (a rough prior from our measurements, see README). */
  expectedGain: number;
  detail: string;
}

export interface Plan {
  choice: Rung;
  /** One line: what was chosen and why. */
  reason: string;
  imagesPerClass: number;
  trainImages: number;
  timeBudget: number;
  throughput: { extract: number; partialTrain: number; fullTrain: number; measured: boolean };
  estimates: RungEstimate[];
  /** How ImageNet-like the training images look to the backbone's own head (when partial was considered). */
  domain?: DomainCheck;
  /** The partial recipe auto uses: set when the images are far from ImageNet and no blocks were asked for. */
  recipe?: PartialRecipe;
}

/** New units on the deepest cut at 1/16 of the input resolution (MobileNetV2: after block 13, 14x14x96). */
export interface PartialRecipe {
  trainLast: number;
  replace: number[];
}

/** Units of the far-from-ImageNet recipe; 1024 measured 0.943 on EuroSAT (512: 0.9395 at epoch 0, 2048: 0.944 untrained). */
export const FAR_RECIPE_UNITS = 1024;

export function farRecipe(net: Network): PartialRecipe | undefined {
  const size = net.entry.input.size;
  let idx = -1;
  net.units.forEach((u, i) => {
    if (u.shape[0] * 16 >= size) idx = i;
  });
  if (idx < 0 || idx >= net.units.length - 1) return undefined;
  return { trainLast: net.units.length - (idx + 1), replace: [FAR_RECIPE_UNITS] };
}

/** The CLI flags that ask for a recipe by hand. */
const recipeFlags = (r: PartialRecipe) => `--train-last ${r.trainLast} --replace hidden:${r.replace.join(',')}`;

/** Below this many training images per class, fine-tuning blocks mostly overfits: the head is as good (hymenoptera). */
export const PARTIAL_MIN_PER_CLASS = 300;
/** Whole-network fine-tuning is only suggested with this many per class (and never picked by auto under the budget). */
export const FULL_MIN_PER_CLASS = 1000;
export const DEFAULT_TIME_BUDGET = 600;
const PARTIAL_EPOCHS = 8;
const FULL_EPOCHS = 5;

export interface PlanOptions extends ResolveOptions {
  model?: string;
  modelPath?: string;
  timeBudget?: number;
  freeze?: number;
  trainLast?: number;
  /** Skip the probe and use these throughputs (img/s). */
  throughput?: { extract: number; partialTrain: number; fullTrain: number };
  /** Probe even when the images per class already decide (tl plan does). */
  alwaysMeasure?: boolean;
  /** The user's own --replace (then no recipe is picked for them). */
  replace?: number[];
  /** Skip the ImageNet-likeness check and use this one (tests). */
  domain?: DomainCheck | null;
}

export async function planTraining(dataset: Dataset, opts: PlanOptions = {}): Promise<Plan> {
  const counts = classCounts(dataset);
  const perClass = Math.round(counts.reduce((a, c) => a + c.train, 0) / Math.max(1, counts.length));
  const N = dataset.train.length;
  const Nval = dataset.val.length;
  const budget = opts.timeBudget ?? DEFAULT_TIME_BUDGET;
  const entry = findModel(opts.model ?? DEFAULT_MODEL_ID);
  const worthIt = perClass >= PARTIAL_MIN_PER_CLASS;
  let tp = opts.throughput ? { ...opts.throughput, measured: false } : undefined;
  let trainable = '';
  let domain: DomainCheck | undefined;
  let recipe: PartialRecipe | undefined;
  const considerPartial = worthIt || opts.alwaysMeasure;
  const userChoseBlocks = opts.freeze !== undefined || opts.trainLast !== undefined || opts.replace !== undefined;
  const net = considerPartial ? await loadNetwork(entry, { path: opts.modelPath }) : undefined;
  if (net && !userChoseBlocks) {
    domain =
      opts.domain === undefined
        ? await checkDomain(dataset, { model: entry.id, modelPath: opts.modelPath })
        : (opts.domain ?? undefined);
    if (domain?.far) recipe = farRecipe(net);
  }
  if (!tp) {
    // Fallback when no probe runs: the runtime's extraction img/s on 2 cores (bench/train-throughput.ts, idle machine).
    const extract = runtimeFor(entry.format).extractPrior;
    if (net) {
      const r = await probe(net, recipe ?? { freeze: opts.freeze, trainLast: opts.trainLast, replace: opts.replace });
      trainable = r.trainable;
      tp = { extract, partialTrain: r.partial, fullTrain: r.full, measured: true };
    } else {
      tp = { extract, partialTrain: 60, fullTrain: 4, measured: false };
    }
  }
  const extractS = (N + Nval) / tp.extract;
  // L2 search + final fit, from a gradient evaluation timed now (a few ms) and the evaluation counts measured on real features.
  const headS =
    extractS +
    (await estimateHeadFitSeconds({ trainRows: N, valRows: Nval, dim: entry.feature.dim, classes: counts.length }));
  const partialS = extractS + PARTIAL_EPOCHS * (N / tp.partialTrain + Nval / (tp.partialTrain * 3));
  const fullS = FULL_EPOCHS * (N / tp.fullTrain + Nval / (tp.fullTrain * 3));
  // Priors from bench/finetune-eval.ts (README): reusing the last blocks measured +0 to +0.9 points at 500-1000/class;
  // new units on a mid-level cut (--train-last 5 --replace hidden:1024) +2.2 on satellite patches, -3 on photos.
  const gainPartial = perClass >= PARTIAL_MIN_PER_CLASS ? (recipe ? 2 : 1) : perClass >= 100 ? 0.5 : 0;
  const gainFull = perClass >= FULL_MIN_PER_CLASS ? 4 : perClass >= PARTIAL_MIN_PER_CLASS ? 2 : -1;
  const estimates: RungEstimate[] = [
    {
      rung: 'head',
      seconds: headS,
      expectedGain: 0,
      detail: 'new softmax on frozen features (L-BFGS, L2 by 5-fold CV)',
    },
    {
      rung: 'partial',
      seconds: partialS,
      expectedGain: gainPartial,
      detail: recipe
        ? `${recipe.replace.join(',')} new units in place of the last ${recipe.trainLast} blocks (${recipeFlags(recipe)}) + softmax on cached activations, ${PARTIAL_EPOCHS} epochs at ~${tp.partialTrain.toFixed(0)} img/s`
        : `last blocks${trainable ? ` (${trainable})` : ''} + softmax on cached activations, ${PARTIAL_EPOCHS} epochs at ~${tp.partialTrain.toFixed(0)} img/s`,
    },
    {
      rung: 'full',
      seconds: fullS,
      expectedGain: gainFull,
      detail: `every layer, ${FULL_EPOCHS} epochs at ~${tp.fullTrain.toFixed(1)} img/s`,
    },
  ];
  const fmt = (s: number) => (s < 90 ? `${Math.round(s)} s` : `${Math.round(s / 60)} min`);
  let choice: Rung = 'head';
  let reason: string;
  if (!worthIt) {
    reason = `${perClass} images/class: head only; partial fine-tuning would cost ~${fmt(partialS)} for ~+${gainPartial}% expected (needs >= ${PARTIAL_MIN_PER_CLASS}/class)`;
  } else if (partialS > budget) {
    reason = `${perClass} images/class: head only; partial fine-tuning (~+${gainPartial}% expected) would take ~${fmt(partialS)}, over the ${fmt(budget)} time budget (--time-budget)`;
  } else {
    choice = 'partial';
    const far = domain?.far
      ? `; far from ImageNet (its head's mean top-1 confidence on ${domain.images} training images is ${domain.meanTop1.toFixed(2)}, photos score 0.5-0.8), so ${recipe ? `new units replace the last ${recipe.trainLast} blocks (${recipeFlags(recipe)})` : 'the ImageNet-specific top blocks may not help'}`
      : '';
    reason = `${perClass} images/class: partial fine-tuning (last blocks + head), ~${fmt(partialS)} for ~+${gainPartial}% expected over the head (~${fmt(headS)}); full would take ~${fmt(fullS)}${far}`;
  }
  return {
    choice,
    reason,
    imagesPerClass: perClass,
    trainImages: N,
    timeBudget: budget,
    throughput: tp,
    estimates,
    domain,
    recipe,
  };
}

/** Training img/s of the default partial tail and (extrapolated by multiply-adds) of the whole network. */
async function probe(
  net: Network,
  req: { freeze?: number; trainLast?: number; replace?: number[] },
): Promise<{ partial: number; full: number; trainable: string }> {
  const { tf } = await trainingTf();
  const { cut, trainable, lastFrozen } = resolveFreeze(net, req);
  const unitShape =
    lastFrozen >= 0
      ? net.units[lastFrozen].shape
      : ([net.entry.input.size, net.entry.input.size, 3] as [number, number, number]);
  const tail = await buildTrainableTail(tf, net, cut, unitShape, { replace: req.replace });
  const B = 16;
  const x = tf.randomNormal([B, ...unitShape]) as import('@tensorflow/tfjs').Tensor4D;
  const vars = [...tail.variables.values()];
  const step = () =>
    tf.tidy(() => {
      const { value, grads } = tf.variableGrads(
        () => tf.mean(tf.square(tail.apply(x))) as import('@tensorflow/tfjs').Scalar,
        vars,
      );
      value.dataSync();
      tf.dispose(Object.values(grads));
    });
  try {
    step(); // warm-up (kernel setup, allocations)
    const t0 = performance.now();
    const reps = 2;
    for (let i = 0; i < reps; i++) step();
    const partial = (reps * B) / ((performance.now() - t0) / 1000);
    // Whole network: cost grows with the multiply-adds; MobileNet's early blocks work on big maps, so parameters
    // under-count them. A factor measured with bench/train-throughput.ts: full ≈ partial(last 2 blocks) / 12.
    return { partial, full: partial / 12, trainable: trainable.map((u) => u.label).join(', ') };
  } finally {
    x.dispose();
    tail.dispose();
  }
}
