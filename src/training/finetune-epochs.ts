// Rungs 2-3's epoch loop: the softmax first (L-BFGS on the tail's initial features: the rung-1 head, same CV for L2),
// then tail + softmax together with Adam on minibatches: a lower rate for the pretrained blocks than for the head,
// BatchNorm on its frozen statistics, early stopping on the accuracy of the check set (the inner validation split):
// patience counts from the best fine-tuned epoch. The epoch kept is that one, or on rung 3's decaying schedule the
// latest within a paired SE of it, and only when a paired test on the check set says it beats epoch 0
// (epoch-choice.ts). Seeded; checkpointed after each epoch (finetune/checkpoint.ts) so a re-run resumes; between steps
// it yields to the event loop, so an aborted signal stops it at the next step on any number of threads.
import type * as tfjs from '@tensorflow/tfjs';
import { fitStandardizer, applyStandardizerAll } from '../solvers/standardize.js';
import type { L2Selection } from '../solvers/select-l2.js';
import { headForward, linearHead, type HeadWeights } from '../classifier/head.js';
import { fitSoftmaxHead } from '../classifier/head-policy.js';
import { argmax } from '../util/math.js';
import { Rng } from '../util/random.js';
import { serialStep } from '../finetune/step.js';
import { passSizes, stepBytesPerImage } from '../finetune/step-memory.js';
import { assignTail, type TrainableTail } from '../finetune/network.js';
import { tailFeatures as tailFeaturesBatched } from '../finetune/finetuned-backbone.js';
import { rateFactor } from '../finetune/schedule.js';
import {
  loadCheckpoint,
  saveCheckpoint,
  optimizerState,
  restoreOptimizer,
  checkpointDir,
} from '../finetune/checkpoint.js';
import { finetuneModel, type FinetuneSettings } from './finetune-recipe.js';
import {
  chooseEpoch,
  epochStanding,
  improves,
  shouldStop,
  type EpochScore,
  type EpochVerdict,
} from './epoch-choice.js';
import { epochsWithinBudget, type EpochBudget } from './epoch-budget.js';
import { sampleWeightsFor } from '../classifier/head-policy.js';
import { throwIfInterrupted, yieldToEventLoop } from './interrupted.js';
import type { FinetuneConfig, FinetuneTrainOptions, HistoryPoint, TrainEvent } from './types.js';

type TF = typeof tfjs;

/** Rows of cut activations (NHWC, flattened) with their labels and image paths. */
export interface ActSet {
  acts: Float32Array[];
  labels: Int32Array;
  paths: string[];
}

export interface FinetuneFit {
  head: HeadWeights;
  l2: number;
  l2SelectedBy: FinetuneConfig['l2SelectedBy'];
  selection?: L2Selection;
  history: HistoryPoint[];
  bestEpoch: number;
  /** Accuracy on the held-out check set (inner val) of epoch 0 and of the kept epoch. */
  headOnlyCheckAcc: number;
  bestCheckAcc: number;
  /** The paired comparison that chose the kept epoch (undefined: no check set, or restoreBest off, or no epoch ran). */
  verdict?: EpochVerdict;
  /** Why the epochs stopped before the last: patience since the best fine-tuned epoch, or clearly behind epoch 0. */
  stopped?: { epoch: number; why: 'patience' | 'behind' };
  /** The minibatch size used (the requested one, capped to fit the wasm heap). */
  batchSize: number;
  /** Measured bytes of one image in a training step. */
  stepBytesPerImage: number;
}

export interface FinetuneInput {
  tf: TF;
  tail: TrainableTail;
  train: ActSet;
  /** Held out of `train` for the best epoch and early stopping (the inner val split); empty: decide on train. */
  check: ActSet;
  /** Number of classes. */
  K: number;
  settings: FinetuneSettings;
  opts: FinetuneTrainOptions;
  emit: (e: TrainEvent) => void;
  /** The training set of each epoch (1-based) when it changes (augmentation); default: `train` every epoch. */
  epochTrain?: (epoch: number) => Promise<ActSet>;
  /** Checkpoint after every finished epoch under this key (checkpoint.ts), and resume from one found there. */
  checkpointKey?: string;
  /** auto's try: the epochs are cut to what its time budget still holds (epoch-budget.ts). */
  budget?: EpochBudget;
}

/** Head first (L-BFGS on the tail's initial features), then tail + head with Adam. Restores the epoch kept. */
export async function finetune(input: FinetuneInput): Promise<FinetuneFit> {
  const { tf, tail, train, check, K, settings: s, opts, emit, epochTrain, checkpointKey, budget } = input;
  const seed = opts.seed ?? 0;
  const history: HistoryPoint[] = [];
  const perImage = await stepBytesPerImage(tf, tail);
  // The optimizer step keeps the requested batch; what the heap bounds is one forward/backward pass (micro-batches,
  // gradients summed: see step.ts), and with data-parallel steps each thread's own heap holds its shard's passes.
  const batchSize = s.batchSize;
  const { microBatch, inferBatch } = passSizes(s.batchSize, perImage);
  const tailFeatures = (tf: TF, t: TrainableTail, acts: Float32Array[]) => tailFeaturesBatched(tf, t, acts, inferBatch);
  if (microBatch < s.batchSize)
    emit({ type: 'finetune-batch', requested: s.batchSize, used: microBatch, bytesPerImage: perImage });
  // Head first: the rung-1 softmax on the tail's initial pooled features (standardized; the standardizer stays fixed).
  const F0 = await tailFeatures(tf, tail, train.acts);
  const standardizer = fitStandardizer(F0);
  const X0 = applyStandardizerAll(F0, standardizer);
  const {
    model: init,
    l2,
    selection,
    selectedBy: l2SelectedBy,
    sampleWeights: sw,
  } = await fitSoftmaxHead(X0, train.labels, K, {
    l2: opts.l2,
    seed,
    classWeights: opts.classWeights,
    onSelected: (sel, seconds) => emit({ type: 'select-l2', selection: sel, seconds }),
  });
  const D = tail.featureDim;
  const head = (W: Float32Array, b: Float32Array): HeadWeights => linearHead(standardizer, W, b);
  // F: the set's tail features when already computed (the tail forward is the cost of scoring).
  const score = async (W: Float32Array, b: Float32Array, set: ActSet, F?: Float32Array[]) => {
    F ??= await tailFeatures(tf, tail, set.acts);
    const h = head(W, b);
    let loss = 0;
    let ok = 0;
    const correct = new Uint8Array(F.length);
    F.forEach((f, i) => {
      const p = headForward(h, f);
      loss -= Math.log(Math.max(1e-12, p[set.labels[i]]));
      if (argmax(p) === set.labels[i]) {
        ok++;
        correct[i] = 1;
      }
    });
    return { loss: loss / Math.max(1, F.length), acc: ok / Math.max(1, F.length), correct };
  };
  const useCheck = check.acts.length > 0;
  const evalSet = useCheck ? check : train;
  const s0 = await score(init.W, init.b, evalSet, useCheck ? undefined : F0);
  const head0: EpochScore = { epoch: 0, ...s0 };
  // The paired test weighs the check rows as the head's loss does (class weights).
  const checkWeights = opts.classWeights ? sampleWeightsFor(evalSet.labels, K, opts.classWeights) : undefined;
  const tr0 = useCheck ? await score(init.W, init.b, train, F0) : s0;
  const p0: HistoryPoint = {
    step: 0,
    trainLoss: tr0.loss,
    trainAcc: tr0.acc,
    ...(useCheck ? { innerValLoss: s0.loss, innerValAcc: s0.acc } : {}),
  };
  history.push(p0);
  // The epochs run: the settings' count, cut when auto's time budget holds fewer.
  let epochs = s.epochs;
  /**
   * Fits the epochs to what the budget holds after `done` of them, up to the settings' count: a cut made on a slow
   * first epoch (warm-up) is given back when the next ones run faster. The schedule's decay ends with the new count.
   */
  const fitBudget = (done: number, lastEpochSeconds?: number) => {
    if (!budget) return;
    const fits = epochsWithinBudget(budget, { done, planned: s.epochs, now: Date.now(), lastEpochSeconds });
    if (fits === epochs) return;
    emit({
      type: 'finetune-budget',
      epochs: fits,
      of: s.epochs,
      epochSeconds: lastEpochSeconds ?? budget.epochSeconds,
      measured: lastEpochSeconds !== undefined,
    });
    epochs = fits;
  };
  fitBudget(0);
  emit({ type: 'progress', point: p0, of: epochs });

  // Joint training.
  const Wv = tf.variable(tf.tensor2d(init.W, [K, D]), true, `tl_ft_head_W_${seed}_${Date.now()}`);
  const bv = tf.variable(tf.tensor1d(init.b), true, `tl_ft_head_b_${seed}_${Date.now()}`);
  const meanT = tf.tensor1d(standardizer.mean);
  const stdT = tf.tensor1d(standardizer.std);
  const swT = sw ? tf.tensor1d(Float32Array.from(sw)) : undefined;
  const tailVars = [...tail.variables.values()];
  /** Weights in the order readAll(tailVars) gives them (a checkpoint's, the best epoch's) put back into the tail. */
  const setTail = (weights: Float32Array[]) =>
    assignTail(
      tf,
      tail,
      [...tail.variables.keys()].map((name, i) => ({ name, data: weights[i] })),
    );
  const optHead = tf.train.adam(s.lr);
  const optTail = tf.train.adam(s.tailLr);
  // Warm-up over the first epoch, then the settings' schedule (schedule.ts).
  const warmupSteps = Math.ceil(train.acts.length / batchSize);
  // (of the epochs as cut so far: a cut ends the decay sooner)
  const totalSteps = () => warmupSteps * epochs;
  let stepIndex = 0;
  const setRates = (f: number) => {
    // tfjs reads learningRate on every applyGradients; it has no schedule API.
    (optHead as unknown as { learningRate: number }).learningRate = s.lr * f;
    (optTail as unknown as { learningRate: number }).learningRate = s.tailLr * f;
  };
  const [h, w, c] = tail.inputShape;
  const per = h * w * c;
  const rng = new Rng(seed + 104729);
  const order = Int32Array.from(train.acts.map((_, i) => i));
  // Epoch 0's weights (the pretrained tail), kept to fall back on when no fine-tuned epoch passes the paired test.
  const epoch0 = { epoch: 0, acc: s0.acc, loss: s0.loss, W: init.W, b: init.b, tail: await readAll(tailVars) };
  // The best fine-tuned epoch by inner score (none until one has run): patience counts from it.
  let bestScore: EpochScore | undefined;
  // The epoch to keep, with its weights: the best, or on a decaying schedule the latest within NEAR_BEST_SE of it
  // (epoch-choice.ts). It is never earlier than the best, so the best's weights need not be kept beside it.
  const latestNearBest = s.schedule === 'cosine';
  let chosen = epoch0;
  let sinceBest = 0;
  let stopped: FinetuneFit['stopped'];
  let startEpoch = 1;
  // The last epoch whose checkpoint is on disk: what an interrupted run leaves for its re-run.
  let kept = 0;
  const saved = checkpointKey ? loadCheckpoint(checkpointKey) : undefined;
  if (saved) {
    // Resume after the last finished epoch: weights, optimizers, counters; the shuffles are replayed from the seed.
    const [W1, b1] = [tf.tensor2d(saved.W, [K, D]), tf.tensor1d(saved.b)];
    Wv.assign(W1);
    bv.assign(b1);
    tf.dispose([W1, b1]);
    setTail(saved.tail);
    await restoreOptimizer(tf, optHead, saved.optHead);
    await restoreOptimizer(tf, optTail, saved.optTail);
    stepIndex = saved.stepIndex;
    sinceBest = saved.sinceBest;
    // (with the best's inner rows: later epochs are compared with them)
    if (saved.best)
      bestScore = { ...saved.best, correct: Uint8Array.from(saved.best.correct, (c) => (c === '1' ? 1 : 0)) };
    chosen = saved.kept;
    history.splice(0, history.length, ...saved.history);
    for (let e = 1; e <= saved.epoch; e++) rng.shuffle(order);
    startEpoch = saved.epoch + 1;
    kept = saved.epoch;
    emit({ type: 'finetune-resume', epoch: saved.epoch, of: saved.of, dir: checkpointDir(saved.key) });
    fitBudget(saved.epoch);
  }
  let canCheckpoint = !!checkpointKey;
  // Data-parallel steps over worker threads (src/finetune/parallel.ts); undefined = the serial step.
  const par = await (
    await import('../finetune/parallel.js')
  ).startParallelSteps(
    { tf, tail, K, l2, Wv, bv, meanT, stdT, swT, optHead, optTail, microBatch, weightDecay: s.weightDecay },
    {
      model: finetuneModel(opts),
      modelPath: opts.modelPath,
      seed,
      images: train.acts.length,
      batchSize,
    },
  );
  try {
    for (let epoch = startEpoch; epoch <= epochs; epoch++) {
      // (a resumed run whose last checkpoint already ran out of patience)
      if (opts.signal?.aborted || (opts.restoreBest !== false && bestScore && sinceBest >= s.patience)) break;
      const tEpoch = Date.now();
      rng.shuffle(order);
      const epochSet = epochTrain ? await epochTrain(epoch) : train;
      let lossSum = 0;
      let okSum = 0;
      for (let i = 0; i < order.length; i += batchSize) {
        // Between steps: let a signal handler run (one thread never yields otherwise) and stop when it aborted.
        await yieldToEventLoop();
        if (opts.signal?.aborted) break;
        if (stepIndex < warmupSteps || s.schedule !== 'constant')
          setRates(rateFactor(s.schedule, stepIndex, warmupSteps, totalSteps()));
        stepIndex++;
        const n = Math.min(batchSize, order.length - i);
        const data = new Float32Array(n * per);
        const ys = new Int32Array(n);
        for (let j = 0; j < n; j++) {
          data.set(epochSet.acts[order[i + j]], j * per);
          ys[j] = epochSet.labels[order[i + j]];
        }
        const { loss, correct } = par
          ? await par.step(data, ys, n)
          : await serialStep(
              { tf, tail, tailVars, Wv, bv, meanT, stdT, swT, K, microBatch, weightDecay: s.weightDecay },
              optHead,
              optTail,
              data,
              ys,
              n,
              l2,
            );
        lossSum += (await loss.data())[0];
        okSum += (await correct.data())[0];
        loss.dispose();
        correct.dispose();
        // Within-epoch progress: a rung-3 epoch can take minutes.
        emit({ type: 'finetune-step', epoch, of: epochs, done: i + n, total: order.length });
      }
      // A stopped epoch is neither scored nor kept.
      if (opts.signal?.aborted) break;
      const [Wn, bn] = await readAll([Wv, bv]);
      const sv = await score(Wn, bn, evalSet);
      const p: HistoryPoint = {
        step: epoch,
        trainLoss: lossSum / order.length,
        trainAcc: okSum / order.length,
        ...(useCheck ? { innerValLoss: sv.loss, innerValAcc: sv.acc } : {}),
      };
      history.push(p);
      const mem = tf.memory();
      emit({ type: 'progress', point: p, of: epochs });
      emit({
        type: 'finetune-epoch',
        epoch,
        seconds: (Date.now() - tEpoch) / 1000,
        images: order.length,
        memory: { numTensors: mem.numTensors, numBytes: mem.numBytes, numDataIds: tf.engine().backend.numDataIds() },
      });
      // The tail's weights after this epoch, read once (the kept-epoch snapshot and the checkpoint both take them).
      let tailNow: Float32Array<ArrayBuffer>[] | undefined;
      const tailWeights = async () => (tailNow ??= await readAll(tailVars));
      const now: EpochScore = { epoch, ...sv };
      // (without restoreBest, every epoch is the best and kept: the run ends with its last)
      const { isBest, keep } =
        opts.restoreBest === false
          ? { isBest: true, keep: true }
          : epochStanding(now, bestScore, latestNearBest, checkWeights);
      if (isBest) {
        bestScore = now;
        sinceBest = 0;
      } else sinceBest++;
      if (keep) {
        chosen = { epoch, acc: sv.acc, loss: sv.loss, W: Wn, b: bn, tail: await tailWeights() };
      }
      if (checkpointKey && canCheckpoint && !opts.signal?.aborted) {
        try {
          saveCheckpoint({
            key: checkpointKey,
            epoch,
            of: epochs,
            stepIndex,
            sinceBest,
            history,
            W: Wn,
            b: bn,
            tail: await tailWeights(),
            best: bestScore && { ...bestScore, correct: bestScore.correct.join('') },
            kept: chosen,
            optHead: await optimizerState(optHead),
            optTail: await optimizerState(optTail),
          });
          kept = epoch;
        } catch {
          // A cache that cannot take the checkpoint (full, read-only) costs only the resume, not the run.
          canCheckpoint = false;
        }
      }
      if (opts.restoreBest !== false && useCheck) {
        const stop = shouldStop(head0, bestScore, epoch, sinceBest, s.patience, checkWeights, s.stopWhenBehind);
        if (stop) {
          if (epoch < epochs) stopped = { epoch, why: stop };
          break;
        }
      } else if (opts.restoreBest !== false && sinceBest >= s.patience) break;
      // (the epoch's seconds with its scoring and checkpoint: what the next epoch will cost)
      fitBudget(epoch, (Date.now() - tEpoch) / 1000);
    }
  } finally {
    await par?.close();
    optHead.dispose();
    optTail.dispose();
    tf.dispose([Wv, bv, meanT, stdT]);
    swT?.dispose();
  }
  throwIfInterrupted(opts.signal, {
    epoch: kept,
    of: epochs,
    checkpointDir: checkpointKey && kept ? checkpointDir(checkpointKey) : undefined,
  });
  // Keep a fine-tuned epoch only when the paired test on the check set says the best one beats epoch 0 (the L-BFGS head
  // on the pretrained tail); the one kept is then the chosen one (the best, or the latest near it). Without a check
  // set, the chosen one on train when the best beats epoch 0 there.
  let verdict: EpochVerdict | undefined;
  if (opts.restoreBest !== false && useCheck && bestScore) {
    verdict = chooseEpoch(head0, bestScore, checkWeights, chosen);
    if (verdict.kept === 0) chosen = epoch0;
  } else if (opts.restoreBest !== false && !useCheck && !(bestScore && improves(bestScore, epoch0))) chosen = epoch0;
  if (verdict)
    emit({ type: 'finetune-verdict', kept: verdict.kept, why: verdict.why, ...(stopped ? { stopped } : {}) });
  setTail(chosen.tail);
  return {
    head: head(chosen.W, chosen.b),
    l2,
    l2SelectedBy,
    selection,
    history,
    bestEpoch: chosen.epoch,
    headOnlyCheckAcc: s0.acc,
    bestCheckAcc: chosen.acc,
    verdict,
    stopped,
    batchSize,
    stepBytesPerImage: perImage,
  };
}

/** Copies of tensors' values, read asynchronously (a webgpu tensor cannot be read synchronously under Node). */
async function readAll(ts: tfjs.Tensor[]): Promise<Float32Array<ArrayBuffer>[]> {
  const out: Float32Array<ArrayBuffer>[] = [];
  for (const t of ts) out.push(Float32Array.from((await t.data()) as Float32Array));
  return out;
}
