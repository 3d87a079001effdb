/**
 * Multinomial (softmax) logistic regression with L2, the "linear probe" trained on cached backbone features.
 *
 * Hand-written because no well-kept JavaScript library does multinomial L2 logistic regression with a quasi-Newton
 * solver (the ML libraries on npm use plain gradient descent with a learning rate to tune, or are unmaintained), and
 * tfjs would mean Float32 and a fixed epoch count instead of solving the convex problem to convergence.
 *
 * Objective, over parameters W (numClasses x dim, row-major) and b (numClasses):
 *   (1 / sum_i w_i) * sum_i w_i * CE(softmax(W x_i + b), y_i)  +  (l2 / 2) * ||W||^2
 * The bias is not regularized. Normalizing by the total sample weight keeps the meaning of l2 independent of the
 * dataset size and of how the weights are scaled (sklearn's C = 1 / (l2 * n) for unit weights).
 */
import { minimizeLbfgs, type LbfgsResult } from './lbfgs.js';
import { softmaxInPlace } from '../util/math.js';

export interface SoftmaxModel {
  numClasses: number;
  dim: number;
  /** numClasses x dim, row-major. */
  W: Float32Array;
  b: Float32Array;
}

export interface SoftmaxFit extends SoftmaxModel {
  iterations: number;
  /** Objective evaluations, line-search trials included (the cost of the fit). */
  evaluations: number;
  /** Final objective value (regularized). */
  loss: number;
  gradNorm: number;
  converged: boolean;
  stopReason: LbfgsResult['reason'];
  /** Full-precision parameters, for warm-starting a fit with a nearby l2. */
  Wf64: Float64Array;
  bf64: Float64Array;
}

export interface SoftmaxOptions {
  l2: number;
  /** Per-sample weights (e.g. from classWeights); default all 1. */
  sampleWeights?: Float64Array;
  maxIter?: number;
  /** Gradient infinity-norm tolerance; the objective is a mean, so 1e-5 is tight whatever the dataset size. */
  tol?: number;
  init?: { W: Float64Array; b: Float64Array };
  /** Called after each L-BFGS iteration; W and b are views of the current iterate (copy them to keep them). */
  onIteration?: (info: { iteration: number; loss: number; gradNorm: number; W: Float64Array; b: Float64Array }) => void;
}

/** Rows copied once into one contiguous Float64Array, so the hot loops index one typed array. */
export interface FlatMatrix {
  data: Float64Array;
  rows: number;
  cols: number;
}

/** `shared` puts the data in a SharedArrayBuffer so worker threads can read it without a copy. */
export function flattenRows(rows: readonly Float32Array[], shared = false): FlatMatrix {
  if (rows.length === 0) throw new Error('no rows to train on');
  const cols = rows[0].length;
  const bytes = rows.length * cols * Float64Array.BYTES_PER_ELEMENT;
  const data = new Float64Array(shared ? new SharedArrayBuffer(bytes) : new ArrayBuffer(bytes));
  rows.forEach((row, i) => {
    if (row.length !== cols) throw new Error(`row ${i} has length ${row.length}, expected ${cols}`);
    data.set(row, i * cols);
  });
  return { data, rows: rows.length, cols };
}

/** "Balanced" class weights n / (K * count_k), expanded to one weight per sample. Absent classes get weight 0. */
export function classWeights(y: Int32Array, numClasses: number): Float64Array {
  const counts = new Float64Array(numClasses);
  for (const label of y) counts[label]++;
  const perClass = counts.map((c) => (c > 0 ? y.length / (numClasses * c) : 0));
  const weights = new Float64Array(y.length);
  for (let i = 0; i < y.length; i++) weights[i] = perClass[y[i]];
  return weights;
}

function checkLabels(y: Int32Array, rows: number, numClasses: number): void {
  if (y.length !== rows) throw new Error(`${rows} feature rows but ${y.length} labels`);
  for (let i = 0; i < y.length; i++) {
    if (!(y[i] >= 0 && y[i] < numClasses)) throw new Error(`label ${y[i]} at row ${i} is outside 0..${numClasses - 1}`);
  }
}

/**
 * The objective and its gradient, with theta = [W (row-major), b]. Returns a closure that allocates nothing per call.
 * Each sample's logits, softmax and gradient contribution are done back to back while its row is still in cache.
 */
export function softmaxObjective(X: FlatMatrix, y: Int32Array, numClasses: number, l2: number, sampleWeights?: Float64Array) {
  const { data, rows: n, cols: d } = X;
  const K = numClasses;
  checkLabels(y, n, K);
  if (sampleWeights && sampleWeights.length !== n) throw new Error(`${n} rows but ${sampleWeights.length} sample weights`);
  let total = 0;
  for (let i = 0; i < n; i++) total += sampleWeights ? sampleWeights[i] : 1;
  if (!(total > 0)) throw new Error('sample weights sum to zero');
  const w = new Float64Array(n);
  for (let i = 0; i < n; i++) w[i] = (sampleWeights ? sampleWeights[i] : 1) / total;
  const z = new Float64Array(K);
  const bOffset = K * d;

  return (theta: Float64Array, grad: Float64Array): number => {
    grad.fill(0);
    let loss = 0;
    for (let i = 0; i < n; i++) {
      const wi = w[i];
      if (wi === 0) continue;
      const xOff = i * d;
      let max = -Infinity;
      for (let k = 0; k < K; k++) {
        const wOff = k * d;
        // Four accumulators: shorter dependency chains, and V8 keeps them in registers.
        let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        let j = 0;
        for (; j + 3 < d; j += 4) {
          s0 += theta[wOff + j] * data[xOff + j];
          s1 += theta[wOff + j + 1] * data[xOff + j + 1];
          s2 += theta[wOff + j + 2] * data[xOff + j + 2];
          s3 += theta[wOff + j + 3] * data[xOff + j + 3];
        }
        for (; j < d; j++) s0 += theta[wOff + j] * data[xOff + j];
        const v = s0 + s1 + s2 + s3 + theta[bOffset + k];
        z[k] = v;
        if (v > max) max = v;
      }
      let sum = 0;
      for (let k = 0; k < K; k++) sum += Math.exp(z[k] - max);
      const logSumExp = max + Math.log(sum);
      const label = y[i];
      loss += wi * (logSumExp - z[label]);
      for (let k = 0; k < K; k++) {
        const r = wi * (Math.exp(z[k] - logSumExp) - (k === label ? 1 : 0));
        grad[bOffset + k] += r;
        if (r === 0) continue;
        const wOff = k * d;
        let j = 0;
        for (; j + 3 < d; j += 4) {
          grad[wOff + j] += r * data[xOff + j];
          grad[wOff + j + 1] += r * data[xOff + j + 1];
          grad[wOff + j + 2] += r * data[xOff + j + 2];
          grad[wOff + j + 3] += r * data[xOff + j + 3];
        }
        for (; j < d; j++) grad[wOff + j] += r * data[xOff + j];
      }
    }
    let sq = 0;
    for (let j = 0; j < bOffset; j++) {
      const t = theta[j];
      sq += t * t;
      grad[j] += l2 * t;
    }
    return loss + 0.5 * l2 * sq;
  };
}

/** Trains on rows already flattened (the CV code flattens each fold once and reuses it along the l2 path). */
export function trainSoftmaxFlat(X: FlatMatrix, y: Int32Array, numClasses: number, opts: SoftmaxOptions): SoftmaxFit {
  if (!(numClasses >= 2)) throw new Error(`need at least 2 classes, got ${numClasses}`);
  if (!(opts.l2 >= 0)) throw new Error(`l2 must be >= 0, got ${opts.l2}`);
  const d = X.cols;
  const K = numClasses;
  const theta = new Float64Array(K * d + K);
  if (opts.init) {
    if (opts.init.W.length !== K * d || opts.init.b.length !== K) throw new Error('init has the wrong shape');
    theta.set(opts.init.W, 0);
    theta.set(opts.init.b, K * d);
  }
  const objective = softmaxObjective(X, y, K, opts.l2, opts.sampleWeights);
  const report = opts.onIteration;
  const onIteration =
    report &&
    ((info: { iteration: number; loss: number; gradNorm: number; x: Float64Array }) =>
      report({ iteration: info.iteration, loss: info.loss, gradNorm: info.gradNorm, W: info.x.subarray(0, K * d), b: info.x.subarray(K * d) }));
  const result = minimizeLbfgs(objective, theta, { gradTol: opts.tol ?? 1e-5, maxIter: opts.maxIter ?? 500, onIteration });
  const Wf64 = theta.slice(0, K * d);
  const bf64 = theta.slice(K * d);
  return {
    numClasses: K,
    dim: d,
    W: Float32Array.from(Wf64),
    b: Float32Array.from(bf64),
    Wf64,
    bf64,
    iterations: result.iterations,
    evaluations: result.evaluations,
    loss: result.loss,
    gradNorm: result.gradNorm,
    converged: result.converged,
    stopReason: result.reason,
  };
}

/** Copies the given rows of a flat matrix (fold subsets). */
export function selectRows(X: FlatMatrix, indices: ArrayLike<number>): FlatMatrix {
  const { cols } = X;
  const data = new Float64Array(indices.length * cols);
  for (let i = 0; i < indices.length; i++) data.set(X.data.subarray(indices[i] * cols, (indices[i] + 1) * cols), i * cols);
  return { data, rows: indices.length, cols };
}

export function trainSoftmax(X: readonly Float32Array[], y: Int32Array, numClasses: number, opts: SoftmaxOptions): SoftmaxFit {
  return trainSoftmaxFlat(flattenRows(X), y, numClasses, opts);
}

/** Class probabilities for one (already standardized) feature row; Float64 accumulation. */
export function predictProba(model: SoftmaxModel, row: ArrayLike<number>): Float32Array {
  const { W, b, dim: d, numClasses: K } = model;
  if (row.length !== d) throw new Error(`feature row has length ${row.length}, model expects ${d}`);
  const z = new Float64Array(K);
  for (let k = 0; k < K; k++) {
    let s = b[k];
    const off = k * d;
    for (let j = 0; j < d; j++) s += W[off + j] * row[j];
    z[k] = s;
  }
  return Float32Array.from(softmaxInPlace(z));
}

export function predictProbaBatch(model: SoftmaxModel, rows: readonly ArrayLike<number>[]): Float32Array[] {
  return rows.map((row) => predictProba(model, row));
}

/** Index of the largest probability (first one on ties): the toolkit's one argmax, re-exported here for the solver's users. */
export { argmax } from '../util/math.js';
