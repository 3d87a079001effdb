/**
 * Limited-memory BFGS for smooth convex objectives (here: L2-regularized softmax regression), in Float64.
 * Backtracking Armijo line search with quadratic interpolation: for these objectives the first trial step (1, thanks to
 * the Shanno-Phua scaling of the initial Hessian) is accepted almost always, so a full More-Thuente search would only
 * add code. Curvature pairs with s.y <= 0 are skipped, which keeps the inverse-Hessian approximation positive definite.
 */

/** Writes the gradient at x into grad and returns the objective value. Must not keep references to x or grad. */
export type ObjectiveFn = (x: Float64Array, grad: Float64Array) => number;

export interface LbfgsOptions {
  /** Stop when the largest absolute gradient entry is at most this. */
  gradTol?: number;
  /** Stop when one iteration lowers the objective by less than this fraction of its magnitude. */
  relTol?: number;
  maxIter?: number;
  /** Number of curvature pairs kept. */
  history?: number;
  /** `x` is the current iterate (a working buffer: copy it to keep it). */
  onIteration?: (info: { iteration: number; loss: number; gradNorm: number; x: Float64Array }) => void;
}

export interface LbfgsResult {
  loss: number;
  /** Infinity norm of the gradient at the returned point. */
  gradNorm: number;
  iterations: number;
  /** Objective/gradient evaluations, line-search trials included. */
  evaluations: number;
  converged: boolean;
  reason: 'gradient' | 'relative-change' | 'max-iterations' | 'line-search-failed';
}

function dot(a: Float64Array, b: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

function infNorm(a: Float64Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const v = Math.abs(a[i]);
    if (v > m) m = v;
  }
  return m;
}

/** Minimizes f starting from x, which is overwritten with the solution. */
export function minimizeLbfgs(f: ObjectiveFn, x: Float64Array, opts: LbfgsOptions = {}): LbfgsResult {
  const gradTol = opts.gradTol ?? 1e-5;
  const relTol = opts.relTol ?? 1e-12;
  const maxIter = opts.maxIter ?? 500;
  const m = opts.history ?? 10;
  const n = x.length;
  const solution = x; // x and xNew swap roles each iteration; the answer is copied back here at the end

  let g: Float64Array = new Float64Array(n);
  let xNew: Float64Array = new Float64Array(n);
  let gNew: Float64Array = new Float64Array(n);
  const dir = new Float64Array(n);
  const S: Float64Array[] = [];
  const Y: Float64Array[] = [];
  const rho: number[] = [];
  const alpha = new Float64Array(m);
  // Spare buffers recycled from dropped curvature pairs, so the loop allocates nothing once the history is full.
  const spares: Float64Array[] = [];

  let loss = f(x, g);
  let evaluations = 1;
  let gradNorm = infNorm(g);
  if (!Number.isFinite(loss)) throw new Error(`L-BFGS: objective is ${loss} at the starting point`);
  if (gradNorm <= gradTol) return { loss, gradNorm, iterations: 0, evaluations, converged: true, reason: 'gradient' };

  let iteration = 0;
  let reason: LbfgsResult['reason'] = 'max-iterations';
  while (iteration < maxIter) {
    iteration++;
    // Two-loop recursion: dir = -H g.
    for (let i = 0; i < n; i++) dir[i] = -g[i];
    for (let k = S.length - 1; k >= 0; k--) {
      alpha[k] = rho[k] * dot(S[k], dir);
      const yk = Y[k];
      const a = alpha[k];
      for (let i = 0; i < n; i++) dir[i] -= a * yk[i];
    }
    if (S.length > 0) {
      const last = S.length - 1;
      const gamma = 1 / (rho[last] * dot(Y[last], Y[last])); // s.y / y.y
      for (let i = 0; i < n; i++) dir[i] *= gamma;
    }
    for (let k = 0; k < S.length; k++) {
      const beta = rho[k] * dot(Y[k], dir);
      const sk = S[k];
      const c = alpha[k] - beta;
      for (let i = 0; i < n; i++) dir[i] += c * sk[i];
    }
    let slope = dot(g, dir);
    if (!(slope < 0)) {
      // Not a descent direction (only from round-off): forget the history and take steepest descent.
      S.length = Y.length = rho.length = 0;
      for (let i = 0; i < n; i++) dir[i] = -g[i];
      slope = dot(g, dir);
    }

    // Without curvature information the natural scale is unknown: start with a step of unit length.
    let step = S.length === 0 ? Math.min(1, 1 / Math.sqrt(-slope)) : 1;
    let newLoss = NaN;
    let accepted = false;
    for (let trial = 0; trial < 40; trial++) {
      for (let i = 0; i < n; i++) xNew[i] = x[i] + step * dir[i];
      newLoss = f(xNew, gNew);
      evaluations++;
      if (Number.isFinite(newLoss) && newLoss <= loss + 1e-4 * step * slope) {
        accepted = true;
        break;
      }
      // Minimizer of the quadratic through f(0), f'(0), f(step), kept within [0.1, 0.5] of the step.
      const quad = Number.isFinite(newLoss)
        ? (-slope * step * step) / (2 * (newLoss - loss - slope * step))
        : 0.1 * step;
      step = Math.min(0.5 * step, Math.max(0.1 * step, quad));
    }
    if (!accepted) {
      reason = 'line-search-failed';
      iteration--;
      break;
    }

    // Curvature pair (s, y), recycling the oldest pair's buffers.
    let s: Float64Array;
    let yv: Float64Array;
    if (S.length === m) {
      s = S.shift()!;
      yv = Y.shift()!;
      rho.shift();
    } else {
      s = spares.pop() ?? new Float64Array(n);
      yv = spares.pop() ?? new Float64Array(n);
    }
    for (let i = 0; i < n; i++) {
      s[i] = xNew[i] - x[i];
      yv[i] = gNew[i] - g[i];
    }
    const sy = dot(s, yv);
    if (sy > 1e-12 * Math.sqrt(dot(s, s) * dot(yv, yv))) {
      S.push(s);
      Y.push(yv);
      rho.push(1 / sy);
    } else {
      spares.push(s, yv);
    }

    const previous = loss;
    loss = newLoss;
    [x, xNew] = [xNew, x];
    [g, gNew] = [gNew, g];
    gradNorm = infNorm(g);
    opts.onIteration?.({ iteration, loss, gradNorm, x });
    if (gradNorm <= gradTol) {
      reason = 'gradient';
      break;
    }
    if (previous - loss <= relTol * Math.max(Math.abs(previous), Math.abs(loss), 1e-300)) {
      reason = 'relative-change';
      break;
    }
  }
  if (x !== solution) solution.set(x);
  return {
    loss,
    gradNorm,
    iterations: iteration,
    evaluations,
    converged: reason === 'gradient' || reason === 'relative-change',
    reason,
  };
}
