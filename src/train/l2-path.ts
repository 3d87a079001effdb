/**
 * One regularization path: fit from the strongest to the weakest l2, each fit warm-started from the previous one
 * (the solutions move smoothly with l2, so each needs a fraction of the iterations of a cold start), scoring every fit
 * on held-out rows. Pure and self-contained so the same code runs in the main thread or a worker, giving identical bits.
 */
import { selectRows, trainSoftmaxFlat, type FlatMatrix } from './softmax-regression.js';

export interface PathJob {
  X: FlatMatrix;
  y: Int32Array;
  numClasses: number;
  trainIndex: Int32Array;
  heldOutIndex: Int32Array;
  /** Strongest first. */
  grid: number[];
  sampleWeights?: Float64Array;
  tol: number;
  maxIter: number;
}

export interface PathPointScore {
  l2: number;
  /** Sum of the held-out rows' weights whose argmax is right (weights are 1 unless sampleWeights were given). */
  correctWeight: number;
  totalWeight: number;
  /** Weighted sum of -log p(true class). */
  logLossSum: number;
  iterations: number;
}

/** Held-out scores of the rows in `X` for parameters theta = [W, b] in Float64. */
export function scoreHeldOut(theta: Float64Array, X: FlatMatrix, y: Int32Array, numClasses: number, weights?: Float64Array) {
  const { data, rows, cols: d } = X;
  const K = numClasses;
  const z = new Float64Array(K);
  let correctWeight = 0;
  let totalWeight = 0;
  let logLossSum = 0;
  for (let i = 0; i < rows; i++) {
    let best = 0;
    for (let k = 0; k < K; k++) {
      let s = theta[K * d + k];
      const wOff = k * d;
      const xOff = i * d;
      for (let j = 0; j < d; j++) s += theta[wOff + j] * data[xOff + j];
      z[k] = s;
      if (s > z[best]) best = k;
    }
    let sum = 0;
    for (let k = 0; k < K; k++) sum += Math.exp(z[k] - z[best]);
    const w = weights ? weights[i] : 1;
    totalWeight += w;
    if (best === y[i]) correctWeight += w;
    logLossSum += w * (z[best] + Math.log(sum) - z[y[i]]);
  }
  return { correctWeight, totalWeight, logLossSum };
}

function pick<T extends Float64Array | Int32Array>(values: T, index: Int32Array): T {
  const out = new (values.constructor as new (n: number) => T)(index.length);
  for (let i = 0; i < index.length; i++) out[i] = values[index[i]];
  return out;
}

export function runPath(job: PathJob): PathPointScore[] {
  const Xtrain = selectRows(job.X, job.trainIndex);
  const Xheld = selectRows(job.X, job.heldOutIndex);
  const yTrain = pick(job.y, job.trainIndex);
  const yHeld = pick(job.y, job.heldOutIndex);
  const wTrain = job.sampleWeights && pick(job.sampleWeights, job.trainIndex);
  const wHeld = job.sampleWeights && pick(job.sampleWeights, job.heldOutIndex);
  const scores: PathPointScore[] = [];
  let init: { W: Float64Array; b: Float64Array } | undefined;
  for (const l2 of job.grid) {
    const tol = Math.min(job.tol, Math.max(1e-5, 0.01 * l2));
    const fit = trainSoftmaxFlat(Xtrain, yTrain, job.numClasses, { l2, sampleWeights: wTrain, tol, maxIter: job.maxIter, init });
    init = { W: fit.Wf64, b: fit.bf64 };
    const theta = new Float64Array(fit.Wf64.length + fit.bf64.length);
    theta.set(fit.Wf64);
    theta.set(fit.bf64, fit.Wf64.length);
    scores.push({ l2, iterations: fit.iterations, ...scoreHeldOut(theta, Xheld, yHeld, job.numClasses, wHeld) });
  }
  return scores;
}

