/**
 * Scores an iterate of the rung-1 fit on the training and validation rows (accuracy, mean cross-entropy) for the
 * training curve. On big sets (wasmPays) the rows stay resident in TF.js's wasm heap and one GEMM gives all logits:
 * EuroSAT's 7,000 rows x 1,280 x 10 take ~15 ms there against ~120 ms in scalar JavaScript, and the curve scores ~50
 * iterates. The curve is display only: the weights do not depend on it. Logits accumulate in Float32 on wasm, so an
 * accuracy can differ from the Float64 scoring by a row whose two best classes tie to 1e-7.
 */
import type * as TF from '@tensorflow/tfjs';
import { flattenRows } from './softmax-regression.js';
import { wasmBackend, wasmPays } from './wasm-objective.js';

export interface SetScore {
  loss: number;
  acc: number;
}

export interface CurveScores {
  train: SetScore;
  /** Absent when there are no validation rows. */
  val?: SetScore;
}

/** Iterations the training curve scores: all of the first 20, then a stride that doubles every decade-ish. */
export function onCurve(iteration: number): boolean {
  return iteration <= 20 || iteration % 2 ** Math.floor(Math.log2(iteration / 10)) === 0;
}

/** How many of the iterations 1..iterations the curve scores. */
export function curvePoints(iterations: number): number {
  let n = 0;
  for (let i = 1; i <= iterations; i++) if (onCurve(i)) n++;
  return n;
}

/** -log(1e-12): the cap of one row's loss, as a probability floor of 1e-12. */
const MAX_ROW_LOSS = -Math.log(1e-12);

/** Mean loss and accuracy of rows `from`..`to` of row-major logits (row i: z[i*K .. i*K+K)) plus the bias b. */
function scoreLogits(z: ArrayLike<number>, b: ArrayLike<number>, y: Int32Array, from: number, K: number): SetScore {
  let loss = 0;
  let correct = 0;
  for (let i = 0; i < y.length; i++) {
    const off = (from + i) * K;
    let best = 0;
    let max = -Infinity;
    for (let k = 0; k < K; k++) {
      const v = z[off + k] + b[k];
      if (v > max) {
        max = v;
        best = k;
      }
    }
    let sum = 0;
    for (let k = 0; k < K; k++) sum += Math.exp(z[off + k] + b[k] - max);
    loss += Math.min(MAX_ROW_LOSS, max + Math.log(sum) - (z[off + y[i]] + b[y[i]]));
    if (best === y[i]) correct++;
  }
  const n = Math.max(1, y.length);
  return { loss: loss / n, acc: correct / n };
}

export class CurveScorer {
  private constructor(
    private readonly logits: (W: Float64Array) => ArrayLike<number>,
    private readonly release: () => void,
    private readonly yTrain: Int32Array,
    private readonly yVal: Int32Array,
    private readonly K: number,
  ) {}

  /** Train rows then validation rows, standardized like the fit's; K classes. */
  static async start(
    Xtrain: readonly Float32Array[],
    yTrain: Int32Array,
    Xval: readonly Float32Array[],
    yVal: Int32Array,
    K: number,
  ): Promise<CurveScorer> {
    const rows = [...Xtrain, ...Xval];
    const d = rows[0]?.length ?? 0;
    const tf = wasmPays(Xtrain.length, d, K) ? await wasmBackend() : undefined;
    const flat = flattenRows(rows);
    if (tf) return CurveScorer.onWasm(tf, flat.data, rows.length, d, yTrain, yVal, K);
    return new CurveScorer(
      (W) => jsLogits(flat.data, rows.length, d, W, K),
      () => {},
      yTrain,
      yVal,
      K,
    );
  }

  private static onWasm(
    tf: typeof TF,
    data: Float32Array,
    n: number,
    d: number,
    yTrain: Int32Array,
    yVal: Int32Array,
    K: number,
  ): CurveScorer {
    const resident = tf.tensor2d(data, [n, d]);
    const Wt = new Float32Array(d * K); // d x K: XNNPACK's fast layout (a transposed operand is ~6x slower here)
    const logits = (W: Float64Array) => {
      for (let k = 0; k < K; k++) for (let j = 0; j < d; j++) Wt[j * K + k] = W[k * d + j];
      const z = tf.tidy(() => tf.matMul(resident, tf.tensor2d(Wt, [d, K])));
      const values = z.dataSync() as Float32Array;
      z.dispose();
      return values;
    };
    return new CurveScorer(logits, () => resident.dispose(), yTrain, yVal, K);
  }

  /** Scores of the iterate W (K x dim, row-major), b; both rounded to Float32 first, as the saved head is. */
  score(W: Float64Array | Float32Array, b: Float64Array | Float32Array): CurveScores {
    const z = this.logits(Float64Array.from(Float32Array.from(W)));
    const bias = Float32Array.from(b);
    const train = scoreLogits(z, bias, this.yTrain, 0, this.K);
    const val = this.yVal.length ? scoreLogits(z, bias, this.yVal, this.yTrain.length, this.K) : undefined;
    return { train, val };
  }

  /** Frees the resident rows (wasm). */
  dispose(): void {
    this.release();
  }
}

/** Logits without the bias, Float64 accumulation (the JavaScript path for small sets). */
function jsLogits(data: Float32Array, n: number, d: number, W: Float64Array, K: number): Float64Array {
  const z = new Float64Array(n * K);
  for (let i = 0; i < n; i++) {
    const xOff = i * d;
    for (let k = 0; k < K; k++) {
      const wOff = k * d;
      let s = 0;
      for (let j = 0; j < d; j++) s += W[wOff + j] * data[xOff + j];
      z[i * K + k] = s;
    }
  }
  return z;
}
