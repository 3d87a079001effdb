/**
 * The softmax objective of softmax-regression.ts with its two matrix products on TF.js's WebAssembly backend
 * (XNNPACK, SIMD): the rows stay resident in the wasm heap as one tensor (transposed) for the whole fit, so an
 * evaluation only moves W (K x dim) in and the K x n logits out, then the n x K residuals in and the dim x K gradient
 * out. About 5x faster per evaluation than the scalar JavaScript kernel (EuroSAT fold, 4000 x 1280 x 10: ~11.4 ms,
 * 12.6-13 ms with the rows untransposed, against ~57 ms).
 *
 * The products accumulate in Float32 (the JavaScript kernel accumulates in Float64); the softmax, the loss and the
 * penalty stay in Float64. The gradient's rounding error (~1e-7 relative) sits far below the L2 search's tolerances,
 * so the search uses it; the final fit (trainSoftmaxFast) is checked, and finished if needed, on the Float64 kernel.
 * Deterministic: XNNPACK's GEMM sums in a fixed order, so the same inputs give the same bits.
 */
import type * as TF from '@tensorflow/tfjs';
import { env } from '../util/env.js';
import {
  flattenRows,
  trainSoftmax,
  trainSoftmaxFlat,
  type FlatMatrix,
  type SoftmaxFit,
  type SoftmaxOptions,
} from './softmax-regression.js';

type Tf = typeof TF;
export type Objective = (theta: Float64Array, grad: Float64Array) => number;

/**
 * Rows x features x classes under which the JavaScript kernel is used: starting TF.js on wasm costs ~0.5 s per thread,
 * which the faster evaluations (~0.9 ns less per unit, a few hundred evaluations per fit) only repay above a few
 * million units (hymenoptera, 244 x 1280 x 2, stays on JavaScript; cats/dogs, 2000 x 1280 x 2, goes to wasm).
 */
export const WASM_MIN_UNITS = 4e6;

/** env.headWasmMinUnits (TL_HEAD_WASM_MIN_UNITS) overrides WASM_MIN_UNITS, so tests can send a small set down the big-set path. */
export function wasmPays(rows: number, dim: number, classes: number): boolean {
  return rows * dim * classes >= (env.headWasmMinUnits ?? WASM_MIN_UNITS);
}

let backend: Promise<Tf | undefined> | undefined;

/**
 * TF.js on wasm, started once per thread; undefined when it cannot start, or while another backend (webgpu
 * fine-tuning) is TF.js's active one: switching it under that engine would strand its tensors (callers fall back to
 * the JS kernel).
 */
export async function wasmBackend(): Promise<Tf | undefined> {
  backend ??= import('../backbone/runtimes/tfjs/tfjs.js')
    .then((m) => m.tfWasm())
    .catch((error: unknown) => {
      if (env.debug) console.error('head kernel: wasm backend unavailable, using the JavaScript kernel:', error);
      return undefined;
    });
  const tf = await backend;
  return tf?.getBackend() === 'wasm' ? tf : undefined;
}

/**
 * The objective over the rows `subset` of X (all rows when absent), y and sampleWeights indexed by row of X.
 * objective(l2) is the objective at that l2 (the rows are uploaded once for all of them); call dispose() when done:
 * it frees the resident copy of the rows.
 */
export function wasmSoftmaxObjective(
  tf: Tf,
  X: FlatMatrix,
  y: Int32Array,
  numClasses: number,
  sampleWeights?: Float64Array,
  subset?: Int32Array,
): { objective: (l2: number) => Objective; dispose: () => void } {
  const { data, rows: nAll, cols: d } = X;
  const K = numClasses;
  const picked: number[] = [];
  let total = 0;
  for (let i = 0; i < (subset ? subset.length : nAll); i++) {
    const row = subset ? subset[i] : i;
    if (!(row >= 0 && row < nAll)) throw new Error(`row index ${row} is outside 0..${nAll - 1}`);
    if (!(y[row] >= 0 && y[row] < K)) throw new Error(`label ${y[row]} at row ${row} is outside 0..${K - 1}`);
    const w = sampleWeights ? sampleWeights[row] : 1;
    total += w;
    if (w > 0) picked.push(row); // zero-weight rows contribute nothing
  }
  if (!(total > 0)) throw new Error('sample weights sum to zero');
  const n = picked.length;
  // Resident as X^T (d x n): both products then put the small operand first, W (K x d) x X^T for the logits and
  // X^T x R (n x K) for the gradient, the layouts XNNPACK runs fastest here (~6 ms each on a 4000 x 1280 fold,
  // against ~8.5 ms for X x W^T).
  const rowsT = new Float32Array(d * n);
  const weight = new Float64Array(n);
  const label = new Int32Array(n);
  picked.forEach((row, i) => {
    const off = row * d;
    for (let j = 0; j < d; j++) rowsT[j * n + i] = data[off + j];
    weight[i] = (sampleWeights ? sampleWeights[row] : 1) / total;
    label[i] = y[row];
  });
  const residentT = tf.tensor2d(rowsT, [d, n]);
  const Wk = new Float32Array(K * d);
  const R = new Float32Array(n * K);
  const e = new Float64Array(K);
  const bOffset = K * d;

  const objective =
    (l2: number): Objective =>
    (theta, grad) => {
      for (let j = 0; j < bOffset; j++) Wk[j] = theta[j];
      const logits = tf.tidy(() => tf.matMul(tf.tensor2d(Wk, [K, d]), residentT));
      const z = logits.dataSync() as Float32Array; // K x n
      grad.fill(0);
      let loss = 0;
      for (let i = 0; i < n; i++) {
        let max = -Infinity;
        for (let k = 0; k < K; k++) max = Math.max(max, z[k * n + i] + theta[bOffset + k]);
        let sum = 0;
        for (let k = 0; k < K; k++) {
          e[k] = Math.exp(z[k * n + i] + theta[bOffset + k] - max);
          sum += e[k];
        }
        const wi = weight[i];
        const yi = label[i];
        loss += wi * (max + Math.log(sum) - z[yi * n + i] - theta[bOffset + yi]);
        for (let k = 0; k < K; k++) {
          const r = wi * (e[k] / sum - (k === yi ? 1 : 0));
          R[i * K + k] = r;
          grad[bOffset + k] += r;
        }
      }
      logits.dispose();
      const product = tf.tidy(() => tf.matMul(residentT, tf.tensor2d(R, [n, K])));
      const g = product.dataSync() as Float32Array; // d x K
      let sq = 0;
      for (let k = 0; k < K; k++) {
        const off = k * d;
        for (let j = 0; j < d; j++) {
          const t = theta[off + j];
          sq += t * t;
          grad[off + j] = g[j * K + k] + l2 * t;
        }
      }
      product.dispose();
      return loss + 0.5 * l2 * sq;
    };
  return { objective, dispose: () => residentT.dispose() };
}

/**
 * trainSoftmax with its evaluations on the wasm kernel, then (when the Float32 products stopped it short of the
 * tolerance, e.g. a line search lost in rounding) polished on the Float64 kernel from where it stopped, so the result
 * meets the same tolerance as trainSoftmax. trainSoftmax itself for small problems (wasmPays) or when wasm cannot start.
 */
export async function trainSoftmaxFast(
  X: readonly Float32Array[],
  y: Int32Array,
  numClasses: number,
  opts: SoftmaxOptions,
): Promise<SoftmaxFit> {
  const tf = X.length > 0 && wasmPays(X.length, X[0].length, numClasses) ? await wasmBackend() : undefined;
  if (!tf) return trainSoftmax(X, y, numClasses, opts);
  const flat = flattenRows(X);
  const kernel = wasmSoftmaxObjective(tf, flat, y, numClasses, opts.sampleWeights, opts.subset);
  let fit: SoftmaxFit;
  try {
    fit = trainSoftmaxFlat(flat, y, numClasses, { ...opts, objective: kernel.objective(opts.l2) });
  } finally {
    kernel.dispose();
  }
  const tol = opts.tol ?? 1e-5;
  const maxIter = opts.maxIter ?? 500;
  if (fit.stopReason !== 'line-search-failed' && fit.stopReason !== 'relative-change') return fit;
  // Check (and if needed finish) on the Float64 kernel: its gradient is the one the tolerance is about.
  const report = opts.onIteration;
  const polish = trainSoftmaxFlat(flat, y, numClasses, {
    ...opts,
    init: { W: fit.Wf64, b: fit.bf64 },
    maxIter: Math.max(1, maxIter - fit.iterations),
    onIteration: report && ((info) => report({ ...info, iteration: fit.iterations + info.iteration })),
  });
  return {
    ...polish,
    iterations: fit.iterations + polish.iterations,
    evaluations: fit.evaluations + polish.evaluations,
    converged: polish.converged && polish.gradNorm <= tol,
  };
}
