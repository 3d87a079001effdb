/**
 * Optional one-hidden-layer head: dense(hidden, ReLU) -> dropout -> dense(numClasses) -> softmax, trained with Adam
 * on minibatches. For features a linear probe cannot separate; it costs hidden*dim multiply-adds per sample twice
 * per epoch, so it is much slower than the softmax head. Everything random (He init, shuffling, dropout masks) comes
 * from one seeded Rng, in a fixed order, so a seed reproduces the weights bit for bit.
 */
import { Rng } from '../util/random.js';
import { argmax, softmaxInPlace } from '../util/math.js';
import { flattenRows, type FlatMatrix } from './softmax-regression.js';

export interface MlpModel {
  kind: 'mlp';
  dim: number;
  hidden: number;
  numClasses: number;
  /** hidden x dim, row-major. */
  W1: Float32Array;
  b1: Float32Array;
  /** numClasses x hidden, row-major. */
  W2: Float32Array;
  b2: Float32Array;
}

export interface EpochInfo {
  epoch: number;
  /** Mean over the epoch's minibatches, measured with dropout on (as Keras reports it). */
  trainLoss: number;
  trainAcc: number;
  valLoss?: number;
  valAcc?: number;
}

export interface MlpOptions {
  hidden: number;
  /** Probability of zeroing a hidden unit during training (inverted dropout). Default 0.2. */
  dropout?: number;
  /** L2 weight decay: (l2/2)*||W||^2 on both weight matrices, not the biases (as in the softmax head). Default 1e-4. */
  l2?: number;
  learningRate?: number;
  batchSize?: number;
  epochs?: number;
  /** Stop after this many epochs without a better validation loss (only with `validation`). Default 10. */
  patience?: number;
  seed?: number;
  sampleWeights?: Float64Array;
  validation?: { X: readonly Float32Array[]; y: Int32Array };
  onEpoch?: (info: EpochInfo) => void;
}

export interface MlpFit extends MlpModel {
  history: EpochInfo[];
  /** Epoch whose weights were kept (the best validation loss, or the last epoch without validation). */
  bestEpoch: number;
}

interface Params {
  W1: Float64Array;
  b1: Float64Array;
  W2: Float64Array;
  b2: Float64Array;
}

/** Read-only view for inference: Float64 while training, the model's Float32 arrays afterwards. */
type ParamView = { readonly [K in keyof Params]: ArrayLike<number> };

function cloneParams(p: Params): Params {
  return { W1: p.W1.slice(), b1: p.b1.slice(), W2: p.W2.slice(), b2: p.b2.slice() };
}

/** Forward pass for one row without dropout; writes hidden activations and returns class probabilities in `probs`. */
function forward(
  p: ParamView,
  x: ArrayLike<number>,
  xOff: number,
  dim: number,
  hiddenOut: Float64Array,
  probs: Float64Array,
): void {
  const H = hiddenOut.length;
  for (let h = 0; h < H; h++) {
    let s = p.b1[h];
    const off = h * dim;
    for (let j = 0; j < dim; j++) s += p.W1[off + j] * x[xOff + j];
    hiddenOut[h] = s > 0 ? s : 0;
  }
  logitsToProbs(p, hiddenOut, probs);
}

function logitsToProbs(p: ParamView, hidden: Float64Array, probs: Float64Array): void {
  const H = hidden.length;
  const K = probs.length;
  for (let k = 0; k < K; k++) {
    let s = p.b2[k];
    const off = k * H;
    for (let h = 0; h < H; h++) s += p.W2[off + h] * hidden[h];
    probs[k] = s;
  }
  softmaxInPlace(probs);
}

function evaluateSet(p: Params, X: FlatMatrix, y: Int32Array, hidden: number, numClasses: number) {
  const hiddenBuf = new Float64Array(hidden);
  const probs = new Float64Array(numClasses);
  let loss = 0;
  let correct = 0;
  for (let i = 0; i < X.rows; i++) {
    forward(p, X.data, i * X.cols, X.cols, hiddenBuf, probs);
    loss -= Math.log(Math.max(probs[y[i]], 1e-300));
    if (argmax(probs) === y[i]) correct++;
  }
  return { loss: loss / X.rows, acc: correct / X.rows };
}

/** Adam with bias correction, in place. */
class Adam {
  private readonly m: Float64Array;
  private readonly v: Float64Array;
  constructor(
    private readonly params: Float64Array,
    private readonly lr: number,
  ) {
    this.m = new Float64Array(params.length);
    this.v = new Float64Array(params.length);
  }
  step(grad: Float64Array, t: number): void {
    const b1 = 0.9,
      b2 = 0.999,
      eps = 1e-8;
    const c1 = 1 - b1 ** t;
    const c2 = 1 - b2 ** t;
    const { m, v, params, lr } = this;
    for (let i = 0; i < params.length; i++) {
      const g = grad[i];
      m[i] = b1 * m[i] + (1 - b1) * g;
      v[i] = b2 * v[i] + (1 - b2) * g * g;
      params[i] -= (lr * (m[i] / c1)) / (Math.sqrt(v[i] / c2) + eps);
    }
  }
}

export function trainMlpHead(X: readonly Float32Array[], y: Int32Array, numClasses: number, opts: MlpOptions): MlpFit {
  const H = opts.hidden;
  if (!(Number.isInteger(H) && H >= 1)) throw new Error(`hidden must be a positive integer, got ${H}`);
  const dropout = opts.dropout ?? 0.2;
  if (!(dropout >= 0 && dropout < 1)) throw new Error(`dropout must be in [0, 1), got ${dropout}`);
  const weightDecay = opts.l2 ?? 1e-4;
  const batchSize = opts.batchSize ?? 32;
  const epochs = opts.epochs ?? 100;
  const patience = opts.patience ?? 10;
  const K = numClasses;
  const data = flattenRows(X);
  const d = data.cols;
  const n = data.rows;
  if (y.length !== n) throw new Error(`${n} feature rows but ${y.length} labels`);
  const val = opts.validation && { X: flattenRows(opts.validation.X), y: opts.validation.y };
  const weights = opts.sampleWeights;
  const rng = new Rng(opts.seed ?? 0);

  // He initialization for the ReLU layer, Glorot-like scale for the output layer; biases start at 0.
  const p: Params = {
    W1: Float64Array.from({ length: H * d }, () => rng.normal() * Math.sqrt(2 / d)),
    b1: new Float64Array(H),
    W2: Float64Array.from({ length: K * H }, () => rng.normal() * Math.sqrt(1 / H)),
    b2: new Float64Array(K),
  };
  const grads: Params = {
    W1: new Float64Array(H * d),
    b1: new Float64Array(H),
    W2: new Float64Array(K * H),
    b2: new Float64Array(K),
  };
  const lr = opts.learningRate ?? 1e-3;
  const optimizers = (['W1', 'b1', 'W2', 'b2'] as const).map((key) => [key, new Adam(p[key], lr)] as const);

  const order = Int32Array.from({ length: n }, (_, i) => i);
  const hidden = new Float64Array(H);
  const mask = new Float64Array(H);
  const probs = new Float64Array(K);
  const dHidden = new Float64Array(H);
  const keepScale = 1 / (1 - dropout);
  const history: EpochInfo[] = [];
  let best = { loss: Infinity, epoch: 0, params: cloneParams(p) };
  let step = 0;

  for (let epoch = 1; epoch <= epochs; epoch++) {
    rng.shuffle(order);
    let lossSum = 0;
    let correct = 0;
    for (let start = 0; start < n; start += batchSize) {
      const end = Math.min(n, start + batchSize);
      let batchWeight = 0;
      for (let b = start; b < end; b++) batchWeight += weights ? weights[order[b]] : 1;
      if (batchWeight === 0) continue;
      for (const g of Object.values(grads)) g.fill(0);
      for (let b = start; b < end; b++) {
        const i = order[b];
        const xOff = i * d;
        // Hidden layer with an inverted-dropout mask (scaled at train time so inference needs no change).
        for (let h = 0; h < H; h++) {
          let s = p.b1[h];
          const off = h * d;
          for (let j = 0; j < d; j++) s += p.W1[off + j] * data.data[xOff + j];
          mask[h] = dropout > 0 && rng.next() < dropout ? 0 : keepScale;
          hidden[h] = s > 0 ? s * mask[h] : 0;
        }
        logitsToProbs(p, hidden, probs);
        const label = y[i];
        lossSum -= Math.log(Math.max(probs[label], 1e-300));
        if (argmax(probs) === label) correct++;

        const scale = (weights ? weights[i] : 1) / batchWeight;
        dHidden.fill(0);
        for (let k = 0; k < K; k++) {
          const r = scale * (probs[k] - (k === label ? 1 : 0));
          grads.b2[k] += r;
          const off = k * H;
          for (let h = 0; h < H; h++) {
            grads.W2[off + h] += r * hidden[h];
            dHidden[h] += r * p.W2[off + h];
          }
        }
        for (let h = 0; h < H; h++) {
          if (hidden[h] === 0) continue; // ReLU off or dropped: no gradient flows to this unit's inputs
          const r = dHidden[h] * mask[h];
          grads.b1[h] += r;
          const off = h * d;
          for (let j = 0; j < d; j++) grads.W1[off + j] += r * data.data[xOff + j];
        }
      }
      for (let j = 0; j < p.W1.length; j++) grads.W1[j] += weightDecay * p.W1[j];
      for (let j = 0; j < p.W2.length; j++) grads.W2[j] += weightDecay * p.W2[j];
      step++;
      for (const [key, adam] of optimizers) adam.step(grads[key], step);
    }
    const info: EpochInfo = { epoch, trainLoss: lossSum / n, trainAcc: correct / n };
    if (val) {
      const v = evaluateSet(p, val.X, val.y, H, K);
      info.valLoss = v.loss;
      info.valAcc = v.acc;
    }
    history.push(info);
    opts.onEpoch?.(info);
    const monitored = val ? info.valLoss! : info.trainLoss;
    if (!val || monitored < best.loss) best = { loss: monitored, epoch, params: val ? cloneParams(p) : p };
    if (val && epoch - best.epoch >= patience) break;
  }

  const kept = best.params;
  return {
    kind: 'mlp',
    dim: d,
    hidden: H,
    numClasses: K,
    W1: Float32Array.from(kept.W1),
    b1: Float32Array.from(kept.b1),
    W2: Float32Array.from(kept.W2),
    b2: Float32Array.from(kept.b2),
    history,
    bestEpoch: best.epoch,
  };
}

export function predictProbaMlp(model: MlpModel, row: ArrayLike<number>): Float32Array {
  if (row.length !== model.dim) throw new Error(`feature row has length ${row.length}, model expects ${model.dim}`);
  const probs = new Float64Array(model.numClasses);
  forward(model, row, 0, model.dim, new Float64Array(model.hidden), probs);
  return Float32Array.from(probs);
}
