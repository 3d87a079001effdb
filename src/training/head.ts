// Rung 1: cached backbone features → a new head (all pretrained layers frozen) → metrics. trainClassifier (train.ts)
// dispatches here for strategy 'head'.
import { loadFeatureBackbone } from '../backbone/load.js';
import { DEFAULT_MODEL_ID } from '../backbone/zoo.js';
import { FeatureStore } from '../features/store.js';
import { fitStandardizer, applyStandardizerAll } from '../solvers/standardize.js';
import { CurveScorer, onCurve } from '../solvers/curve-scorer.js';
import type { L2Selection } from '../solvers/select-l2.js';
import { trainMlpHead } from '../solvers/mlp-head.js';
import { evaluate } from '../eval/metrics.js';
import { headForward, type HeadWeights } from '../classifier/head.js';
import { fitSoftmaxHead, sampleWeightsFor, type SoftmaxHeadFit } from '../classifier/head-policy.js';
import { fitUnknownOnTrain, splitsUsed } from '../classifier/splits-used.js';
import { innerSplit } from '../classifier/inner-split.js';
import { Classifier } from '../classifier/classifier.js';
import { newBundleStamp } from '../classifier/bundle.js';
import { extractLabelled, type LabelledFeatures } from './labelled-features.js';
import { throwIfInterrupted } from './interrupted.js';
import type { HeadConfig, HeadTrainOptions, HistoryPoint, RungContext, SplitsUsed, TrainResult } from './types.js';

/** Epochs of the MLP head when not given. */
export const MLP_DEFAULT_EPOCHS = 100;
/** L2 of the MLP head when not given (it is not cross-validated: each fit is an Adam run, too slow for CV). */
export const MLP_DEFAULT_L2 = 1e-4;

export async function trainHeadClassifier(opts: HeadTrainOptions, ctx: RungContext): Promise<TrainResult> {
  const { dataset, emit } = ctx;
  const seed = opts.seed ?? 0;
  const backbone = await loadFeatureBackbone(opts.model ?? DEFAULT_MODEL_ID, { path: opts.modelPath });
  emit({ type: 'backbone', id: backbone.id, featureDim: backbone.featureDim });
  const ownStore = !opts.store;
  const store = opts.store ?? FeatureStore.open();
  let train: LabelledFeatures;
  let val: LabelledFeatures;
  const tExtract = Date.now();
  try {
    train = await extractLabelled(backbone, store, dataset.train, dataset.classes, 'train', emit, opts);
    val = await extractLabelled(backbone, store, dataset.val, dataset.classes, 'val', emit, opts);
  } finally {
    if (ownStore) store.close();
  }
  const extractSeconds = (Date.now() - tExtract) / 1000;
  let used: ReturnType<RungContext['reportUsed']>;
  try {
    // Stopped while extracting: what was extracted is cached, nothing is trained on a part of the images.
    throwIfInterrupted(opts.signal);
    used = ctx.reportUsed(train.labels, val.labels);
  } catch (err) {
    await backbone.dispose();
    throw err;
  }
  const { counts, warnings } = used;

  const tTrain = Date.now();
  const K = dataset.classes.length;
  const standardizer = fitStandardizer(train.features);
  const Xtr = applyStandardizerAll(train.features, standardizer);
  const Xva = applyStandardizerAll(val.features, standardizer);
  const headSpec = opts.head ?? { kind: 'linear' };
  const history: HistoryPoint[] = [];
  let head: HeadWeights;
  let selection: L2Selection | undefined;
  let l2: number;
  let l2SelectedBy: HeadConfig['l2SelectedBy'];
  let sampleWeights: Float64Array | undefined;
  let decisions: SplitsUsed['decisions'];

  if (headSpec.kind === 'linear') {
    const scorer = await CurveScorer.start(Xtr, train.labels, Xva, val.labels, K);
    let fit: SoftmaxHeadFit;
    try {
      fit = await fitSoftmaxHead(Xtr, train.labels, K, {
        l2: opts.l2,
        seed,
        classWeights: opts.classWeights,
        onSelected: (s, seconds) => emit({ type: 'select-l2', selection: s, seconds }),
        onIteration: (info) => {
          // Scoring every row costs about one objective evaluation, so a long fit would spend half its time drawing
          // its own curve: score every iteration up to 20, then every 2nd, 4th, 8th... (~50 points for 150).
          if (!onCurve(info.iteration)) return;
          const p = progressPoint(info, scorer);
          history.push(p);
          emit({ type: 'progress', point: p });
        },
      });
    } finally {
      scorer.dispose();
    }
    ({ l2, selection, selectedBy: l2SelectedBy, sampleWeights } = fit);
    const cv = selection?.curve.find((p) => p.l2 === selection!.best);
    decisions = cv
      ? { split: 'cv-on-train', decided: ['L2 strength'], images: Xtr.length, accuracy: cv.cvAccuracy }
      : { split: 'none', decided: [], images: 0 };
    head = {
      kind: 'linear',
      mean: standardizer.mean,
      std: standardizer.std,
      layers: [{ W: fit.model.W, b: fit.model.b, inputs: fit.model.dim, outputs: K, activation: 'softmax' }],
    };
  } else {
    // Early stopping watches an inner validation split carved from train (never the reported val split).
    const inner = innerSplit(train.labels, K, seed);
    const yFit = Int32Array.from(inner.fit, (i) => train.labels[i]);
    const yCheck = Int32Array.from(inner.check, (i) => train.labels[i]);
    sampleWeights = sampleWeightsFor(yFit, K, opts.classWeights);
    l2 = opts.l2 ?? MLP_DEFAULT_L2;
    l2SelectedBy = opts.l2 !== undefined ? 'user' : 'default';
    const epochs = opts.epochs ?? MLP_DEFAULT_EPOCHS;
    const mlp = trainMlpHead(
      inner.fit.map((i) => Xtr[i]),
      yFit,
      K,
      {
        hidden: headSpec.hidden,
        dropout: headSpec.dropout,
        l2,
        epochs,
        seed,
        sampleWeights,
        validation: inner.check.length ? { X: inner.check.map((i) => Xtr[i]), y: yCheck } : undefined,
        onEpoch: (e) => {
          const p: HistoryPoint = {
            step: e.epoch,
            trainLoss: e.trainLoss,
            trainAcc: e.trainAcc,
            innerValLoss: e.valLoss,
            innerValAcc: e.valAcc,
          };
          history.push(p);
          emit({ type: 'progress', point: p, of: epochs });
        },
      },
    );
    const kept = mlp.history.find((e) => e.epoch === mlp.bestEpoch);
    decisions = inner.check.length
      ? {
          split: 'inner-val',
          decided: ['stopping epoch (lowest inner-val loss)'],
          images: inner.check.length,
          accuracy: kept?.valAcc,
        }
      : { split: 'none', decided: [], images: 0 };
    head = {
      kind: 'mlp',
      mean: standardizer.mean,
      std: standardizer.std,
      layers: [
        { W: mlp.W1, b: mlp.b1, inputs: mlp.dim, outputs: mlp.hidden, activation: 'relu' },
        { W: mlp.W2, b: mlp.b2, inputs: mlp.hidden, outputs: K, activation: 'softmax' },
      ],
    };
  }
  const trainSeconds = (Date.now() - tTrain) / 1000;

  const evalSet = val.features.length ? val : train;
  const probs = evalSet.features.map((f) => headForward(head, f));
  const metrics = evaluate(evalSet.labels, probs, dataset.classes, evalSet.paths);
  const unknownFit = fitUnknownOnTrain(train.features, train.labels, K, val.features);
  const unknown = unknownFit.unknown;
  const config: HeadConfig = {
    data: dataset.root,
    split: dataset.splitSource,
    model: backbone.id,
    seed,
    head: headSpec,
    l2,
    l2SelectedBy,
    classWeights: sampleWeights ? 'balanced' : 'none',
    trainImages: train.features.length,
    valImages: val.features.length,
    evaluatedOn: val.features.length ? 'val' : 'train (no validation images)',
    splits: splitsUsed(metrics, val.features.length, decisions, unknownFit),
  };
  const classifier = Classifier.fromParts(
    {
      backbone: {
        id: backbone.id,
        weightsHash: backbone.weightsHash,
        input: backbone.input,
        feature: backbone.entry.feature,
      },
      labels: dataset.classes,
      head,
      unknown,
      metrics: { ...metrics, splits: config.splits },
      config,
      ...newBundleStamp(),
    },
    backbone,
  );
  const totalSeconds = (Date.now() - ctx.t0) / 1000;
  emit({ type: 'done', metrics, seconds: totalSeconds });
  return {
    classifier,
    metrics,
    history,
    selection,
    dataset,
    counts,
    warnings,
    timings: { extractSeconds, trainSeconds, totalSeconds },
    config,
  };
}

/** Iterations the training curve scores (curve-scorer.ts; re-exported for the curve's tests). */
export { onCurve };

/** Loss/accuracy on train and val for the current L-BFGS iterate (cheap next to the fit itself; see CurveScorer). */
function progressPoint(
  info: { iteration: number; loss: number; W?: Float64Array | Float32Array; b?: Float64Array | Float32Array },
  scorer: CurveScorer,
): HistoryPoint {
  const p: HistoryPoint = { step: info.iteration, trainLoss: info.loss, trainAcc: NaN };
  if (!info.W || !info.b) return p;
  const { train, val } = scorer.score(info.W, info.b);
  p.trainAcc = train.acc;
  if (val) {
    p.valLoss = val.loss;
    p.valAcc = val.acc;
  }
  return p;
}
