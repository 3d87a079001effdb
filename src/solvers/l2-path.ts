/**
 * One step of a fold's regularization path: fit the given l2 values from strong to weak, each fit warm-started from
 * the previous one (the solutions move smoothly with l2, so each needs a fraction of the iterations of a cold start),
 * scoring every fit on the fold's held-out rows. The caller hands the last solution back in as `init` for the next
 * step, so a path can be walked in pieces (select-l2.ts stops walking once the CV accuracy has clearly peaked).
 * Pure and self-contained so the same code runs in the main thread or a worker, giving identical bits.
 */
import { trainSoftmaxFlat, type FlatMatrix } from './softmax-regression.js';
import { wasmBackend, wasmSoftmaxObjective, type Objective } from './wasm-objective.js';

export interface PathJob {
  /** All rows (in a SharedArrayBuffer when sent to a worker); the fold is given by row indices. */
  X: FlatMatrix;
  y: Int32Array;
  numClasses: number;
  trainIndex: Int32Array;
  heldOutIndex: Int32Array;
  /** Strongest first. */
  grid: number[];
  sampleWeights?: Float64Array;
  tol: number;
  /** Tightest tolerance of a fit along the path (pathTolerance); default 1e-4. */
  tolFloor?: number;
  maxIter: number;
  /** theta = [W, b] to start the first fit from (the previous step's solution). */
  init?: Float64Array;
  /** Evaluate on the wasm GEMM kernel (wasm-objective.ts) instead of the Float64 JavaScript one. */
  wasm?: boolean;
}

export interface PathPointScore {
  l2: number;
  /** Sum of the held-out rows' weights whose argmax is right (weights are 1 unless sampleWeights were given). */
  correctWeight: number;
  totalWeight: number;
  /** Weighted sum of -log p(true class). */
  logLossSum: number;
  iterations: number;
  /** 1 where the held-out row (in heldOutIndex order) is classified right: lets the CV compare two l2 values row by row. */
  correct: Uint8Array;
}

export interface PathStep {
  scores: PathPointScore[];
  /** Solution of the last (weakest) fit, theta = [W, b]. */
  theta: Float64Array;
}

/** Held-out scores of the rows `index` of X for parameters theta = [W, b] in Float64. */
export function scoreHeldOut(
  theta: Float64Array,
  X: FlatMatrix,
  index: Int32Array,
  y: Int32Array,
  numClasses: number,
  weights?: Float64Array,
) {
  const { data, cols: d } = X;
  const K = numClasses;
  const z = new Float64Array(K);
  let correctWeight = 0;
  let totalWeight = 0;
  let logLossSum = 0;
  const correct = new Uint8Array(index.length);
  for (let r = 0; r < index.length; r++) {
    const i = index[r];
    let best = 0;
    const xOff = i * d;
    for (let k = 0; k < K; k++) {
      let s = theta[K * d + k];
      const wOff = k * d;
      for (let j = 0; j < d; j++) s += theta[wOff + j] * data[xOff + j];
      z[k] = s;
      if (s > z[best]) best = k;
    }
    let sum = 0;
    for (let k = 0; k < K; k++) sum += Math.exp(z[k] - z[best]);
    const w = weights ? weights[i] : 1;
    totalWeight += w;
    if (best === y[i]) {
      correctWeight += w;
      correct[r] = 1;
    }
    logLossSum += w * (z[best] + Math.log(sum) - z[y[i]]);
  }
  return { correctWeight, totalWeight, logLossSum, correct };
}

/**
 * Search tolerance for one l2: weak-l2 optima lie far from where a loose tolerance stops, so they are solved tighter,
 * down to `floor`. 1e-4, not the final fit's 1e-5: on EuroSAT (5000 x 1280) the fits at l2 0.001-0.003 took 4-9x fewer
 * iterations at 1e-4, their CV accuracies moved by at most 0.0006 and the pick stayed (search 50 -> 33 CPU-s).
 */
export function pathTolerance(l2: number, tol: number, floor = 1e-4): number {
  return Math.min(tol, Math.max(floor, 0.01 * l2));
}

/** runPath on the kernel the job asks for: the wasm one when it starts, else the JavaScript one. */
export async function runPathOnKernel(job: PathJob): Promise<PathStep> {
  const tf = job.wasm ? await wasmBackend() : undefined;
  if (!tf) return runPath(job);
  const kernel = wasmSoftmaxObjective(tf, job.X, job.y, job.numClasses, job.sampleWeights, job.trainIndex);
  try {
    return runPath(job, kernel.objective);
  } finally {
    kernel.dispose();
  }
}

export function runPath(job: PathJob, objective?: (l2: number) => Objective): PathStep {
  const K = job.numClasses;
  const d = job.X.cols;
  const scores: PathPointScore[] = [];
  let init = job.init && { W: job.init.subarray(0, K * d), b: job.init.subarray(K * d) };
  for (const l2 of job.grid) {
    const fit = trainSoftmaxFlat(job.X, job.y, K, {
      l2,
      sampleWeights: job.sampleWeights,
      tol: pathTolerance(l2, job.tol, job.tolFloor),
      maxIter: job.maxIter,
      init,
      subset: job.trainIndex,
      objective: objective?.(l2),
    });
    init = { W: fit.Wf64, b: fit.bf64 };
    const theta = new Float64Array(K * d + K);
    theta.set(fit.Wf64);
    theta.set(fit.bf64, K * d);
    scores.push({
      l2,
      iterations: fit.iterations,
      ...scoreHeldOut(theta, job.X, job.heldOutIndex, job.y, K, job.sampleWeights),
    });
  }
  const theta = new Float64Array(K * d + K);
  if (init) {
    theta.set(init.W);
    theta.set(init.b, K * d);
  }
  return { scores, theta };
}
