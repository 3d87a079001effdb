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
  const n = confidence.length;
  const count = new Array<number>(bins).fill(0);
  const conf = new Array<number>(bins).fill(0);
  const hits = new Array<number>(bins).fill(0);
  for (let i = 0; i < n; i++) {
    const b = Math.min(bins - 1, Math.floor(confidence[i] * bins));
    count[b]++;
    conf[b] += confidence[i];
    if (right[i]) hits[b]++;
  }
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

const MAX_MISTAKES = 10;

export function evaluate(
  yTrue: Int32Array,
  probs: readonly ArrayLike<number>[],
  labels: readonly string[],
  paths?: readonly string[],
): Metrics {
  const K = labels.length;
  const n = yTrue.length;
  if (probs.length !== n) throw new Error(`${n} labels but ${probs.length} probability rows`);
  if (paths && paths.length !== n) throw new Error(`${n} labels but ${paths.length} paths`);
  const confusion = Array.from({ length: K }, () => new Array<number>(K).fill(0));
  const mistakes: { index: number; predicted: number; probability: number }[] = [];
  let correct = 0;
  let logLoss = 0;
  const top = new Float64Array(n);
  const right = new Array<boolean>(n);
  for (let i = 0; i < n; i++) {
    const row = probs[i];
    if (row.length !== K) throw new Error(`probability row ${i} has ${row.length} entries for ${K} labels`);
    const t = yTrue[i];
    if (!(t >= 0 && t < K)) throw new Error(`label ${t} at row ${i} is outside 0..${K - 1}`);
    const predicted = argmax(row);
    confusion[t][predicted]++;
    top[i] = row[predicted];
    right[i] = predicted === t;
    if (predicted === t) correct++;
    else mistakes.push({ index: i, predicted, probability: row[predicted] });
    logLoss -= Math.log(Math.min(1, Math.max(1e-15, row[t])));
  }

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

  // Most confident first; the lower index first on ties so the list is reproducible.
  mistakes.sort((a, b) => b.probability - a.probability || a.index - b.index);
  const mostConfidentlyWrong = mistakes.slice(0, MAX_MISTAKES).map((m) => {
    const probabilities: Record<string, number> = {};
    labels.forEach((label, k) => (probabilities[label] = probs[m.index][k]));
    return {
      ...(paths ? { path: paths[m.index] } : {}),
      index: m.index,
      trueLabel: labels[yTrue[m.index]],
      predictedLabel: labels[m.predicted],
      probability: m.probability,
      probabilities,
    };
  });

  return {
    accuracy: n > 0 ? correct / n : 0,
    count: n,
    perClass,
    confusion,
    macroF1: K > 0 ? perClass.reduce((a, c) => a + c.f1, 0) / K : 0,
    logLoss: n > 0 ? logLoss / n : 0,
    ...calibrationOf(top, right),
    mostConfidentlyWrong,
  };
}
