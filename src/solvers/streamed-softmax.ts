/**
 * The softmax head's numerics over rows read a chunk at a time (features/row-source.ts): the standardizer in two
 * streaming passes, the objective and its gradient summed chunk by chunk, and the L-BFGS fit on it. Memory is one
 * chunk plus the parameters, whatever the number of rows; each evaluation is one pass over the source. Standardizing
 * happens as a chunk is read (the same Float32 arithmetic as applyStandardizer), so the source holds the raw vectors.
 *
 * The products run on TF.js's wasm GEMM (Float32 products, Float64 softmax and sums, as wasm-objective.ts) and, when
 * that stops short of the tolerance or cannot start, on a Float64 JavaScript kernel: the fit meets the same tolerance
 * as trainSoftmaxFast's.
 */
import type * as TF from '@tensorflow/tfjs';
import { chunkCount, forEachChunk, type RowSource } from '../features/row-source.js';
import { Rng } from '../util/random.js';
import { minimizeLbfgs } from './lbfgs.js';
import { softmaxFitFrom, softmaxObjective, type SoftmaxFit, type SoftmaxOptions } from './softmax-regression.js';
import type { Standardizer } from './standardize.js';
import { wasmBackend, type Objective } from './wasm-objective.js';

type Tf = typeof TF;

/** fitStandardizer's result (two-pass mean and population std, Float64 sums, the same floor), in two streaming passes. */
export function fitStandardizerStreamed(source: RowSource): Standardizer {
  const d = source.cols;
  const sum = new Float64Array(d);
  forEachChunk(source, (chunk, _first, count) => {
    for (let i = 0; i < count; i++) {
      const off = i * d;
      for (let j = 0; j < d; j++) sum[j] += chunk[off + j];
    }
  });
  const mean = new Float64Array(d);
  for (let j = 0; j < d; j++) mean[j] = sum[j] / source.rows;
  const sq = new Float64Array(d);
  forEachChunk(source, (chunk, _first, count) => {
    for (let i = 0; i < count; i++) {
      const off = i * d;
      for (let j = 0; j < d; j++) {
        const v = chunk[off + j] - mean[j];
        sq[j] += v * v;
      }
    }
  });
  const std = new Float32Array(d);
  for (let j = 0; j < d; j++) {
    const s = Math.sqrt(sq[j] / source.rows);
    const floor = Math.max(1e-6, 1e-6 * Math.abs(mean[j]));
    std[j] = s > floor ? s : 1;
  }
  return { mean: Float32Array.from(mean), std };
}

/**
 * m row indices (sorted) drawn per class in proportion to the class's rows (largest remainders), seeded: the L2
 * search's sample when all rows do not fit in memory. All rows when m >= n.
 */
export function stratifiedSample(y: Int32Array, numClasses: number, m: number, seed: number): Int32Array {
  const n = y.length;
  if (m >= n) return Int32Array.from({ length: n }, (_, i) => i);
  const byClass: number[][] = Array.from({ length: numClasses }, () => []);
  y.forEach((label, i) => byClass[label].push(i));
  const exact = byClass.map((rows) => (rows.length * m) / n);
  const take = exact.map(Math.floor);
  const order = exact.map((e, k) => ({ k, rest: e - Math.floor(e) })).sort((a, b) => b.rest - a.rest || a.k - b.k);
  for (let r = 0, left = m - take.reduce((a, b) => a + b, 0); left > 0; r++, left--) take[order[r].k]++;
  const rng = new Rng(seed);
  const picked: number[] = [];
  byClass.forEach((rows, k) => picked.push(...rng.shuffle(rows).slice(0, take[k])));
  return Int32Array.from(picked.sort((a, b) => a - b));
}

/** The rows `index` (sorted ascending) of the source, standardized, as row-major vectors: one pass. */
export function gatherRows(source: RowSource, index: Int32Array, s: Standardizer): Float32Array[] {
  const d = source.cols;
  const out: Float32Array[] = [];
  let next = 0;
  forEachChunk(
    source,
    (chunk, first, count) => {
      while (next < index.length && index[next] < first + count) {
        const i = index[next++] - first;
        out.push(chunk.slice(i * d, (i + 1) * d));
      }
    },
    s,
  );
  if (out.length !== index.length) throw new Error('row index outside the source');
  return out;
}

export interface StreamedObjective {
  /** The objective at l2 (one pass over the source per call). */
  objective(l2: number): Objective;
  /** Passes made so far, their wall seconds and this process's CPU seconds in them, for the bench and the report. */
  readonly passes: { count: number; seconds: number; cpuSeconds: number };
}

/**
 * The mean (sample-weighted) cross-entropy over every row of the source plus (l2/2)||W||^2, theta = [W (K x d), b],
 * rows standardized by `standardizer` as they are read. `tf`: the wasm backend for the products; absent: the Float64
 * JavaScript kernel of softmax-regression.ts, run chunk by chunk.
 */
export function streamedSoftmaxObjective(
  source: RowSource,
  y: Int32Array,
  numClasses: number,
  opts: { standardizer?: Standardizer; sampleWeights?: Float64Array; tf?: Tf },
): StreamedObjective {
  const { rows: n, cols: d, chunkRows } = source;
  const K = numClasses;
  if (y.length !== n) throw new Error(`${n} rows but ${y.length} labels`);
  for (let i = 0; i < n; i++)
    if (!(y[i] >= 0 && y[i] < K)) throw new Error(`label ${y[i]} at row ${i} is outside 0..${K - 1}`);
  const sw = opts.sampleWeights;
  if (sw && sw.length !== n) throw new Error(`${n} rows but ${sw.length} sample weights`);
  let total = 0;
  for (let i = 0; i < n; i++) total += sw ? sw[i] : 1;
  if (!(total > 0)) throw new Error('sample weights sum to zero');
  const chunk = new Float32Array(d * chunkRows);
  const bOffset = K * d;
  const passes = { count: 0, seconds: 0, cpuSeconds: 0 };
  const { tf } = opts;

  // The JavaScript kernel: softmaxObjective on the chunk (its loss is the chunk's weighted mean), rescaled to the
  // chunk's share of the total weight.
  const part = new Float64Array(K * d + K);
  const jsChunk = (theta: Float64Array, grad: Float64Array, first: number, count: number): number => {
    const weights = Float64Array.from({ length: count }, (_, i) => (sw ? sw[first + i] : 1));
    let share = 0;
    for (const w of weights) share += w;
    if (!(share > 0)) return 0;
    const f = softmaxObjective({ data: chunk, rows: count, cols: d }, y.subarray(first, first + count), K, 0, weights);
    const loss = f(theta, part);
    share /= total;
    for (let j = 0; j < part.length; j++) grad[j] += share * part[j];
    return share * loss;
  };

  // The wasm kernel: logits = X (count x d) . W^T, W^T packed once per evaluation; gradient^T = X^T (d x count) . R,
  // the big operand first in both (XNNPACK repacks its second operand: a chunk there would be packed every call).
  const chunkT = tf ? new Float32Array(d * chunkRows) : new Float32Array(0);
  const Wt = new Float32Array(d * K);
  const R = new Float32Array(chunkRows * K);
  const e = new Float64Array(K);
  const wasmChunk = (tf: Tf, W: TF.Tensor2D, theta: Float64Array, grad: Float64Array, first: number, count: number) => {
    const X = tf.tensor2d(chunk.subarray(0, d * count), [count, d]);
    const logits = tf.matMul(X, W);
    X.dispose();
    const z = logits.dataSync() as Float32Array; // count x K
    let loss = 0;
    for (let i = 0; i < count; i++) {
      let max = -Infinity;
      for (let k = 0; k < K; k++) {
        e[k] = z[i * K + k] + theta[bOffset + k];
        if (e[k] > max) max = e[k];
      }
      const yi = y[first + i];
      const zy = e[yi];
      let sum = 0;
      for (let k = 0; k < K; k++) {
        e[k] = Math.exp(e[k] - max);
        sum += e[k];
      }
      const wi = (sw ? sw[first + i] : 1) / total;
      loss += wi * (max + Math.log(sum) - zy);
      for (let k = 0; k < K; k++) {
        const r = wi * (e[k] / sum - (k === yi ? 1 : 0));
        R[i * K + k] = r;
        grad[bOffset + k] += r;
      }
    }
    logits.dispose();
    transpose(chunk, chunkT, count, d);
    const product = tf.tidy(() =>
      tf.matMul(
        tf.tensor2d(chunkT.subarray(0, d * count), [d, count]),
        tf.tensor2d(R.subarray(0, count * K), [count, K]),
      ),
    );
    const g = product.dataSync() as Float32Array; // d x K
    for (let k = 0; k < K; k++) for (let j = 0; j < d; j++) grad[k * d + j] += g[j * K + k];
    product.dispose();
    return loss;
  };

  const objective =
    (l2: number): Objective =>
    (theta, grad) => {
      const t0 = performance.now();
      const c0 = process.cpuUsage();
      grad.fill(0);
      let loss = 0;
      let W: TF.Tensor2D | undefined;
      if (tf) {
        for (let k = 0; k < K; k++) for (let j = 0; j < d; j++) Wt[j * K + k] = theta[k * d + j];
        W = tf.tensor2d(Wt, [d, K]);
      }
      try {
        for (let c = 0, chunks = chunkCount(source); c < chunks; c++) {
          const count = source.readChunk(c, chunk, opts.standardizer);
          const first = c * chunkRows;
          loss += W ? wasmChunk(tf!, W, theta, grad, first, count) : jsChunk(theta, grad, first, count);
        }
      } finally {
        W?.dispose();
      }
      let sq = 0;
      for (let j = 0; j < bOffset; j++) {
        const t = theta[j];
        sq += t * t;
        grad[j] += l2 * t;
      }
      passes.count++;
      passes.seconds += (performance.now() - t0) / 1000;
      const used = process.cpuUsage(c0);
      passes.cpuSeconds += (used.user + used.system) / 1e6;
      return loss + 0.5 * l2 * sq;
    };
  return { objective, passes };
}

/** rows x cols (row-major) into cols x rows, in tiles that stay in cache. */
function transpose(src: Float32Array, dst: Float32Array, rows: number, cols: number): void {
  const T = 32;
  for (let i0 = 0; i0 < rows; i0 += T)
    for (let j0 = 0; j0 < cols; j0 += T) {
      const iEnd = Math.min(rows, i0 + T);
      const jEnd = Math.min(cols, j0 + T);
      for (let i = i0; i < iEnd; i++) {
        const off = i * cols;
        for (let j = j0; j < jEnd; j++) dst[j * rows + i] = src[off + j];
      }
    }
}

export interface StreamedFitOptions extends Omit<SoftmaxOptions, 'subset' | 'objective'> {
  standardizer?: Standardizer;
  /** 'js': the Float64 JavaScript kernel only (default: wasm, finished on JavaScript when needed). */
  kernel?: 'wasm' | 'js';
}

export interface StreamedFit extends SoftmaxFit {
  /** Passes over the source (one per evaluation), their wall seconds and CPU seconds. */
  passes: number;
  passSeconds: number;
  passCpuSeconds: number;
}

/**
 * trainSoftmaxFast's fit over a row source: wasm products first, then (when the Float32 products stopped it short of
 * the tolerance) polished on the Float64 kernel from where it stopped.
 */
export async function trainSoftmaxStreamed(
  source: RowSource,
  y: Int32Array,
  numClasses: number,
  opts: StreamedFitOptions,
): Promise<StreamedFit> {
  if (!(numClasses >= 2)) throw new Error(`need at least 2 classes, got ${numClasses}`);
  if (!(opts.l2 >= 0)) throw new Error(`l2 must be >= 0, got ${opts.l2}`);
  const d = source.cols;
  const K = numClasses;
  const theta = new Float64Array(K * d + K);
  if (opts.init) {
    if (opts.init.W.length !== K * d || opts.init.b.length !== K) throw new Error('init has the wrong shape');
    theta.set(opts.init.W, 0);
    theta.set(opts.init.b, K * d);
  }
  const tol = opts.tol ?? 1e-5;
  const maxIter = opts.maxIter ?? 500;
  const report = opts.onIteration;
  let done = 0;
  const run = (kernel: StreamedObjective, iterations: number) => {
    const offset = done;
    return minimizeLbfgs(kernel.objective(opts.l2), theta, {
      gradTol: tol,
      maxIter: iterations,
      onIteration:
        report &&
        ((info) =>
          report({
            iteration: offset + info.iteration,
            loss: info.loss,
            gradNorm: info.gradNorm,
            W: info.x.subarray(0, K * d),
            b: info.x.subarray(K * d),
          })),
    });
  };
  const base = { standardizer: opts.standardizer, sampleWeights: opts.sampleWeights };
  const tf = opts.kernel === 'js' ? undefined : await wasmBackend();
  let passes = 0;
  let passSeconds = 0;
  let passCpuSeconds = 0;
  let evaluations = 0;
  let result: ReturnType<typeof minimizeLbfgs> | undefined;
  if (tf) {
    const kernel = streamedSoftmaxObjective(source, y, K, { ...base, tf });
    result = run(kernel, maxIter);
    done = result.iterations;
    evaluations += result.evaluations;
    passes += kernel.passes.count;
    passSeconds += kernel.passes.seconds;
    passCpuSeconds += kernel.passes.cpuSeconds;
  }
  if (!result || result.reason === 'line-search-failed' || result.reason === 'relative-change') {
    // Check (and if needed finish) on the Float64 kernel: its gradient is the one the tolerance is about.
    const kernel = streamedSoftmaxObjective(source, y, K, base);
    const polish = run(kernel, Math.max(1, maxIter - done));
    result = {
      ...polish,
      iterations: done + polish.iterations,
      evaluations: evaluations + polish.evaluations,
      converged: polish.converged && polish.gradNorm <= tol,
    };
    passes += kernel.passes.count;
    passSeconds += kernel.passes.seconds;
    passCpuSeconds += kernel.passes.cpuSeconds;
  }
  return {
    ...softmaxFitFrom(theta, K, d, result),
    passes,
    passSeconds,
    passCpuSeconds,
  };
}
