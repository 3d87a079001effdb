// `--strategy auto`'s decision, apart from the probes (probes.ts) and the time estimate (estimate.ts) that feed it;
// plan.ts runs the three. Each rung's expected gain over the head comes from a table of measured gains (bench/auto.ts,
// by images per class and domain), each rung's time from the estimate; from 25 images/class auto tries partial, then
// rung 3, when the time budget holds both, else the deepest one it holds (each try decides on the inner split whether
// it beats the head: training/epoch-choice.ts), else takes the largest expected gain that fits, and says so when the
// budget alone stops a rung expected to gain more or a try. Pure
// functions, no I/O (test/unit/plan-modules.test.ts): the benchmark refits the table leaving one dataset out.

export type Rung = 'head' | 'partial' | 'full';
export type Domain = 'photo' | 'far';

/** One measured point: a rung's val accuracy minus the head's, in points, on a set of `perClass` images/class. */
export interface GainObservation {
  rung: 'partial' | 'full';
  perClass: number;
  domain: Domain;
  gain: number;
  /** The dataset it was measured on (leave-one-dataset-out groups by it). */
  dataset?: string;
}

/** Expected gain over the head (points) of a rung from `perClass` images/class on: [lower bound, gain], ascending. */
export type GainTable = Record<'partial' | 'full', Partial<Record<Domain, [number, number][]>>>;

/**
 * The images/class buckets the table is kept in (the benchmark's subset sizes, then the sets' own sizes). 200 is rung
 * 3's try size: a gain measured on 240-250/class sets (flowers, blood cells) is not looked up at 100/class.
 */
export const PER_CLASS_BUCKETS = [25, 50, 100, 200, 300, 500, 1000];

/** A rung must be expected to gain at least this much (points) to be worth its extra time over the head. */
export const MIN_GAIN_POINTS = 0.5;

/**
 * Measured gains, val accuracy points over the head with every decision on the inner val split: the table
 * `npm run bench:auto -- --analyze --rung3 eurosat=0.965:1799` fits on every run (docs/auto.md):
 * the mean over the runs in each images/class bucket. Partial reusing the last blocks on photos (hymenoptera,
 * cats/dogs, imagewoof, imagenette, whole, 25/50/100/300 per class and greyscale copies): -2.6 to +0.7, never worth
 * its time. Partial with the far recipe on EuroSAT (far from ImageNet): +2.85 at 25/class, +3.7 at 50, +2.2 at 100,
 * +1.2 at 300, +1.3 at 500 (0.931 vs 0.918, 261 s). Rung 3 on photos at 25-50/class: -3.1 to +0.2; on EuroSAT -4.85
 * at 25/class, and +4.7 at 500 (issue #12's run at 128 px, 6 epochs, 30 min: 0.965). A size below a domain's rows, or
 * a domain never measured, has no entry: no gain is extrapolated to it (triesPartial is auto's rule there).
 */
export const GAIN_PRIORS: GainTable = {
  partial: {
    photo: [
      [25, -0.7],
      [50, -1.0],
      [100, -0.1],
      [300, 0.2],
      [1000, 0],
    ],
    far: [
      [25, 2.8],
      [50, 3.7],
      [100, 2.2],
      [300, 1.2],
      [500, 1.3],
    ],
  },
  full: {
    photo: [
      [25, -1.1],
      [50, -0.2],
    ],
    far: [
      [25, -4.8],
      [500, 4.7],
    ],
  },
};

const bucketOf = (perClass: number) => {
  let b = PER_CLASS_BUCKETS[0];
  for (const x of PER_CLASS_BUCKETS) if (perClass >= x) b = x;
  return b;
};

/**
 * The table from observations: the mean gain of each (rung, domain, bucket) measured. A bucket without data takes
 * nothing (the lookup falls back to the nearest smaller bucket measured in that domain).
 */
export function fitGainTable(obs: GainObservation[]): GainTable {
  const table: GainTable = { partial: {}, full: {} };
  for (const rung of ['partial', 'full'] as const)
    for (const domain of ['photo', 'far'] as const) {
      const rows: [number, number][] = [];
      for (const b of PER_CLASS_BUCKETS) {
        const g = obs.filter((o) => o.rung === rung && o.domain === domain && bucketOf(o.perClass) === b);
        if (g.length) rows.push([b, g.reduce((a, o) => a + o.gain, 0) / g.length]);
      }
      if (rows.length) table[rung][domain] = rows;
    }
  return table;
}

/**
 * Expected gain (points) of `rung` over the head: the table's row at the largest bucket <= perClass, in the domain's
 * rows; undefined below every measured bucket or in a domain never measured (no evidence: photos' gains say nothing
 * about satellite patches, and the reverse; triesPartial says what auto does then).
 */
export function expectedGain(
  rung: Rung,
  perClass: number,
  domain: Domain,
  table: GainTable = GAIN_PRIORS,
): number | undefined {
  if (rung === 'head') return 0;
  const rows = table[rung][domain];
  if (!rows) return undefined;
  let gain: number | undefined;
  for (const [lo, g] of rows) if (perClass >= lo) gain = g;
  return gain;
}

/**
 * The fewest images/class at which an unmeasured far domain is tried: the smallest size measured. Below it the inner
 * split holds 1-3 images per class, too few to tell a gaining epoch from a lucky one (rung 3 at 25/class, ~4 per
 * class: 3 of 5 sets ended below the head), so trying would no longer be safe for accuracy.
 */
export const MIN_TRY_PER_CLASS = PER_CLASS_BUCKETS[0];

/**
 * auto tries partial on the user's data from MIN_TRY_PER_CLASS images/class up, whatever the table expects: the table
 * was measured on five sets, four of them ImageNet look-alikes, and a new set's gain is best measured on that set.
 * The head is the try's epoch 0, so trying costs the epochs, not accuracy: a fine-tuned epoch is kept only when a
 * paired test on the inner split says it beats the head (training/epoch-choice.ts), and a try clearly behind the head
 * after its first epochs stops. Below MIN_TRY_PER_CLASS the inner split holds 1-3 images per class, too few to tell.
 */
export function triesPartial(rung: Rung, perClass: number): boolean {
  return rung === 'partial' && perClass >= MIN_TRY_PER_CLASS;
}

/**
 * Rung 3 is tried, like partial, whenever the budget holds it: its epoch 0 is the head too, so the paired test on the
 * inner split (with the exact sign test) guards accuracy at every size, and only the budget prices the try. A size
 * bound fitted on the shared sets did not hold leave-one-dataset-out: 200/class (the earlier bound) missed blood cells
 * at 50 and 100/class, where rung 3 kept a fine-tuned epoch and ended 10.0 and 4.8 points above partial's try
 * (bench:auto, docs/auto.md); no other set showed it, so no set left out could have fitted a lower one.
 */
export const MIN_FULL_TRY_PER_CLASS = MIN_TRY_PER_CLASS;

/** Whether auto may try `rung` on the user's data at this size (when the budget holds it). */
export function triesRung(rung: Rung, perClass: number): boolean {
  return rung !== 'head' && perClass >= MIN_TRY_PER_CLASS;
}

/** Whether a rung is expected to run all its epochs (a measured gain, or a try), for its time estimate. */
export function expectsToTrainOn(rung: Rung, gain: number | undefined, _domain: Domain, perClass: number): boolean {
  return (gain !== undefined && gain >= MIN_GAIN_POINTS) || triesRung(rung, perClass);
}

export interface RungOption {
  rung: Rung;
  /** Estimated wall seconds of the whole run on this rung. */
  seconds: number;
  /** Expected val-accuracy gain over the head, points (undefined: no measurement covers this case). */
  gain: number | undefined;
  /** The command that runs this rung explicitly (for the "budget stops it" line). */
  command: string;
}

export interface RungDecision {
  choice: Rung;
  /**
   * The rungs auto tries in turn against the head, cheapest first, when the budget holds them all (partial, then
   * rung 3); `choice` is the last. Unset: one try (or none), `choice` alone.
   */
  tries?: Rung[];
  reason: string;
  /** Set when a rung expected to gain more was left out only because of the time budget. */
  blockedByBudget?: { rung: Rung; seconds: number; gain: number; command: string };
}

export const formatSeconds = (s: number) => (s < 90 ? `${Math.round(s)} s` : `${Math.round(s / 60)} min`);
const pts = (g: number) => `${g >= 0 ? '+' : ''}${g.toFixed(1)} pts`;

/** What the table says of a rung at this size, for the plan line. */
const expectation = (o: RungOption) =>
  o.gain === undefined ? 'no measured set like it' : `measured sets like it: ${pts(o.gain)}`;

/** The promise every fine-tuning choice of auto keeps (its epoch 0 is the head). */
const KEEPS_HEAD =
  'the head is its epoch 0: a fine-tuned epoch is kept only if it beats the head on the inner split (paired test)';

/**
 * Largest expected gain within the budget, among rungs expected to gain >= MIN_GAIN_POINTS; ties go to the cheaper
 * rung. A try the budget holds (triesRung) replaces the head, and rung 3's try replaces partial: the table orders the
 * tries and sizes the budget, the try's measurement on the inner split decides. `perClass` words the reason.
 */
export function decideRung(
  options: RungOption[],
  ctx: { perClass: number; budget: number; domain: Domain },
): RungDecision {
  const head = options.find((o) => o.rung === 'head')!;
  const worth = options.filter((o) => o.rung !== 'head' && o.gain !== undefined && o.gain >= MIN_GAIN_POINTS);
  const fits = worth.filter((o) => o.seconds <= ctx.budget);
  const best = [head, ...fits].reduce((a, o) =>
    (o.gain ?? 0) > (a.gain ?? 0) || ((o.gain ?? 0) === (a.gain ?? 0) && o.seconds < a.seconds) ? o : a,
  );
  const blocked = worth
    .filter((o) => o.seconds > ctx.budget && (o.gain ?? 0) > (best.gain ?? 0))
    .sort((a, b) => (b.gain ?? 0) - (a.gain ?? 0))[0];
  const where = `${ctx.perClass} images/class${ctx.domain === 'far' ? ', far from ImageNet' : ''}`;
  const others = (chosen: RungOption) =>
    options
      .filter((o) => o !== chosen)
      .map(
        (o) =>
          `${o.rung} ~${formatSeconds(o.seconds)}, ${o.gain === undefined ? 'no measured gain at this size' : `expected ${pts(o.gain)}`}`,
      )
      .join('; ');
  // The rungs auto may try here, deepest first: rung 3 trains what partial trains and more, and both start from the
  // head. The deepest try the budget holds is run, unless a measured gain already picked rung 3.
  const tries = (['full', 'partial'] as const)
    .map((r) => options.find((o) => o.rung === r))
    .filter((o): o is RungOption => o !== undefined && triesRung(o.rung, ctx.perClass));
  const fitting = tries.find((o) => o.seconds <= ctx.budget);
  // Both tries when the budget holds them together: partial cannot tell whether rung 3 would have done better (blood
  // cells at 100/class: partial's try +8.3 points over the head, rung 3 +13.1), and the paired test keeps either only
  // against the head, the better of the two on the same inner split when both beat it.
  const both =
    tries.length === 2 && tries[0].seconds + tries[1].seconds <= ctx.budget ? [tries[1], tries[0]] : undefined;
  // A try the budget stops, named with its command: the cheapest over the head, the deeper one over partial.
  const depth = { head: 0, partial: 1, full: 2 } as const;
  const stopped = tries.filter((o) => o.seconds > ctx.budget && depth[o.rung] > depth[best.rung]);
  const tried = best.rung === 'head' ? stopped[stopped.length - 1] : stopped[0];
  if (both) {
    const [p, f] = both;
    return {
      choice: 'full',
      tries: ['partial', 'full'],
      reason:
        `${where}: auto will try partial (~${formatSeconds(p.seconds)}, ${expectation(p)}), then full (~${formatSeconds(f.seconds)}, ${expectation(f)}), ` +
        `and keep one only if it beats the head on the inner split (paired test), the better of the two on that split ` +
        `when both do; each stops early if it is clearly behind; head ~${formatSeconds(head.seconds)}`,
    };
  }
  if (fitting && (best.rung === 'head' || (fitting.rung === 'full' && best.rung !== 'full'))) {
    return {
      choice: fitting.rung,
      reason:
        `${where}: auto will try ${fitting.rung} (~${formatSeconds(fitting.seconds)}) and keep it only if it beats the head on ` +
        `the inner split (paired test), stopping early if it is clearly behind (${expectation(fitting)}); ${others(fitting)}`,
    };
  }
  let reason =
    best.rung === 'head'
      ? `${where}: head (~${formatSeconds(best.seconds)}); no rung is expected to gain >= ${MIN_GAIN_POINTS} pts within the ${formatSeconds(ctx.budget)} budget (${others(best)})`
      : `${where}: ${best.rung} (~${formatSeconds(best.seconds)}, expected ${pts(best.gain ?? 0)} over the head; ${KEEPS_HEAD}); ${others(best)}`;
  let blockedByBudget: RungDecision['blockedByBudget'];
  if (blocked) {
    blockedByBudget = {
      rung: blocked.rung,
      seconds: blocked.seconds,
      gain: blocked.gain ?? 0,
      command: blocked.command,
    };
    reason += `. Only the time budget stops ${blocked.rung} (expected ${pts(blocked.gain ?? 0)}, ~${formatSeconds(blocked.seconds)} > ${formatSeconds(ctx.budget)}): ${blocked.command}`;
  } else if (tried) {
    reason += `. ${tried.rung} would be tried against the head, but ~${formatSeconds(tried.seconds)} > ${formatSeconds(ctx.budget)}: ${tried.command}`;
  }
  return { choice: best.rung, reason, blockedByBudget };
}
