// Does `--strategy auto` earn its name? For every shared set, stratified subsets of it (25/50/100/300 images/class)
// and the domain variants (EuroSAT is far from ImageNet), record auto's plan (choice, reason, each rung's estimated
// stages), then run every rung that fits the time budget (head always; partial and full where their estimate fits;
// rung 3 on the big sets may be taken from issue #12's measured runs with --rung3) and record val accuracy and the
// actual seconds of each stage. `--analyze` (no training) fits the gain table from the runs, checks the rule
// leave-one-dataset-out (fit on the other sets, decide on the held-out one) and prints the tables.
// npm run bench:auto -- [--sets eurosat,hymenoptera_data] [--sizes all,25,50,100,300] [--grey imagewoof:100]
//   [--budget 900] [--full-max 240] [--rung3 eurosat=0.961:2400] [--add full,auto] [--analyze]
// --add full,auto: keep each row's recorded runs and add what it lacks: rung 3 forced (its estimate within --full-max),
// so "best within budget" can include it; auto's own run where it tries more than one rung (the row's `auto`).
// Where auto tries partial then rung 3, the row also runs both forced; a row without auto's own run counts auto as the
// same rule applied to the forced runs (same seed and options; the table marks it "from forced").
// --sizes: 'all' is each set whole, a number a stratified subset of that many training images/class. --grey SET:N:
// greyscale copies of N training images/class and the whole val split (written under /tmp, never into the sets),
// a domain the backbone was not trained on (variant 'grey-N/class').
// Writes bench-results/auto.json (merged with earlier runs, keyed by set + variant).
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { loadavg, tmpdir } from 'node:os';
import sharp from 'sharp';
import { basename, join, resolve } from 'node:path';
import { trainClassifier, env, loadDataset, planTraining, type Dataset, type TrainOptions } from '../src/index.js';
import { DEFAULT_TIME_BUDGET, epochsExpected, secondsRange } from '../src/plan/plan.js';
import {
  calibratedStageSeconds,
  probedStageSeconds,
  SHIPPED_CALIBRATION,
  type StageCalibration,
} from '../src/plan/stage-calibration.js';
import {
  decideRung,
  fitGainTable,
  expectedGain,
  GAIN_PRIORS,
  type Domain,
  type GainObservation,
  type GainTable,
  type Rung,
  type RungDecision,
} from '../src/plan/decide.js';
import { pickTry } from '../src/training/train.js';
import { benchArgs, list } from './args.js';

const args = benchArgs(
  'npm run bench:auto -- [--sets eurosat,cats_and_dogs_filtered,hymenoptera_data,imagewoof,imagenette,tf_flowers5,pbc_bloodcells8] ' +
    '[--sizes all,25,100,300,50] [--grey SET:N,...] [--budget 900] [--full-max 240] [--rung3 SET=ACC:SECONDS,...] [--analyze]',
  {
    sets: 'eurosat,cats_and_dogs_filtered,hymenoptera_data,imagewoof,imagenette,tf_flowers5,pbc_bloodcells8',
    sizes: 'all,25,100,300,50',
    grey: '',
    budget: String(DEFAULT_TIME_BUDGET),
    'full-max': '240',
    rung3: '',
    add: '',
  },
  ['analyze'],
);
const root =
  [resolve(import.meta.dirname, '..'), resolve(import.meta.dirname, '../..')].find((d) =>
    existsSync(join(d, 'package.json')),
  ) ?? process.cwd();
const datasetsDir = env.datasetsDir || resolve(root, '../shared/datasets');
env.modelsDir ||= resolve(root, '../shared/models');
const out = resolve(root, 'bench-results/auto.json');
const budget = Number(args.budget);
const fullMax = Number(args['full-max']);

interface RunRecord {
  valAccuracy: number;
  innerValAccuracy?: number;
  bestEpoch?: number;
  actualSeconds: number;
  estimatedSeconds: number;
  stages: { stage: string; estimatedSeconds?: number; actualSeconds: number }[];
  epochSeconds?: number[];
  estimatedEpochSeconds?: number;
  /** Run as auto (its choice): the plan's line after the try. */
  auto?: string;
  /** When auto, planning again for its run, ran another rung than the record's plan chose (near the budget). */
  ranAs?: Rung;
  /** auto's own run that tried several rungs in turn (the row's `auto`): the rung it kept. */
  kept?: Rung;
  /** Where the number comes from when not run here (issue #12's rung-3 runs). */
  source?: string;
  /** The calibration the plan applied to its probes (to recover them when refitting); older runs: CALIBRATION_HISTORY. */
  calibration?: StageCalibration;
}
interface VariantRecord {
  set: string;
  variant: string;
  perClass: number;
  classes: number;
  trainImages: number;
  valImages: number;
  domain: Domain;
  meanTop1?: number;
  /** The ImageNet-likeness rule's number (plan/domain-rule.ts): distinct ImageNet classes per dataset class. */
  classesPerClass?: number;
  budget: number;
  plan: {
    choice: Rung;
    tries?: Rung[];
    reason: string;
    seconds: number;
    estimates: { rung: Rung; seconds: number; expectedGain: number | null; epochSeconds?: number }[];
  };
  runs: Partial<Record<Rung, RunRecord | { skipped: string }>>;
  /** auto's own run, when it tried more than one rung (runs.full is then rung 3 forced). */
  auto?: RunRecord;
  loadavg: [number, number];
  when: string;
}

const records: VariantRecord[] = existsSync(out) ? (JSON.parse(await readFile(out, 'utf8')).variants ?? []) : [];
const save = async () => {
  await mkdir(join(root, 'bench-results'), { recursive: true });
  await writeFile(out, JSON.stringify({ budget, variants: records }, null, 2) + '\n');
};

/** A stratified subset: `perClass` training images of each class (seeded order), the whole val split. */
function subset(ds: Dataset, perClass: number): Dataset {
  const key = (p: string) => createHash('sha256').update(`0:${p}`).digest('hex');
  const train = ds.classes.flatMap((c) =>
    ds.train
      .filter((i) => i.label === c)
      .sort((a, b) => (key(a.path) < key(b.path) ? -1 : 1))
      .slice(0, perClass),
  );
  return { ...ds, train };
}

/**
 * Greyscale copies (3 equal channels, JPEG) of `perClass` training images/class (the same stratified pick as subset)
 * and of the whole val split, under the temp folder; files already written are kept, so a rerun reuses the cache.
 */
async function greyVariant(ds: Dataset, set: string, perClass: number): Promise<Dataset> {
  const dir = join(tmpdir(), 'tl-bench-auto-grey', `${set}-${perClass}`);
  const copy = async (split: 'train' | 'val', items: Dataset['train']) =>
    Promise.all(
      items.map(async (i) => {
        const path = join(dir, split, i.label, basename(i.path).replace(/\.[^.]+$/, '.jpg'));
        if (!existsSync(path)) {
          await mkdir(join(dir, split, i.label), { recursive: true });
          await sharp(i.path).greyscale().toColourspace('srgb').jpeg({ quality: 90 }).toFile(path);
        }
        return { path, label: i.label };
      }),
    );
  const sub = subset(ds, perClass);
  return { ...ds, root: dir, train: await copy('train', sub.train), val: await copy('val', ds.val), skipped: [] };
}

/**
 * The calibration plan.ts applied when a run recorded none (git: 80d89dd 09:16 UTC, 667f482 12:45 UTC). A bench
 * process loads the code once: the 09:16-12:45 runs planned with 80d89dd's (their partial epochs ran at 0.35x the
 * estimate, 1.9 x 0.35 = 0.67 as the later runs' 0.72 x ~1.0 says).
 */
const CALIBRATION_HISTORY: { since: string; cal: StageCalibration }[] = [
  { since: '2026-11-30T09:16:02Z', cal: { factors: { 'partial:epochs': 1.9 }, cachedReadSeconds: {} } },
  {
    since: '2026-11-30T12:45:31Z',
    cal: {
      factors: {
        'head:extract': 0.76,
        'head:head-fit': 0.78,
        'partial:extract': 0.85,
        'partial:head-fit': 0.94,
        'partial:epochs': 0.72,
      },
      cachedReadSeconds: {},
    },
  },
];

/** Load average (2 cores) above which a run's times are left out of the time check: made without the heavy-run lock. */
const CONTENDED_LOAD = 6;

const isRun = (r: RunRecord | { skipped: string } | undefined): r is RunRecord => !!r && 'valAccuracy' in r;

type PlanOf = Awaited<ReturnType<typeof planTraining>>;

/** Plans, then runs the head and partial where it fits; rung 3 waits for the second pass (runFull). */
async function runVariant(set: string, variant: string, ds: Dataset): Promise<[VariantRecord, PlanOf]> {
  const l0 = loadavg()[0];
  const t0 = Date.now();
  const plan = await planTraining(ds, { timeBudget: budget });
  const planSeconds = (Date.now() - t0) / 1000;
  console.error(`${set} ${variant}: auto -> ${plan.choice} (${planSeconds.toFixed(0)} s to plan): ${plan.reason}`);
  const rec: VariantRecord = {
    set,
    variant,
    perClass: plan.imagesPerClass,
    classes: ds.classes.length,
    trainImages: ds.train.length,
    valImages: ds.val.length,
    domain: plan.domain?.far ? 'far' : 'photo',
    meanTop1: plan.domain?.meanTop1,
    classesPerClass: plan.domain?.classesPerClass,
    budget,
    plan: {
      choice: plan.choice,
      ...(plan.tries && { tries: plan.tries }),
      reason: plan.reason,
      seconds: planSeconds,
      estimates: plan.estimates.map((e) => ({
        rung: e.rung,
        seconds: e.seconds,
        expectedGain: e.expectedGain,
        epochSeconds: e.epochSeconds,
      })),
    },
    runs: {},
    loadavg: [l0, l0],
    when: new Date().toISOString(),
  };
  for (const e of plan.estimates) {
    if (e.rung === 'partial' && e.seconds > budget) {
      rec.runs.partial = { skipped: `estimated ${Math.round(e.seconds)} s > budget ${budget} s` };
      continue;
    }
    if (e.rung === 'full') {
      // Run in the second pass (runFull) when it fits, or when it is auto's choice (its try, from 200 images/class).
      if (e.seconds > Math.min(budget, fullMax) && plan.choice !== 'full')
        rec.runs.full = { skipped: `estimated ${Math.round(e.seconds)} s > ${Math.min(budget, fullMax)} s` };
      continue;
    }
    rec.runs[e.rung] = await runRung(ds, plan, e.rung);
  }
  rec.loadavg = [l0, loadavg()[0]];
  return [rec, plan];
}

/** Rung 3 where its estimate is within the budget and --full-max, or where auto tries it (with auto's epochs). */
async function runFull(rec: VariantRecord, ds: Dataset, plan: PlanOf): Promise<void> {
  const e = plan.estimates.find((x) => x.rung === 'full')!;
  if (e.seconds <= Math.min(budget, fullMax) || plan.choice === 'full') rec.runs.full = await runRung(ds, plan, 'full');
  if (plan.tries) rec.auto = await runRung(ds, plan, 'auto');
}

async function runRung(ds: Dataset, plan: PlanOf, which: Rung | 'auto'): Promise<RunRecord> {
  // 'auto': auto's own run of several tries, timed against the sum of their estimates.
  const rung: Rung = which === 'auto' ? plan.choice : which;
  const e0 = plan.estimates.find((x) => x.rung === rung)!;
  const e =
    which === 'auto'
      ? {
          ...e0,
          seconds: plan.estimates.filter((x) => plan.tries!.includes(x.rung)).reduce((a, x) => a + x.seconds, 0),
          stages: [],
        }
      : e0;
  // auto's own choice runs as auto (its try stops when clearly behind, rung 3 gets the budget's epochs): the number
  // is what `tl train` gives; the other rungs run forced, for the best-within-budget column. Where auto tries several
  // rungs, each runs forced and auto runs once more on its own ('auto').
  const asAuto = which === 'auto' || (rung !== 'head' && rung === plan.choice && !plan.tries);
  const opts: TrainOptions = asAuto
    ? { seed: 0, timeBudget: budget }
    : e.rung === 'head'
      ? { strategy: 'head', seed: 0 }
      : e.rung === 'partial'
        ? { strategy: 'partial', seed: 0, ...(plan.recipe ?? {}) }
        : // (the epochs and patience auto's try of rung 3 gets, so a try's rule applies to the forced run: autoOnTries)
          {
            strategy: 'full',
            seed: 0,
            ...(plan.epochs !== undefined && { epochs: plan.epochs, patience: plan.epochs }),
          };
  const r = await trainClassifier(ds, opts);
  // Near the budget the second plan's probes can decide otherwise: the record says what auto ran.
  const ranAs = asAuto && which !== 'auto' && r.stages && r.stages.rung !== rung ? r.stages.rung : undefined;
  if (ranAs)
    console.error(
      `  warning: auto planned again and ran ${ranAs}, not ${rung}: recorded under ${rung}, ranAs ${ranAs}`,
    );
  const ft = r.config.strategy === 'partial' || r.config.strategy === 'full' ? r.config : undefined;
  // (the rung whose model was saved: rung 1 when no try beat the head)
  const kept: Rung = ft?.strategy ?? 'head';
  const run: RunRecord = {
    ...(asAuto && { auto: r.plan?.outcome ?? r.plan?.reason ?? '' }),
    ...(ranAs && { ranAs }),
    ...(which === 'auto' && { kept }),
    valAccuracy: r.metrics.accuracy,
    innerValAccuracy: r.config.splits.decisions.accuracy,
    bestEpoch: ft?.bestEpoch,
    actualSeconds: r.stages!.actualTotalSeconds,
    estimatedSeconds: e.seconds,
    stages: r.stages!.stages.map((s) => ({
      ...s,
      estimatedSeconds: e.stages.find((x) => x.stage === s.stage)?.seconds,
    })),
    epochSeconds: r.stages!.epochSeconds,
    estimatedEpochSeconds: e.epochSeconds,
    calibration: SHIPPED_CALIBRATION,
  };
  console.error(
    `  ${which === 'auto' ? `auto (tried ${plan.tries!.join(', ')}, kept ${kept})` : `${e.rung}${asAuto ? ' (as auto)' : ''}`}: val ${run.valAccuracy.toFixed(4)}, ${run.actualSeconds.toFixed(0)} s (estimated ${e.seconds.toFixed(0)} s)` +
      ` stages ${run.stages.map((s) => `${s.stage} ${s.actualSeconds.toFixed(0)}/${s.estimatedSeconds?.toFixed(0) ?? '-'}`).join(', ')}`,
  );
  await r.classifier.dispose();
  return run;
}

function applyRung3(): void {
  // "eurosat=0.961:2400": val accuracy and wall seconds of a rung-3 run measured elsewhere (issue #12).
  for (const item of list(args.rung3)) {
    const m = /^([\w-]+)=([\d.]+):([\d.]+)$/.exec(item);
    if (!m) throw new Error(`--rung3: expected SET=ACC:SECONDS, got ${item}`);
    const rec = records.find((r) => r.set === m[1] && r.variant === 'all');
    if (!rec) continue;
    const est = rec.plan.estimates.find((e) => e.rung === 'full')!;
    rec.runs.full = {
      valAccuracy: Number(m[2]),
      actualSeconds: Number(m[3]),
      estimatedSeconds: est.seconds,
      stages: [],
      source: "issue #12's rung-3 run (/tmp/rung3-measured.md)",
    };
  }
}

if (!args.analyze) {
  // Every set whole first, then each subset size across the sets (--sizes order): a run cut short still covers
  // every set for the leave-one-dataset-out check. Rung 3 last.
  const sets = list(args.sets).map((set) => {
    const ds = loadDataset(join(datasetsDir, set));
    return { set, ds, perClass: Math.min(...ds.classes.map((c) => ds.train.filter((i) => i.label === c).length)) };
  });
  const variants: { set: string; variant: string; ds: Dataset }[] = list(args.sizes).flatMap((size) =>
    size === 'all'
      ? sets.map(({ set, ds }) => ({ set, variant: 'all', ds }))
      : sets
          .filter((x) => Number(size) < x.perClass)
          .map(({ set, ds }) => ({ set, variant: `${size}/class`, ds: subset(ds, Number(size)) })),
  );
  for (const item of list(args.grey)) {
    const m = /^([\w-]+):(\d+)$/.exec(item);
    if (!m) throw new Error(`--grey: expected SET:N, got ${item}`);
    const ds = loadDataset(join(datasetsDir, m[1]));
    variants.push({ set: m[1], variant: `grey-${m[2]}/class`, ds: await greyVariant(ds, m[1], Number(m[2])) });
  }
  const planned: { rec: VariantRecord; ds: Dataset; plan: PlanOf }[] = [];
  const autoOnly: { rec: VariantRecord; ds: Dataset; plan: PlanOf }[] = [];
  for (const { set, variant, ds } of variants) {
    const earlier = records.find((r) => r.set === set && r.variant === variant);
    const add = list(args.add);
    if (add.length && earlier) {
      // The plan again (rung 3's epochs and estimate, auto's tries); the row's other runs stay as recorded.
      const needsFull = add.includes('full') && !isRun(earlier.runs.full);
      const plan = needsFull || add.includes('auto') ? await planTraining(ds, { timeBudget: budget }) : undefined;
      if (!plan) continue;
      if (needsFull) planned.push({ rec: earlier, ds, plan: { ...plan, tries: undefined } });
      if (add.includes('auto') && plan.tries && !earlier.auto) {
        earlier.plan = { ...earlier.plan, choice: plan.choice, tries: plan.tries, reason: plan.reason };
        autoOnly.push({ rec: earlier, ds, plan });
      }
      continue;
    }
    const [rec, plan] = await runVariant(set, variant, ds);
    const i = records.findIndex((r) => r.set === set && r.variant === variant);
    if (i >= 0) records[i] = rec;
    else records.push(rec);
    planned.push({ rec, ds, plan });
    await save();
  }
  for (const { rec, ds, plan } of planned) {
    await runFull(rec, ds, plan);
    await save();
  }
  for (const { rec, ds, plan } of autoOnly) {
    rec.auto = await runRung(ds, plan, 'auto');
    await save();
  }
}
applyRung3();
// --analyze alone only reads (a training run may be writing the same file).
if (!args.analyze || args.rung3) await save();
analyze();

/** Best val accuracy among the rungs run whose actual time fit the budget. */
function bestWithin(rec: VariantRecord): { rung: Rung; acc: number } {
  let best: { rung: Rung; acc: number } = { rung: 'head', acc: -1 };
  for (const rung of ['head', 'partial', 'full'] as Rung[]) {
    const r = rec.runs[rung];
    if (isRun(r) && (rung === 'head' || r.actualSeconds <= rec.budget) && r.valAccuracy > best.acc)
      best = { rung, acc: r.valAccuracy };
  }
  return best;
}

function observations(recs: VariantRecord[]): GainObservation[] {
  const obs: GainObservation[] = [];
  for (const rec of recs) {
    const head = rec.runs.head;
    if (!isRun(head)) continue;
    for (const rung of ['partial', 'full'] as const) {
      const r = rec.runs[rung];
      // (a run auto made as another rung measures that rung's gain, not this one's)
      if (isRun(r) && !r.ranAs)
        obs.push({
          rung,
          perClass: rec.perClass,
          domain: rec.domain,
          gain: 100 * (r.valAccuracy - head.valAccuracy),
          dataset: rec.set,
        });
    }
  }
  return obs;
}

/**
 * auto's choice on a record with a given gain table, from the plan's time estimates (as auto would see them): the
 * product's own expectedGain + decideRung (incl. trying partial on a far domain the table has not measured).
 */
function decide(rec: VariantRecord, table: GainTable): RungDecision {
  return decideRung(
    rec.plan.estimates.map((e) => ({
      rung: e.rung,
      seconds: e.seconds,
      gain: expectedGain(e.rung, rec.perClass, rec.domain, table),
      command: '',
    })),
    { perClass: rec.perClass, budget: rec.budget, domain: rec.domain },
  );
}

/**
 * What auto's decision scored on the row, and how it reads in the table. A choice that was not run (over the budget
 * or the full-max cap) counts as the head (what auto would fall back to).
 */
function accUnder(rec: VariantRecord, d: RungDecision): { acc: number; label: string } {
  if (d.tries) {
    const a = autoOnTries(rec, d.tries);
    return { acc: a.acc, label: `${d.tries.join('+')}: ${a.rung}${a.fromForced ? ' (from forced)' : ''}` };
  }
  return { acc: accOf(rec, d.choice) ?? accOf(rec, 'head')!, label: d.choice };
}

/**
 * auto's val accuracy on a row when it tries several rungs: its own run when the row has one, else its rule applied
 * to the forced runs (training/train.ts tryInTurn): a try counts when it kept a fine-tuned epoch (the far recipe's new
 * units always: they are not the head), the higher inner-val accuracy wins, none means the head.
 */
function autoOnTries(rec: VariantRecord, tries: Rung[]): { acc: number; rung: Rung; fromForced: boolean } {
  if (rec.auto) return { acc: rec.auto.valAccuracy, rung: rec.auto.kept ?? 'head', fromForced: false };
  const tried = tries.flatMap((rung) => {
    const r = rec.runs[rung];
    return isRun(r)
      ? [
          {
            rung,
            acc: r.valAccuracy,
            counts: (rung === 'partial' && rec.domain === 'far') || (r.bestEpoch ?? 0) > 0,
            inner: r.innerValAccuracy ?? -1,
          },
        ]
      : [];
  });
  const win = pickTry(tried);
  return win ? { ...win, fromForced: true } : { acc: accOf(rec, 'head')!, rung: 'head', fromForced: true };
}

function accOf(rec: VariantRecord, rung: Rung): number | undefined {
  const r = rec.runs[rung];
  return isRun(r) ? r.valAccuracy : undefined;
}

function analyze(): void {
  const f = (x: number | undefined, d = 3) => (x === undefined ? '-' : x.toFixed(d));
  const recs = records.filter((r) => isRun(r.runs.head));
  const all = fitGainTable(observations(recs));
  console.log('\ngain table fitted on every set (points over the head, by images/class bucket):');
  console.log(JSON.stringify(all));
  console.log('\nleave-one-dataset-out: the table fitted on the other sets decides the held-out set');
  const rows: string[][] = [];
  let worst = 0;
  let worstInSample = 0;
  for (const rec of recs) {
    const others = fitGainTable(observations(recs.filter((r) => r.set !== rec.set)));
    const loo = accUnder(rec, decide(rec, others));
    const inSample = accUnder(rec, decide(rec, all));
    const shipped = accUnder(rec, decide(rec, GAIN_PRIORS));
    const best = bestWithin(rec);
    const regret = 100 * (best.acc - loo.acc);
    worst = Math.max(worst, regret);
    worstInSample = Math.max(worstInSample, 100 * (best.acc - inSample.acc));
    const est = (rung: Rung) => {
      const r = rec.runs[rung];
      return isRun(r)
        ? `${f(r.valAccuracy)} (${r.source ? 'from #12' : `${Math.round(r.actualSeconds)}/${Math.round(r.estimatedSeconds)} s`}${r.ranAs ? `; auto ran ${r.ranAs}` : ''})`
        : r
          ? 'skipped'
          : '-';
    };
    rows.push([
      rec.set,
      rec.variant,
      rec.domain,
      `${shipped.label} ${f(shipped.acc)}`,
      `${loo.label} ${f(loo.acc)}`,
      inSample.label,
      `${best.rung} ${f(best.acc)}`,
      regret.toFixed(1),
      est('head'),
      est('partial'),
      est('full'),
    ]);
  }
  const header = [
    'set',
    'variant',
    'domain',
    'auto (shipped table)',
    'auto (leave-one-out)',
    'auto (in-sample)',
    'best within budget',
    'LOO trails by (pts)',
    'head val (actual/est s)',
    'partial',
    'full',
  ];
  console.log(
    md(header, rows) +
      `\nworst leave-one-out shortfall: ${worst.toFixed(1)} points; in sample (the table fitted on every set): ${worstInSample.toFixed(1)}`,
  );
  console.log('\ntime: actual / estimated per stage (runs here)');
  const trows: string[][] = [];
  for (const rec of recs)
    for (const rung of ['head', 'partial', 'full'] as Rung[]) {
      const r = rec.runs[rung];
      if (!isRun(r) || r.source) continue;
      const ep = r.epochSeconds?.length
        ? `${f(r.epochSeconds.reduce((a, x) => a + x, 0) / r.epochSeconds.length, 1)}/${f(r.estimatedEpochSeconds, 1)} (${r.epochSeconds.length} ep)`
        : '-';
      trows.push([
        rec.set,
        rec.variant,
        rung,
        `${Math.round(r.actualSeconds)}/${Math.round(r.estimatedSeconds)}`,
        (r.actualSeconds / r.estimatedSeconds).toFixed(2),
        ep,
        r.stages
          .map(
            (s) =>
              `${s.stage} ${Math.round(s.actualSeconds)}/${s.estimatedSeconds === undefined ? '-' : Math.round(s.estimatedSeconds)}`,
          )
          .join(', '),
      ]);
    }
  const th = ['set', 'variant', 'rung', 'total s actual/est', 'ratio', 'epoch s actual/est', 'stages actual/est'];
  console.log(md(th, trows));
  calibration(recs);
}

/** A markdown table. */
function md(header: string[], rows: string[][]): string {
  return [header, header.map(() => '---'), ...rows].map((r) => `| ${r.join(' | ')} |`).join('\n');
}

function contended(rec: VariantRecord): boolean {
  return Math.max(...rec.loadavg) > CONTENDED_LOAD;
}

function calibrationOf(rec: VariantRecord, run: RunRecord): StageCalibration {
  if (run.calibration) return run.calibration;
  let cal: StageCalibration = { factors: {}, cachedReadSeconds: {} };
  for (const h of CALIBRATION_HISTORY) if (Date.parse(rec.when) >= Date.parse(h.since)) cal = h.cal;
  return cal;
}

/** A run's stages as the probes measured them (the calibration of the day undone) and as they ran. */
interface TimedRun {
  rec: VariantRecord;
  rung: Rung;
  actual: number;
  images: number;
  stages: { stage: string; probed: number; actual: number }[];
  /** Fine-tuning: one epoch probed, one epoch run (mean), epochs run, the once-per-run warm-up probed. */
  epoch?: { probed: number; actual: number; ran: number; warmup: number };
}

function timedRun(rec: VariantRecord, rung: Rung, run: RunRecord): TimedRun {
  const cal = calibrationOf(rec, run);
  const images = rec.trainImages + rec.valImages;
  const mean = (xs: number[]) => xs.reduce((a, x) => a + x, 0) / xs.length;
  const stages = run.stages
    .filter((s) => s.estimatedSeconds !== undefined)
    .map((s) => ({
      stage: s.stage,
      probed: probedStageSeconds(rung, s.stage, s.estimatedSeconds!, images, cal),
      actual: s.actualSeconds,
    }));
  let epoch: TimedRun['epoch'];
  if (run.epochSeconds?.length && run.estimatedEpochSeconds) {
    const probed = probedStageSeconds(rung, 'epochs', run.estimatedEpochSeconds, images, cal);
    const stage = stages.find((s) => s.stage === 'epochs')?.probed ?? 0;
    // The epochs stage is whole epochs x the epoch + the warm-up (rung 3's probe; ~0 for partial).
    const warmup = Math.max(0, stage - Math.round(stage / probed) * probed);
    epoch = { probed, actual: mean(run.epochSeconds), ran: run.epochSeconds.length, warmup };
  }
  return { rec, rung, actual: run.actualSeconds, images, stages, epoch };
}

function medianOf(xs: number[]): number | undefined {
  const v = [...xs].sort((a, b) => a - b);
  return v.length ? v[Math.floor(v.length / 2)] : undefined;
}

/**
 * The calibration from runs: per rung and stage the median actual/probed (stages under 3 s are too noisy to count),
 * the epoch per epoch; extraction keeps its probe and adds the median excess per image (train + val): reading the
 * cache back and hashing every file cost seconds where the probe, cold work on uncached images, counts ~0.
 */
function fitCalibration(runs: TimedRun[]): StageCalibration {
  const cal: StageCalibration = { factors: {}, cachedReadSeconds: {} };
  for (const rung of ['head', 'partial', 'full'] as Rung[]) {
    const mine = runs.filter((t) => t.rung === rung);
    // The per-image term from runs with everything cached (probe < 2 s), the factor from runs that extracted.
    const extracts = mine.flatMap((t) => t.stages.filter((s) => s.stage === 'extract').map((s) => ({ ...s, t })));
    const read = medianOf(extracts.filter((s) => s.probed < 2).map((s) => (s.actual - s.probed) / s.t.images));
    if (read !== undefined) cal.cachedReadSeconds[rung] = Math.max(0, read);
    const extractFactor = medianOf(
      extracts.filter((s) => s.probed >= 3).map((s) => (s.actual - s.t.images * (read ?? 0)) / s.probed),
    );
    if (extractFactor !== undefined) cal.factors[`${rung}:extract`] = extractFactor;
    const epoch = medianOf(mine.flatMap((t) => (t.epoch ? [t.epoch.actual / t.epoch.probed] : [])));
    if (epoch !== undefined) cal.factors[`${rung}:epochs`] = epoch;
    for (const stage of ['head-fit', 'final']) {
      const f = medianOf(
        mine.flatMap((t) =>
          t.stages.filter((s) => s.stage === stage && s.probed > 0 && s.actual >= 3).map((s) => s.actual / s.probed),
        ),
      );
      if (f !== undefined) cal.factors[`${rung}:${stage}`] = f;
    }
  }
  return cal;
}

/** Seconds by stage as plan.ts estimates them with `cal` and `epochs` epochs; the epochs split per epoch x count. */
function estimateRun(t: TimedRun, cal: StageCalibration, epochs: number) {
  const by: Record<string, number> = {};
  for (const s of t.stages)
    by[s.stage] =
      s.stage === 'epochs' && t.epoch
        ? calibratedStageSeconds(t.rung, 'epochs', epochs * t.epoch.probed + t.epoch.warmup, t.images, cal)
        : calibratedStageSeconds(t.rung, s.stage, s.probed, t.images, cal);
  const perEpoch = t.epoch ? calibratedStageSeconds(t.rung, 'epochs', t.epoch.probed, t.images, cal) : 0;
  return { by, total: Object.values(by).reduce((a, x) => a + x, 0), perEpoch };
}

/**
 * The time check: each run's estimate with the calibration and the gain table fitted on the other sets
 * (leave-one-dataset-out, plan.ts's own functions), its range (fewest..most epochs), and each miss's error by stage
 * and cause: the epoch count (early stopping's, guessed by the plan), the cost of an epoch, the other stages, and
 * time outside every stage.
 */
function calibration(recs: VariantRecord[]): void {
  const runs: TimedRun[] = [];
  for (const rec of recs.filter((r) => !contended(r)))
    for (const rung of ['head', 'partial', 'full'] as Rung[]) {
      const r = rec.runs[rung];
      if (isRun(r) && !r.source) runs.push(timedRun(rec, rung, r));
    }
  const round = (cal: StageCalibration): StageCalibration => ({
    factors: Object.fromEntries(Object.entries(cal.factors).map(([k, v]) => [k, Number(v.toFixed(2))])),
    cachedReadSeconds: Object.fromEntries(
      Object.entries(cal.cachedReadSeconds).map(([k, v]) => [k, Number(v.toFixed(5))]),
    ),
  });
  console.log(
    `\ncalibration fitted on every set (stage-calibration.ts ships it): ${JSON.stringify(round(fitCalibration(runs)))}`,
  );
  let within = 0;
  let inRange = 0;
  const rows: string[][] = [];
  const misses: string[][] = [];
  const causes: Record<string, number> = {};
  const f0 = (x: number) => x.toFixed(0);
  const signed = (x: number) => `${x >= 0 ? '+' : ''}${x.toFixed(0)}`;
  for (const t of runs) {
    const others = runs.filter((o) => o.rec.set !== t.rec.set);
    const cal = fitCalibration(others);
    const table = fitGainTable(observations(recs.filter((r) => r.set !== t.rec.set)));
    const ep = epochsExpected(
      t.rung,
      expectedGain(t.rung, t.rec.perClass, t.rec.domain, table),
      t.rec.domain,
      t.rec.perClass,
    );
    const est = estimateRun(t, cal, ep.expected);
    const [lo, hi] = t.epoch ? secondsRange(est.total, ep, est.perEpoch) : [est.total, est.total];
    const recorded = (t.rec.runs[t.rung] as RunRecord).estimatedSeconds;
    // Within ±30%, or within 5 s where the whole run is a few seconds (start-up noise); the range likewise ±5 s.
    const ok = Math.abs(t.actual / est.total - 1) <= 0.3 || Math.abs(t.actual - est.total) <= 5;
    const okRange = t.actual >= lo - 5 && t.actual <= hi + 5;
    within += ok ? 1 : 0;
    inRange += okRange ? 1 : 0;
    rows.push([
      t.rec.set,
      t.rec.variant,
      t.rung,
      f0(t.actual),
      f0(recorded),
      f0(est.total),
      t.epoch ? `${f0(lo)}-${f0(hi)}` : '-',
      (t.actual / est.total).toFixed(2),
      ok ? 'yes' : 'no',
      okRange ? 'yes' : 'no',
    ]);
    if (ok) continue;
    // Estimated minus actual seconds, by part.
    const act = (stage: string) => t.stages.find((s) => s.stage === stage)?.actual ?? 0;
    const err: Record<string, number> = {
      extract: (est.by.extract ?? 0) - act('extract'),
      'head-fit': (est.by['head-fit'] ?? 0) - act('head-fit'),
      'epoch count': t.epoch ? (ep.expected - t.epoch.ran) * est.perEpoch : 0,
      'epoch cost': t.epoch ? (est.by.epochs ?? 0) - (ep.expected - t.epoch.ran) * est.perEpoch - act('epochs') : 0,
      final: (est.by.final ?? 0) - act('final'),
      'outside stages': -(t.actual - t.stages.reduce((a, s) => a + s.actual, 0)),
    };
    const cause = Object.entries(err).sort((a, b) => Math.abs(b[1]) - Math.abs(a[1]))[0][0];
    causes[cause] = (causes[cause] ?? 0) + 1;
    misses.push([
      t.rec.set,
      t.rec.variant,
      t.rung,
      `${f0(t.actual)}/${f0(est.total)}`,
      ...Object.values(err).map(signed),
      t.epoch ? `${t.epoch.ran}/${ep.expected}` : '-',
      cause,
    ]);
  }
  console.log(
    md(
      [
        'set',
        'variant',
        'rung',
        'actual s',
        'estimated then',
        'calibrated (LOO)',
        'range (fewest..most epochs)',
        'actual/calibrated',
        'within ±30% (or 5 s)',
        'in range (±5 s)',
      ],
      rows,
    ),
  );
  console.log(`${within} of ${runs.length} runs within ±30% (or 5 s) of the leave-one-dataset-out calibrated estimate`);
  console.log(`${inRange} of ${runs.length} runs within the estimated range (fewest..most epochs, ±5 s)`);
  console.log('\nmisses: estimated - actual seconds by part (LOO), epochs run/counted, the largest part');
  console.log(
    md(
      [
        'set',
        'variant',
        'rung',
        'actual/est s',
        'extract',
        'head-fit',
        'epoch count',
        'epoch cost',
        'final',
        'outside stages',
        'epochs ran/counted',
        'cause',
      ],
      misses,
    ),
  );
  console.log(`misses by cause: ${JSON.stringify(causes)}`);
  const left = recs.filter(contended).map((r) => `${r.set} ${r.variant}`);
  if (left.length) console.log(`left out of the time check (load average > ${CONTENDED_LOAD}): ${left.join(', ')}`);
}
