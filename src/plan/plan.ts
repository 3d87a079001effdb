// `--strategy auto` and `tl plan`: which rung is worth its time, in three steps: the probes measure this machine and
// these images (probes.ts: extraction, the head's gradient evaluation, training steps of the partial tail and of the
// whole network at the run's size, what the feature cache holds, how ImageNet-like the images look), the estimate
// turns them into each rung's seconds per stage (estimate.ts, pure), and the rule picks the rung (decide.ts, pure).
import type { Dataset } from '../data/dataset.js';
import { classCounts } from '../data/dataset.js';
import { findModel } from '../backbone/registry.js';
import { DEFAULT_MODEL_ID, ZOO } from '../backbone/zoo.js';
import type { ResolveOptions } from '../backbone/resolve.js';
import { estimateHeadFitSeconds } from '../solvers/head-cost.js';
import { TlError } from '../util/errors.js';
import { domainSummary, type DomainCheck } from './domain.js';
import { backboneAdvice, type BackboneAdvice } from './backbone-advice.js';
import type { FullEpochProbe } from './full-probe.js';
import { runProbes, type ProbeOptions } from './probes.js';
import {
  estimateRungs,
  RUN_SHAPE,
  recipeFlags,
  runSize,
  type PartialRecipe,
  type RungEstimate,
  type RunSize,
} from './estimate.js';
import { decideRung, formatSeconds, type Domain, type Rung } from './decide.js';

// What other modules imported from here before the split into probes/estimate/decide.
export type { Rung } from './decide.js';
export { formatSeconds } from './decide.js';
export {
  RUN_SHAPE,
  epochsExpected,
  secondsRange,
  type EpochCount,
  type PartialRecipe,
  type RungEstimate,
  type StageName,
  type StageTime,
} from './estimate.js';
import { DEFAULT_TIME_BUDGET as TABLE_TIME_BUDGET } from '../options/train-options.js';
export { FAR_RECIPE_UNITS, farRecipe, PARALLEL_SPEEDUP } from './probes.js';

export interface Plan {
  /** The rung auto runs; with `tries`, the last of them. */
  choice: Rung;
  /** The rungs auto tries in turn against the head (partial, then full) when the budget holds both. */
  tries?: Rung[];
  /** What was chosen and why (and, when only the budget stops a better rung, the command that runs it). */
  reason: string;
  imagesPerClass: number;
  trainImages: number;
  timeBudget: number;
  throughput: { extract: number; partialTrain: number; fullTrain: number; measured: boolean };
  estimates: RungEstimate[];
  /** How ImageNet-like the training images look to the backbone's own head (when fine-tuning was considered). */
  domain?: DomainCheck;
  /** The partial recipe auto uses: set when the images are far from ImageNet and no blocks were asked for. */
  recipe?: PartialRecipe;
  /** A rung expected to gain more than the choice, left out only because of the time budget. */
  blockedByBudget?: { rung: Rung; seconds: number; gain: number; command: string };
  /** Rung 3's training size (the images' own when smaller than the backbone's). */
  fullSize?: number;
  /** Rung 3's measured epoch parts (when it was probed). */
  fullEpoch?: FullEpochProbe;
  /** When a stronger backbone (from the zoo's published linear probes) looks the better lever than a deeper rung. */
  backboneAdvice?: BackboneAdvice;
  /** Rung 3 under auto: the epochs its run gets, more than the default when the time budget holds them. */
  epochs?: number;
  /** After the run (auto): what the fine-tuning try scored against the head on the inner split, and which was kept. */
  outcome?: string;
}

/**
 * How long a user waits by default: 15 minutes. bench/auto.ts measured partial fine-tuning gaining ~+2 points on
 * far-from-ImageNet images in 5-10 min on 2 cores, worth a coffee break; whole-network runs (30-45 min) need asking.
 */
export const DEFAULT_TIME_BUDGET = TABLE_TIME_BUDGET;

export interface PlanOptions extends ProbeOptions, ResolveOptions {
  timeBudget?: number;
  /** The data argument as the user typed it (for the printed commands). */
  dataArg?: string;
}

export async function planTraining(dataset: Dataset, opts: PlanOptions = {}): Promise<Plan> {
  try {
    return await planAllRungs(dataset, opts);
  } catch (e) {
    // A network the fine-tuning engine cannot rebuild (e.g. an op it has no trainable version of) still has rung 1:
    // auto must not fail over rungs it would not be able to run.
    if (!(e instanceof TlError)) throw e;
    return await headOnlyPlan(dataset, opts, e.message);
  }
}

async function headOnlyPlan(dataset: Dataset, opts: PlanOptions, why: string): Promise<Plan> {
  const size = sizeOf(dataset);
  const entry = findModel(opts.model ?? DEFAULT_MODEL_ID);
  const seconds = await estimateHeadFitSeconds({
    trainRows: size.train,
    valRows: size.val,
    dim: entry.feature.dim,
    classes: size.classes,
  });
  return {
    choice: 'head',
    reason: `head: fine-tuning is not available for ${entry.id} (${why}); rung 1 needs only its features`,
    imagesPerClass: size.perClass,
    trainImages: size.train,
    timeBudget: opts.timeBudget ?? DEFAULT_TIME_BUDGET,
    throughput: { extract: 0, partialTrain: 0, fullTrain: 0, measured: false },
    estimates: [
      {
        rung: 'head',
        seconds,
        stages: [{ stage: 'head-fit', seconds, detail: 'L2 search by 5-fold CV + final fit' }],
        expectedGain: 0,
        detail: 'new softmax on frozen features (L-BFGS, L2 by 5-fold CV)',
      },
    ],
  };
}

/** Classes, mean training images per class, training images, and the rows the epochs fit on. */
function sizeOf(dataset: Dataset): RunSize {
  const trainPerClass = classCounts(dataset).map((c) => c.train);
  return runSize(trainPerClass, dataset.train.length, dataset.val.length);
}

/** Probes → estimate → decision. */
async function planAllRungs(dataset: Dataset, opts: PlanOptions): Promise<Plan> {
  const size = sizeOf(dataset);
  const probes = await runProbes(dataset, size, opts);
  const domain: Domain = probes.domain?.far ? 'far' : 'photo';
  const measured: Plan = {
    choice: 'head',
    reason: '',
    imagesPerClass: size.perClass,
    trainImages: size.train,
    timeBudget: 0,
    throughput: probes.throughput,
    estimates: estimateRungs(size, probes, domain),
    domain: probes.domain,
    recipe: probes.recipe,
    fullSize: probes.fullSize,
    fullEpoch: probes.fullProbe,
    backboneAdvice: backboneAdvice(findModel(opts.model ?? DEFAULT_MODEL_ID), ZOO, probes.domain),
  };
  return withTimeBudget(measured, opts.timeBudget ?? DEFAULT_TIME_BUDGET, opts.dataArg ?? dataset.root);
}

/**
 * auto's decision on a plan's measurements under a time budget: the probes and the estimates do not depend on the
 * budget, so a new budget is decided again without measuring again (`tl serve`'s plan panel). `dataArg` is the data
 * argument the printed commands name.
 */
export function withTimeBudget(plan: Plan, budget: number, dataArg: string): Plan {
  // A plan of rung 1 alone (fine-tuning unavailable for the backbone) keeps its reason: no budget changes it.
  if (!plan.estimates.some((e) => e.rung !== 'head')) return { ...plan, timeBudget: budget };
  // A plan decided before may carry rung 3's estimate grown for its budget: decide again from the default's.
  plan = { ...plan, estimates: plan.estimates.map((e) => e.ungrown ?? e) };
  const domain: Domain = plan.domain?.far ? 'far' : 'photo';
  const recipe = plan.recipe;
  const command = (rung: Rung) =>
    `tl train ${dataArg} --strategy ${rung}${rung === 'partial' && recipe ? ` ${recipeFlags(recipe)}` : ''}`;
  const options = plan.estimates.map((e) => ({
    rung: e.rung,
    seconds: e.seconds,
    gain: e.expectedGain ?? undefined,
    command: command(e.rung),
  }));
  const decision = decideRung(options, { perClass: plan.imagesPerClass, budget, domain });
  const { blockedByBudget: _old, epochs: _epochs, tries: _tries, ...rest } = plan;
  // Two tries share the budget: rung 3's epochs grow into what partial's try leaves.
  const partialSeconds = decision.tries?.includes('partial')
    ? (plan.estimates.find((e) => e.rung === 'partial')?.seconds ?? 0)
    : 0;
  const grown = decision.choice === 'full' ? epochsForBudget(plan.estimates, budget - partialSeconds) : undefined;
  return {
    ...rest,
    choice: decision.choice,
    ...(decision.tries ? { tries: decision.tries } : {}),
    reason:
      decision.reason +
      (decision.choice === 'partial' || decision.tries?.includes('partial') ? recipeReason(plan) : '') +
      (grown ? `; the budget holds ${grown.epochs} epochs of rung 3 (~${formatSeconds(grown.seconds)} in all)` : ''),
    timeBudget: budget,
    ...(grown ? { epochs: grown.epochs, estimates: grown.estimates } : {}),
    ...(decision.blockedByBudget ? { blockedByBudget: decision.blockedByBudget } : {}),
  };
}

/**
 * Rung 3 gets more epochs than its default when the budget holds them, up to FULL_MAX_EPOCHS: under the cosine decay a
 * longer run spends more steps at a high rate with augmentation, and the inner split still picks the best epoch; the
 * run's patience is its epochs (training/train.ts: the last, low-rate epochs are where it settles), so it runs them all
 * unless clearly behind the head. On tf_flowers5 (240/class) 6 epochs ended 0.923 against the head's 0.910 (docs/auto.md). Partial keeps
 * its default: its epochs are seconds each and its runs end by patience, not by the count. Returns the estimates with
 * rung 3's redone for the grown count, or undefined when the budget holds no more than the default.
 */
export function epochsForBudget(
  estimates: RungEstimate[],
  budget: number,
): { epochs: number; seconds: number; estimates: RungEstimate[] } | undefined {
  const full = estimates.find((e) => e.rung === 'full');
  if (!full?.epochs || !full.epochSeconds) return undefined;
  const more = Math.floor((budget - full.seconds) / full.epochSeconds);
  const epochs = Math.min(FULL_MAX_EPOCHS, full.epochs + Math.max(0, more));
  if (epochs <= full.epochs) return undefined;
  const extra = (epochs - full.epochs) * full.epochSeconds;
  const base = full.detail.replace(/, \d+ of \d+ epochs counted.*$/, '');
  const grown: RungEstimate = {
    ...full,
    detail: `${base}, ${epochs} epochs (the budget holds more than the default ${full.epochs}; patience waits for the last)`,
    seconds: full.seconds + extra,
    epochs,
    stages: full.stages.map((st) =>
      st.stage === 'epochs'
        ? {
            ...st,
            seconds: st.seconds + extra,
            detail: `${epochs} epochs (the budget holds more than the default ${full.epochs}; the best is kept)`,
          }
        : st,
    ),
    epochsRange: [epochs, epochs],
    secondsRange: [full.seconds + extra, full.seconds + extra],
    ungrown: full,
  };
  return { epochs, seconds: grown.seconds, estimates: estimates.map((e) => (e === full ? grown : e)) };
}

/** The most epochs auto gives rung 3 however long the budget: twice the default. */
export const FULL_MAX_EPOCHS = 2 * RUN_SHAPE.fullEpochs;

/** Why partial's blocks are new units, when the far recipe was picked. */
function recipeReason({ recipe, domain }: Pick<Plan, 'recipe' | 'domain'>): string {
  if (!recipe || !domain) return '';
  return `; ${domainSummary(domain)}, so new units replace the last ${recipe.trainLast} blocks (${recipeFlags(recipe)})`;
}
