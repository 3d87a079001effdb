/**
 * Temperature scaling (Guo et al., "On Calibration of Modern Neural Networks", ICML 2017): one scalar T divides every
 * logit, chosen to minimise the log loss of held-out predictions. The argmax never changes, so accuracy is exactly
 * kept; only the confidence moves. For a linear softmax the same T folds into the weights (W / T, b / T), so a
 * calibrated head is an ordinary head and nothing downstream (bundle, export, server) needs to know.
 *
 * Why a cap: on small, cleanly separable sets every held-out row is right, and the log loss then falls for ever as
 * T -> 0 (certainty). The fitted head may not claim more than the held-out rows can show, so T is bounded below where
 * the mean top probability reaches the rule-of-succession accuracy (right + 1) / (n + 2) (Laplace): 60 rows all right
 * allow a mean confidence of 0.984, not 1.
 */
import { softmaxInPlace } from '../util/math.js';

export interface TemperatureFit {
  temperature: number;
  /** Mean held-out log loss before (T = 1) and after. */
  logLossBefore: number;
  logLossAfter: number;
  /** Held-out rows the temperature was fitted on. */
  rows: number;
  /** True when the Laplace cap, not the log loss minimum, set T. */
  capped: boolean;
}

/** Bounds of T: a tenfold sharpening at most, and a hundredfold flattening. */
export const MIN_TEMPERATURE = 0.1;
export const MAX_TEMPERATURE = 100;

interface Rows {
  /** n x K logits, row-major. */
  logits: Float64Array;
  labels: Int32Array;
  numClasses: number;
  weights?: Float64Array;
}

function stats(rows: Rows, t: number): { logLoss: number; meanTop: number } {
  const { logits, labels, numClasses: K, weights } = rows;
  const n = labels.length;
  const z = new Float64Array(K);
  let loss = 0;
  let top = 0;
  let sumW = 0;
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < K; k++) z[k] = logits[i * K + k] / t;
    softmaxInPlace(z);
    const w = weights ? weights[i] : 1;
    let max = 0;
    for (let k = 0; k < K; k++) if (z[k] > max) max = z[k];
    loss -= w * Math.log(Math.max(1e-15, z[labels[i]]));
    top += w * max;
    sumW += w;
  }
  return { logLoss: loss / sumW, meanTop: top / sumW };
}

/** Golden-section search of a unimodal f on [a, b] (in log T), to a width of `tol`. */
function goldenMin(f: (x: number) => number, a: number, b: number, tol = 1e-4): number {
  const g = (Math.sqrt(5) - 1) / 2;
  let c = b - g * (b - a);
  let d = a + g * (b - a);
  let fc = f(c);
  let fd = f(d);
  while (b - a > tol) {
    if (fc < fd) {
      b = d;
      d = c;
      fd = fc;
      c = b - g * (b - a);
      fc = f(c);
    } else {
      a = c;
      c = d;
      fc = fd;
      d = a + g * (b - a);
      fd = f(d);
    }
  }
  return (a + b) / 2;
}

/** The temperature of held-out logits (n x K, row-major), by log loss, within the Laplace cap. */
export function fitTemperature(
  logits: Float64Array,
  labels: Int32Array,
  numClasses: number,
  weights?: Float64Array,
): TemperatureFit {
  const n = labels.length;
  if (logits.length !== n * numClasses) throw new Error(`${n} labels but ${logits.length / numClasses} logit rows`);
  const rows: Rows = { logits, labels, numClasses, weights };
  const before = stats(rows, 1).logLoss;
  if (n === 0) return { temperature: 1, logLossBefore: 0, logLossAfter: 0, rows: 0, capped: false };
  const lo = Math.log(MIN_TEMPERATURE);
  const hi = Math.log(MAX_TEMPERATURE);
  let logT = goldenMin((x) => stats(rows, Math.exp(x)).logLoss, lo, hi);
  // The cap: the smallest T whose mean top probability stays within the smoothed held-out accuracy.
  let right = 0;
  for (let i = 0; i < n; i++) {
    let best = 0;
    for (let k = 1; k < numClasses; k++) if (logits[i * numClasses + k] > logits[i * numClasses + best]) best = k;
    if (best === labels[i]) right++;
  }
  const allowed = (right + 1) / (n + 2);
  let capped = false;
  if (stats(rows, Math.exp(logT)).meanTop > allowed) {
    // Mean top probability falls as T grows: bisect for the T where it meets the allowance.
    let a = logT;
    let b = hi;
    for (let i = 0; i < 60; i++) {
      const m = (a + b) / 2;
      if (stats(rows, Math.exp(m)).meanTop > allowed) a = m;
      else b = m;
    }
    logT = b;
    capped = true;
  }
  const temperature = Math.exp(logT);
  return { temperature, logLossBefore: before, logLossAfter: stats(rows, temperature).logLoss, rows: n, capped };
}
