// How `tl train`, `tl demo` and `tl eval` print metrics: human tables (to stderr when --json owns stdout) and one JSON object.
import type { Metrics } from '../../eval/metrics.js';
import { formatConfusionMatrix, formatPerClass } from '../../eval/report.js';
import { pct } from '../output.js';
import { formatSplits } from '../../classifier/splits-used.js';
import type { SplitsUsed } from '../../training/types.js';

/** Human output goes to stderr when --json owns stdout. */
export function humanOut(json?: boolean): (s: string) => void {
  return (s) => (json ? process.stderr : process.stdout).write(s + '\n');
}

export function printMetrics(m: Metrics, say: (s: string) => void, title = 'validation'): void {
  say(
    `\n${title} accuracy: ${pct(m.accuracy)} (${Math.round(m.accuracy * m.count)}/${m.count})  macro F1 ${m.macroF1.toFixed(3)}`,
  );
  // How far the probabilities can be trusted: log loss, and the expected calibration error (0 = each probability says
  // exactly how often it is right). Metrics saved by older versions have no ECE.
  if (m.ece !== undefined)
    say(`${title} log loss ${m.logLoss.toFixed(3)}, calibration error (ECE, 10 bins) ${m.ece.toFixed(3)}`);
  say('\n' + formatPerClass(m));
  say('\nconfusion matrix (rows = true class, columns = predicted):\n' + formatConfusionMatrix(m));
  if (m.mostConfidentlyWrong.length) {
    say('\nmost confidently wrong:');
    for (const w of m.mostConfidentlyWrong.slice(0, 5)) {
      say(`  ${pct(w.probability).padStart(6)} ${w.predictedLabel} (true: ${w.trueLabel})  ${w.path ?? `#${w.index}`}`);
    }
  }
}

/** Which split each number is on, and the unknown flag's measured rate (two lines under the metrics). */
export function splitsSummary(s: SplitsUsed): string {
  const u = s.unknown;
  const flag = `unknown flag: threshold from ${u.calibratedOn}; flags ${u.flagRateOnVal === undefined ? '-' : pct(u.flagRateOnVal)} of val (target ${pct(u.targetFlagRate)})`;
  return `accuracy by split: ${formatSplits(s)}\n${flag}`;
}

export function metricsJson(r: {
  metrics: Metrics;
  counts?: unknown;
  config?: { splits?: SplitsUsed };
  timings?: unknown;
  history?: unknown;
  out?: string;
  plan?: {
    choice: string;
    tries?: string[];
    reason: string;
    outcome?: string;
    timeBudget: number;
    estimates: unknown;
    blockedByBudget?: unknown;
  };
  stages?: unknown;
}): string {
  const m = r.metrics;
  return JSON.stringify(
    {
      accuracy: m.accuracy,
      count: m.count,
      macroF1: m.macroF1,
      logLoss: m.logLoss,
      /** Expected calibration error (10 bins) and its bins (a reliability diagram). */
      ece: m.ece,
      reliability: m.reliability,
      perClass: m.perClass,
      confusion: m.confusion,
      labels: m.perClass.map((c) => c.label),
      counts: r.counts,
      mostConfidentlyWrong: m.mostConfidentlyWrong,
      /** Which split each number is on (the metrics above: `splits.reported.split`). */
      splits: r.config?.splits,
      config: r.config,
      timings: r.timings,
      /** The rung that ran; with auto, why it was chosen and every rung's estimate. */
      rung: (r.config as { strategy?: string } | undefined)?.strategy ?? 'head',
      auto: r.plan && {
        choice: r.plan.choice,
        tries: r.plan.tries,
        reason: r.plan.reason,
        outcome: r.plan.outcome,
        timeBudget: r.plan.timeBudget,
        estimates: r.plan.estimates,
        blockedByBudget: r.plan.blockedByBudget,
      },
      /** Estimated and actual seconds of each stage of the run. */
      stages: r.stages,
      history: r.history,
      bundle: r.out,
    },
    null,
    2,
  );
}
