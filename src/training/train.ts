// trainClassifier: the one entry point for every rung. It loads the dataset, lets `auto` plan, and dispatches to rung 1
// (head.ts: a new head on frozen features) or to fine-tuning (finetune.ts: rungs 2 and 3). The two rungs are siblings:
// they share the harness around their training step (harness.ts), types (types.ts) and the head policy
// (classifier/head-policy.ts), never each other.
import { loadDataset, datasetWarnings, usedClassCounts, type Dataset } from '../data/dataset.js';
import { planTraining, type Plan, type Rung, type StageName } from '../plan/plan.js';
import { finetuneClassifier } from './finetune.js';
import { trainHeadClassifier } from './head.js';
import { TlError } from '../util/errors.js';
import type { EpochBudget } from './epoch-budget.js';
import { isFusedSpec } from '../backbone/fused.js';
import { normaliseStrategy } from '../options/normalise.js';
import {
  DEFAULT_STRATEGY,
  finetuneOptionsOf,
  headOptionsOf,
  type AutoTrainOptions,
  type RungContext,
  type StageTimes,
  type TrainEvent,
  type TrainOptions,
  type TrainResult,
} from './types.js';

export type {
  TrainOptions,
  HeadTrainOptions,
  FinetuneTrainOptions,
  AutoTrainOptions,
  CommonTrainOptions,
  TrainEvent,
  TrainResult,
  HistoryPoint,
  HeadSpec,
  Strategy,
  TrainConfig,
  HeadConfig,
  FinetuneConfig,
  StageTimes,
} from './types.js';
export { DEFAULT_STRATEGY } from './types.js';

export async function trainClassifier(data: string | Dataset, opts: TrainOptions = {}): Promise<TrainResult> {
  opts = normaliseStrategy(opts); // --freeze/--train-last/--replace/--augment-copies mean partial (options/normalise.ts)
  const t0 = Date.now();
  const emit = opts.onEvent ?? (() => {});
  const seed = opts.seed ?? 0;
  const dataset =
    typeof data === 'string'
      ? loadDataset(data, { valFraction: opts.val, seed, allowOutside: opts.allowOutside })
      : data;
  for (const s of dataset.skipped) emit({ type: 'skip', file: s });
  // Counts and "too few images" warnings describe the images used, so they wait until unreadable files are skipped.
  // Said once per run: a head trained again after a try (below) reads the same images.
  let reported = false;
  const reportUsed = (trainLabels: ArrayLike<number>, valLabels: ArrayLike<number>) => {
    const counts = usedClassCounts(dataset.classes, trainLabels, valLabels);
    const warnings = [...datasetWarnings(counts), ...(dataset.warnings ?? [])];
    if (!reported) emit({ type: 'dataset', dataset, counts, warnings });
    reported = true;
    // One rule for every rung: a class whose images were all skipped cannot be learned.
    const used = new Set(Array.from(trainLabels));
    const empty = dataset.classes.findIndex((_, c) => !used.has(c));
    if (empty >= 0) {
      throw new TlError(
        `class "${dataset.classes[empty]}" has no usable training image (all were skipped)`,
        'Add readable photos to that class folder, or remove the folder.',
      );
    }
    return { counts, warnings };
  };
  const ctx: RungContext = { dataset, reportUsed, emit, t0 };

  let strategy = opts.strategy ?? DEFAULT_STRATEGY;
  let plan: Plan | undefined;
  const tPlan = Date.now();
  // A fused model (--model a+b) has only rung 1: fine-tuning needs one backbone, so there is nothing to plan.
  if ((opts.strategy === undefined || opts.strategy === 'auto') && !isFusedSpec(opts.model)) {
    plan = await planTraining(dataset, {
      model: opts.model,
      modelPath: opts.modelPath,
      timeBudget: opts.timeBudget,
      trainLast: opts.trainLast,
      freeze: opts.freeze,
      replace: opts.replace,
      store: opts.store,
      dataArg: typeof data === 'string' ? data : undefined,
    });
    emit({ type: 'plan', plan });
    strategy = plan.choice;
  }
  const planSeconds = plan ? (Date.now() - tPlan) / 1000 : 0;
  const clock = stageClock(emit);
  const timed: RungContext = {
    ...ctx,
    emit: clock.emit,
    domain: plan?.domain,
    autoTry: plan !== undefined,
  };
  // auto's fine-tuning rungs are tries against the head (their epoch 0), one or two (partial, then rung 3).
  const tries = plan?.tries ?? (strategy === 'partial' || strategy === 'full' ? [strategy] : []);
  if (plan && tries.length) {
    // (a plan is made only for auto's options; each try fills in its own recipe or epochs from them)
    const t = await tryInTurn({ ...plan, tries }, opts as AutoTrainOptions, timed);
    plan = { ...plan, outcome: t.outcome };
    emit({ type: 'plan', plan: { ...plan, reason: t.outcome } });
    return { ...t.result, plan, stages: clock.stages(t.timedAs, plan, planSeconds) };
  }
  const r =
    strategy === 'partial' || strategy === 'full'
      ? await finetuneClassifier(finetuneOptionsOf(opts, strategy), timed)
      : await trainHeadClassifier(headOptionsOf(opts), timed);
  const rung = strategy === 'partial' || strategy === 'full' ? strategy : 'head';
  return { ...r, plan, stages: clock.stages(rung, plan, planSeconds) };
}

/** Of auto's tries, the one kept: among those that count, the higher inner-val accuracy, the earlier on a tie. */
export function pickTry<T extends { counts: boolean; inner: number }>(tried: T[]): T | undefined {
  return tried
    .filter((t) => t.counts)
    .reduce<T | undefined>((a, t) => (a === undefined || t.inner > a.inner ? t : a), undefined);
}

/**
 * auto's tries in turn (partial, then rung 3; or the one rung chosen), each against the head on the same inner split
 * (seeded). A try counts when its paired test kept a fine-tuned epoch (or, for the far recipe, its new units: not the
 * head; or, with no inner split to test on, its best epoch on train); of those, the higher inner-val accuracy wins,
 * the cheaper on a tie. None: rung 1 itself, trained again on the backbone's own cached features (a few seconds): a
 * try's epoch 0 is the same head on the tail's float copy of the network, at the try's size, close but not equal
 * (imagewoof: val 0.874 against rung 1's 0.884). A try's 'done' is said only for the one kept; the others are
 * disposed. `timedAs`: the rung whose estimate the run's stages compare with (the last try when the head was kept:
 * its time went there, the head trained again counts in 'final').
 */
async function tryInTurn(
  plan: Plan & { tries: Rung[] },
  asked: AutoTrainOptions,
  ctx: RungContext,
): Promise<{ result: TrainResult; timedAs: 'partial' | 'full'; outcome: string }> {
  const tried: {
    rung: 'partial' | 'full';
    result: TrainResult;
    verdict: Verdict | undefined;
    cut: BudgetCut | undefined;
    done: TrainEvent[];
    counts: boolean;
    inner: number;
  }[] = [];
  const tries = plan.tries.filter((r): r is 'partial' | 'full' => r !== 'head');
  for (const [i, rung] of tries.entries()) {
    if (asked.signal?.aborted) continue;
    const done: TrainEvent[] = [];
    // This try's own verdict (none only without an inner split to test on).
    let verdict: Verdict | undefined;
    let cut: BudgetCut | undefined;
    const o = finetuneOptionsOf(optionsForPlan(asked, { ...plan, choice: rung }), rung);
    const result = await finetuneClassifier(o, {
      ...ctx,
      emit: (e) => {
        if (e.type === 'finetune-verdict') verdict = e;
        if (e.type === 'finetune-budget') cut = e.epochs < e.of ? e : undefined;
        if (e.type === 'done') done.push(e);
        else ctx.emit(e);
      },
      // (the tries after this one keep their planned share of the budget)
      budget: tryBudget(plan, rung, ctx.t0, tries.slice(i + 1)),
    });
    const newUnits = 'replace' in o && !!o.replace;
    tried.push({
      rung,
      result,
      verdict,
      cut,
      done,
      // (no verdict: no inner split to test on, so the try's best epoch on train stands)
      counts: newUnits || (verdict ? verdict.kept > 0 : result.config.splits.decisions?.split !== 'inner-val'),
      inner: result.config.splits.decisions?.accuracy ?? -1,
    });
  }
  const winner = pickTry(tried);
  for (const t of tried) if (t !== winner) await t.result.classifier.dispose();
  const lines = tried.map((t) => tryOutcome(t.rung, t.verdict, t.cut));
  const timedAs = winner?.rung ?? tries.at(-1)!;
  const pct = (x: number) => `${(x * 100).toFixed(1)} %`;
  if (!winner) {
    const result = await trainHeadClassifier(headOptionsOf(asked), ctx);
    const outcome = `${lines.join('; ')}; saved: rung 1's head, trained again on the backbone's own features`;
    return { result, timedAs, outcome };
  }
  for (const e of winner.done) ctx.emit(e);
  const other = tried.find((t) => t !== winner && t.counts);
  const why =
    winner.inner < 0
      ? `kept ${winner.rung}`
      : `kept ${winner.rung}: ${pct(winner.inner)} on the inner split${other ? ` against ${other.rung}'s ${pct(other.inner)}` : ''}`;
  return { result: winner.result, timedAs, outcome: `${lines.join('; ')}; ${why}` };
}

/**
 * The options auto's choice runs with. Far from ImageNet, partial uses new units on a mid-level cut (plan.recipe),
 * unless blocks were given. A long budget buys rung 3 more epochs (plan.ts epochsForBudget), unless --epochs was
 * given; the cosine decay's last, low-rate epochs are where a run settles, so patience does not end the grown run
 * before them (a 12-epoch try on tf_flowers5 stopped by the default patience at epoch 7, its rate still at 70 %).
 * Being clearly behind the head still ends it.
 */
export function optionsForPlan(
  opts: AutoTrainOptions,
  plan: Pick<Plan, 'choice' | 'recipe' | 'epochs'>,
): AutoTrainOptions {
  if (plan.choice === 'partial' && plan.recipe)
    return { ...opts, trainLast: plan.recipe.trainLast, replace: plan.recipe.replace };
  if (plan.choice === 'full' && plan.epochs !== undefined && opts.epochs === undefined)
    return { ...opts, epochs: plan.epochs, patience: opts.patience ?? plan.epochs };
  return opts;
}

type BudgetCut = Extract<TrainEvent, { type: 'finetune-budget' }>;
type Verdict = Extract<TrainEvent, { type: 'finetune-verdict' }>;

/**
 * A try's share of auto's time budget: from the run's start (the plan included: the budget is the user's wait), the
 * budget less what the tries after it are planned to take; the plan's epoch and final-stage seconds for the rest.
 */
export function tryBudget(
  plan: Pick<Plan, 'estimates' | 'timeBudget'>,
  rung: 'partial' | 'full',
  t0: number,
  later: ('partial' | 'full')[],
): EpochBudget | undefined {
  const est = plan.estimates.find((e) => e.rung === rung);
  if (!est?.epochSeconds) return undefined;
  const laterSeconds = later.reduce((a, r) => a + (plan.estimates.find((e) => e.rung === r)?.seconds ?? 0), 0);
  return {
    endsAt: t0 + (plan.timeBudget - laterSeconds) * 1000,
    epochSeconds: est.epochSeconds,
    finalSeconds: est.stages.find((st) => st.stage === 'final')?.seconds ?? 0,
  };
}

/** auto's line after its try: what was tried, what each scored on the inner split, and why the winner won. */
function tryOutcome(rung: 'partial' | 'full', v: Verdict | undefined, cut?: BudgetCut): string {
  const held = cut ? ` (the time budget held ${cut.epochs} of ${cut.of} epochs)` : '';
  if (!v)
    return `tried ${rung}${held}: no inner split to compare it with the head on, so the best epoch on train was kept`;
  const stop = v.stopped
    ? v.stopped.why === 'behind'
      ? `; stopped after epoch ${v.stopped.epoch}, clearly behind the head`
      : `; stopped after epoch ${v.stopped.epoch}, no better epoch in the patience's epochs`
    : '';
  return `tried ${rung}${held}${stop}: ${v.why}`;
}

/**
 * Wall seconds of each stage of a run, from the times of its events: extraction ends with the last 'extract-done',
 * the head fit with the first curve point of fine-tuning (epoch 0) or with 'done' (rung 1), epochs are their own
 * events' seconds, 'final' (the tail's features of train and val, metrics) runs from the last epoch to 'done'.
 */
function stageClock(emit: (e: TrainEvent) => void) {
  const t0 = Date.now();
  let extractEnd = t0;
  let headEnd: number | undefined;
  let lastEpochEnd: number | undefined;
  let done: number | undefined;
  const epochSeconds: number[] = [];
  return {
    emit(e: TrainEvent) {
      const now = Date.now();
      // (a head trained again after a try that kept epoch 0 extracts again: its time counts in 'final')
      if (e.type === 'extract-done' && headEnd === undefined) extractEnd = now;
      else if (e.type === 'progress' && e.of !== undefined && e.point.step === 0 && headEnd === undefined)
        headEnd = now;
      else if (e.type === 'finetune-epoch') {
        epochSeconds.push(e.seconds);
        lastEpochEnd = now;
      } else if (e.type === 'done') done = now;
      emit(e);
    },
    stages(rung: StageTimes['rung'], plan: Plan | undefined, planSeconds: number): StageTimes {
      const end = done ?? Date.now();
      const s = (a: number, b: number) => Math.max(0, (b - a) / 1000);
      const actual: [StageName, number][] =
        rung === 'head'
          ? [
              ['extract', s(t0, extractEnd)],
              ['head-fit', s(extractEnd, end)],
            ]
          : [
              ['extract', s(t0, extractEnd)],
              ['head-fit', s(extractEnd, headEnd ?? extractEnd)],
              ['epochs', epochSeconds.reduce((a, x) => a + x, 0)],
              ['final', s(lastEpochEnd ?? headEnd ?? extractEnd, end)],
            ];
      const est = plan?.estimates.find((x) => x.rung === rung);
      const stages = actual.map(([stage, actualSeconds]) => ({
        stage,
        estimatedSeconds: est?.stages.find((x) => x.stage === stage)?.seconds,
        actualSeconds,
      }));
      if (plan) stages.unshift({ stage: 'plan', estimatedSeconds: undefined, actualSeconds: planSeconds });
      return {
        rung,
        stages,
        estimatedTotalSeconds: est?.seconds,
        actualTotalSeconds: s(t0, end),
        ...(rung === 'head' ? {} : { epochSeconds }),
      };
    },
  };
}
