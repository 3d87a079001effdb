// Rung 1: cached backbone features → a new head (all pretrained layers frozen). trainClassifier (train.ts) dispatches
// here for strategy 'head'; the harness (harness.ts) extracts, evaluates and builds the classifier around its step.
import { loadFeatureBackbone } from '../backbone/load.js';
import { DEFAULT_MODEL_ID } from '../backbone/zoo.js';
import { fitStandardizer, applyStandardizerAll, type Standardizer } from '../solvers/standardize.js';
import { CurveScorer, onCurve } from '../solvers/curve-scorer.js';
import { trainMlpHead } from '../solvers/mlp-head.js';
import { linearHead, logitRows, type HeadWeights } from '../classifier/head.js';
import { fitSoftmaxHead, sampleWeightsFor, type SoftmaxHeadFit } from '../classifier/head-policy.js';
import { innerSplit } from '../classifier/inner-split.js';
import { fitSoftmaxHeadStreamed, headMemoryPlan } from './head-streamed.js';
import type { LabelledFeatures } from './labelled-features.js';
import { runRung, type HeldOutLogits, type RungFit } from './harness.js';
import { stratifiedSample } from '../solvers/streamed-softmax.js';
import type { HeadSpec, HeadTrainOptions, HistoryPoint, RungContext, TrainEvent, TrainResult } from './types.js';
import { MLP_EPOCHS } from '../options/train-options.js';

/** Epochs of the MLP head when not given. */
export const MLP_DEFAULT_EPOCHS = MLP_EPOCHS;
/**
 * Val rows the training curve scores in a bounded run (all of a smaller val split): the curve is display only, and
 * 1,000 rows put its accuracy within about 1.5 points.
 */
export const BOUNDED_CURVE_VAL_ROWS = 1000;
/** L2 of the MLP head when not given (it is not cross-validated: each fit is an Adam run, too slow for CV). */
export const MLP_DEFAULT_L2 = 1e-4;

export async function trainHeadClassifier(opts: HeadTrainOptions, ctx: RungContext): Promise<TrainResult> {
  const backbone = await loadFeatureBackbone(opts.model ?? DEFAULT_MODEL_ID, { path: opts.modelPath });
  ctx.emit({ type: 'backbone', id: backbone.id, featureDim: backbone.featureDim });
  const headSpec: HeadSpec = opts.head ?? { kind: 'linear' };
  return runRung(ctx, opts, {
    extractor: backbone,
    backboneRef: {
      id: backbone.id,
      weightsHash: backbone.weightsHash,
      input: backbone.input,
      feature: backbone.entry.feature,
    },
    train: async (train, val) => {
      const K = ctx.dataset.classes.length;
      // Over the memory budget the linear head streams its vectors from a spill file (head-streamed.ts).
      const memory = headMemoryPlan(train.features.length, backbone.featureDim);
      const fit =
        headSpec.kind === 'linear' && memory.stream
          ? await fitLinearStreamed({ ...train, cols: backbone.featureDim }, val, K, memory.searchRows, opts, ctx.emit)
          : headSpec.kind === 'linear'
            ? await fitLinear(train, val, K, fitStandardizer(train.features), opts, ctx.emit)
            : fitMlp(train, K, fitStandardizer(train.features), headSpec, opts, ctx.emit);
      return rungFit(fit);
    },
    // Over the budget the whole run is bounded (harness.ts runBounded): the spill file is written from the store.
    bounded:
      headSpec.kind === 'linear'
        ? {
            applies: (trainImages) => headMemoryPlan(trainImages, backbone.featureDim).stream,
            train: async (train, val) => {
              const K = ctx.dataset.classes.length;
              const { searchRows } = headMemoryPlan(train.labels.length, backbone.featureDim);
              // The curve's val rows: a stratified sample, so its memory does not grow with val (display only).
              const valIndex = stratifiedSample(val.labels, K, BOUNDED_CURVE_VAL_ROWS, opts.seed ?? 0);
              const stored = {
                features: train.rows(),
                cols: train.dim,
                labels: train.labels,
              };
              const valSample = {
                features: val.gather(valIndex),
                labels: Int32Array.from(valIndex, (i) => val.labels[i]),
              };
              return rungFit(await fitLinearStreamed(stored, valSample, K, searchRows, opts, ctx.emit));
            },
          }
        : undefined,
    dispose: () => backbone.dispose(),
  });

  function rungFit(fit: HeadFit): RungFit {
    return {
      history: fit.history,
      selection: fit.selection,
      decisions: fit.decisions,
      recipe: {
        head: headSpec,
        l2: fit.l2,
        l2SelectedBy: fit.l2SelectedBy,
        classWeights: fit.sampleWeights ? 'balanced' : 'none',
      },
      features: async (set) => set.features,
      head: () => fit.weights,
      heldOut: async () => fit.heldOut,
      classifierBackbone: async () => ({ backbone }),
    };
  }
}

/** A head's weights and how they were fitted (the harness's RungFit, less what every head type shares). */
type HeadFit = Pick<RungFit, 'history' | 'selection' | 'decisions'> &
  Pick<SoftmaxHeadFit, 'l2' | 'sampleWeights'> & {
    l2SelectedBy: SoftmaxHeadFit['selectedBy'];
    weights: HeadWeights;
    /** Logits of training rows this head's fit did not see, for its temperature (the harness fits it). */
    heldOut?: HeldOutLogits;
  };

/** The softmax by L-BFGS, L2 by CV on train (head-policy.ts); its curve drawn on train and val for the report. */
async function fitLinear(
  train: LabelledFeatures,
  val: LabelledFeatures,
  K: number,
  standardizer: Standardizer,
  opts: HeadTrainOptions,
  emit: (e: TrainEvent) => void,
): Promise<HeadFit> {
  const Xtr = applyStandardizerAll(train.features, standardizer);
  const Xva = applyStandardizerAll(val.features, standardizer);
  const history: HistoryPoint[] = [];
  const scorer = await CurveScorer.start(Xtr, train.labels, Xva, val.labels, K);
  let fit: SoftmaxHeadFit;
  try {
    fit = await fitSoftmaxHead(Xtr, train.labels, K, {
      l2: opts.l2,
      seed: opts.seed ?? 0,
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
  const { l2, selection, selectedBy: l2SelectedBy, sampleWeights } = fit;
  const cv = selection?.curve.find((p) => p.l2 === selection.best);
  return {
    history,
    selection,
    decisions: cv
      ? { split: 'cv-on-train', decided: ['L2 strength'], images: Xtr.length, accuracy: cv.cvAccuracy }
      : { split: 'none', decided: [], images: 0 },
    l2,
    l2SelectedBy,
    sampleWeights,
    // The L2 search's out-of-fold logits at the chosen L2: each row scored by the fold model that held it out.
    heldOut: selection?.heldOutLogits && {
      logits: selection.heldOutLogits,
      labels: train.labels,
      weights: sampleWeights,
    },
    weights: linearHead(standardizer, fit.model.W, fit.model.b),
  };
}

/**
 * The softmax over a float16 spill file of the training vectors (head-streamed.ts): L2 by CV on a stratified sample
 * that fits the memory budget, the final fit streamed over every row; its curve drawn on the sample and val.
 */
async function fitLinearStreamed(
  train: { features: Iterable<Float32Array>; cols: number; labels: Int32Array },
  val: Pick<LabelledFeatures, 'features' | 'labels'>,
  K: number,
  searchRows: number,
  opts: HeadTrainOptions,
  emit: (e: TrainEvent) => void,
): Promise<HeadFit> {
  const history: HistoryPoint[] = [];
  const fit = await fitSoftmaxHeadStreamed(train.features, train.cols, train.labels, K, {
    l2: opts.l2,
    seed: opts.seed ?? 0,
    classWeights: opts.classWeights,
    searchRows,
    onSelected: (s, seconds) => emit({ type: 'select-l2', selection: s, seconds }),
    onSample: async (rows, labels, standardizer) => {
      const scorer = await CurveScorer.start(
        rows,
        labels,
        applyStandardizerAll(val.features, standardizer),
        val.labels,
        K,
      );
      return {
        onIteration: (info) => {
          if (!onCurve(info.iteration)) return;
          const p = progressPoint(info, scorer);
          history.push(p);
          emit({ type: 'progress', point: p });
        },
        dispose: () => scorer.dispose(),
      };
    },
  });
  const { l2, selection, selectedBy: l2SelectedBy, sampleWeights, sample } = fit;
  const cv = selection?.curve.find((p) => p.l2 === selection.best);
  return {
    history,
    selection,
    decisions: cv
      ? { split: 'cv-on-train', decided: ['L2 strength'], images: sample.index.length, accuracy: cv.cvAccuracy }
      : { split: 'none', decided: [], images: 0 },
    l2,
    l2SelectedBy,
    sampleWeights,
    // The search's out-of-fold logits at the chosen L2, on the sample's rows.
    heldOut: selection?.heldOutLogits && {
      logits: selection.heldOutLogits,
      labels: sample.labels,
      weights: sample.weights,
    },
    weights: linearHead(fit.standardizer, fit.model.W, fit.model.b),
  };
}

/** The MLP head by Adam; early stopping watches an inner validation split carved from train (never val). */
function fitMlp(
  train: LabelledFeatures,
  K: number,
  standardizer: Standardizer,
  headSpec: Extract<HeadSpec, { kind: 'mlp' }>,
  opts: HeadTrainOptions,
  emit: (e: TrainEvent) => void,
): HeadFit {
  const Xtr = applyStandardizerAll(train.features, standardizer);
  const history: HistoryPoint[] = [];
  const seed = opts.seed ?? 0;
  const inner = innerSplit(train.labels, K, seed);
  const yFit = Int32Array.from(inner.fit, (i) => train.labels[i]);
  const yCheck = Int32Array.from(inner.check, (i) => train.labels[i]);
  const sampleWeights = sampleWeightsFor(yFit, K, opts.classWeights);
  const l2 = opts.l2 ?? MLP_DEFAULT_L2;
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
  const weights: HeadWeights = {
    kind: 'mlp',
    mean: standardizer.mean,
    std: standardizer.std,
    layers: [
      { W: mlp.W1, b: mlp.b1, inputs: mlp.dim, outputs: mlp.hidden, activation: 'relu' },
      { W: mlp.W2, b: mlp.b2, inputs: mlp.hidden, outputs: K, activation: 'softmax' },
    ],
  };
  return {
    history,
    decisions: inner.check.length
      ? {
          split: 'inner-val',
          decided: ['stopping epoch (lowest inner-val loss)'],
          images: inner.check.length,
          accuracy: kept?.valAcc,
        }
      : { split: 'none', decided: [], images: 0 },
    l2,
    l2SelectedBy: opts.l2 !== undefined ? 'user' : 'default',
    sampleWeights,
    weights,
    // The inner val split chose the stopping epoch but was never trained on: its logits fit the temperature.
    heldOut: inner.check.length
      ? {
          logits: logitRows(
            weights,
            inner.check.map((i) => train.features[i]),
          ),
          labels: yCheck,
          weights: sampleWeightsFor(yCheck, K, opts.classWeights),
        }
      : undefined,
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
