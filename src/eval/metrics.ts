/** Classification metrics of a trained head on labelled feature rows: what `tl train` prints and the report shows. */
import { argmax } from '../util/math.js';

export interface ClassMetrics {
  label: string;
  /** 0 when the class was never predicted (sklearn's zero_division=0). */
  precision: number;
  /** 0 when the class has no examples. */
  recall: number;
  f1: number;
  /** Number of true examples of the class. */
  support: number;
}

export interface ConfidentMistake {
  path?: string;
  index: number;
  trueLabel: string;
  predictedLabel: string;
  /** Probability given to the (wrong) predicted class. */
  probability: number;
  probabilities: Record<string, number>;
}

export interface Metrics {
  accuracy: number;
  count: number;
  perClass: ClassMetrics[];
  /** confusion[true][predicted] counts, in label order. */
  confusion: number[][];
  /** Unweighted mean of the per-class F1 scores. */
  macroF1: number;
  /** Mean cross-entropy of the true class, probabilities clipped at 1e-15 so one certain mistake stays finite. */
  logLoss: number;
  /**
   * Expected calibration error: the top probability against the share right, over 10 equal-width confidence bins,
   * weighted by the rows in each (Guo et al. 2017). 0 when the probabilities say exactly how often they are right.
   */
  ece: number;
  /** The bins behind `ece`, for a reliability diagram: rows, mean top probability and accuracy of each non-empty bin. */
  reliability: ReliabilityBin[];
  /** Up to 10 mistakes, most confident first. */
  mostConfidentlyWrong: ConfidentMistake[];
}

export interface ReliabilityBin {
  /** Confidence range [from, to). */
  from: number;
  to: number;
  count: number;
  meanConfidence: number;
  accuracy: number;
}

export const ECE_BINS = 10;

/** ECE and its bins from each row's top probability and whether its argmax was right. */
export function calibrationOf(
  confidence: ArrayLike<number>,
  right: ArrayLike<boolean>,
  bins = ECE_BINS,
): { ece: number; reliability: ReliabilityBin[] } {
  const b = new CalibrationBins(bins);
  for (let i = 0; i < confidence.length; i++) b.add(confidence[i], right[i]);
  return b.result();
}

/** calibrationOf a row at a time: per bin its rows, summed confidence and hits. */
class CalibrationBins {
  private readonly count: number[];
  private readonly conf: number[];
  private readonly hits: number[];
  private n = 0;

  constructor(private readonly bins: number) {
    this.count = new Array<number>(bins).fill(0);
    this.conf = new Array<number>(bins).fill(0);
    this.hits = new Array<number>(bins).fill(0);
  }

  add(confidence: number, right: boolean): void {
    const b = Math.min(this.bins - 1, Math.floor(confidence * this.bins));
    this.count[b]++;
    this.conf[b] += confidence;
    if (right) this.hits[b]++;
    this.n++;
  }

  result(): { ece: number; reliability: ReliabilityBin[] } {
    const { bins, count, conf, hits, n } = this;
    let ece = 0;
    const reliability: ReliabilityBin[] = [];
    for (let b = 0; b < bins; b++) {
      if (!count[b]) continue;
      const meanConfidence = conf[b] / count[b];
      const accuracy = hits[b] / count[b];
      ece += (count[b] / n) * Math.abs(meanConfidence - accuracy);
      reliability.push({ from: b / bins, to: (b + 1) / bins, count: count[b], meanConfidence, accuracy });
    }
    return { ece: n ? ece : 0, reliability };
  }
}

const MAX_MISTAKES = 10;

export function evaluate(
  yTrue: Int32Array,
  probs: readonly ArrayLike<number>[],
  labels: readonly string[],
  paths?: readonly string[],
): Metrics {
  const n = yTrue.length;
  if (probs.length !== n) throw new Error(`${n} labels but ${probs.length} probability rows`);
  if (paths && paths.length !== n) throw new Error(`${n} labels but ${paths.length} paths`);
  const acc = new MetricsAccumulator(labels);
  for (let i = 0; i < n; i++) acc.add(yTrue[i], probs[i], paths?.[i]);
  return acc.result();
}

/**
 * evaluate() a row at a time, holding the confusion matrix, the calibration bins and the top mistakes, never the rows:
 * a split too big for memory is scored a chunk of predictions at a time (the harness's bounded path).
 */
export class MetricsAccumulator {
  private readonly K: number;
  private readonly confusion: number[][];
  private readonly bins = new CalibrationBins(ECE_BINS);
  /** The MAX_MISTAKES most confident mistakes so far, in report order. */
  private readonly mistakes: ConfidentMistake[] = [];
  private n = 0;
  private correct = 0;
  private logLoss = 0;

  constructor(private readonly labels: readonly string[]) {
    this.K = labels.length;
    this.confusion = Array.from({ length: this.K }, () => new Array<number>(this.K).fill(0));
  }

  /** One row: its true label (index), its probabilities, its photo. */
  add(t: number, row: ArrayLike<number>, path?: string): void {
    const { K } = this;
    const i = this.n++;
    if (row.length !== K) throw new Error(`probability row ${i} has ${row.length} entries for ${K} labels`);
    if (!(t >= 0 && t < K)) throw new Error(`label ${t} at row ${i} is outside 0..${K - 1}`);
    const predicted = argmax(row);
    this.confusion[t][predicted]++;
    this.bins.add(row[predicted], predicted === t);
    if (predicted === t) this.correct++;
    else this.keepMistake(i, t, predicted, row, path);
    this.logLoss -= Math.log(Math.min(1, Math.max(1e-15, row[t])));
  }

  // Most confident first; the lower index first on ties (rows come in index order) so the list is reproducible.
  private keepMistake(index: number, t: number, predicted: number, row: ArrayLike<number>, path?: string): void {
    const probability = row[predicted];
    const list = this.mistakes;
    if (list.length === MAX_MISTAKES && !(probability > list[list.length - 1].probability)) return;
    let at = list.length;
    while (at > 0 && list[at - 1].probability < probability) at--;
    const probabilities: Record<string, number> = {};
    this.labels.forEach((label, k) => (probabilities[label] = row[k]));
    list.splice(at, 0, {
      ...(path !== undefined ? { path } : {}),
      index,
      trueLabel: this.labels[t],
      predictedLabel: this.labels[predicted],
      probability,
      probabilities,
    });
    if (list.length > MAX_MISTAKES) list.pop();
  }

  result(): Metrics {
    const { K, labels, confusion, n } = this;
    const perClass = labels.map((label, k) => {
      const support = confusion[k].reduce((a, b) => a + b, 0);
      let predictedCount = 0;
      for (let t = 0; t < K; t++) predictedCount += confusion[t][k];
      const tp = confusion[k][k];
      const precision = predictedCount > 0 ? tp / predictedCount : 0;
      const recall = support > 0 ? tp / support : 0;
      const f1 = precision + recall > 0 ? (2 * precision * recall) / (precision + recall) : 0;
      return { label, precision, recall, f1, support };
    });
    return {
      accuracy: n > 0 ? this.correct / n : 0,
      count: n,
      perClass,
      confusion: confusion.map((r) => [...r]),
      macroF1: K > 0 ? perClass.reduce((a, c) => a + c.f1, 0) / K : 0,
      logLoss: n > 0 ? this.logLoss / n : 0,
      ...this.bins.result(),
      mostConfidentlyWrong: this.mistakes.map((m) => ({ ...m, probabilities: { ...m.probabilities } })),
    };
  }
}
