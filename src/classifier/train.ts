// Rung 1 end to end: dataset → cached backbone features → new softmax (all pretrained layers frozen) → metrics.
import type { Backbone } from '../backbone/types.js';
import { loadBackbone } from '../backbone/load.js';
import { DEFAULT_MODEL_ID } from '../backbone/zoo.js';
import type { ExtractProgress } from '../features/extract.js';
import { FeatureStore } from '../features/store.js';
import { loadDataset, classCounts, datasetWarnings, type Dataset, type LabeledImage, type ClassCount } from '../data/dataset.js';
import type { SkippedFile } from '../data/files.js';
import { fitStandardizer, applyStandardizerAll } from '../train/standardize.js';
import { trainSoftmax, classWeights, predictProbaBatch } from '../train/softmax-regression.js';
import { selectL2, type L2Selection } from '../train/select-l2.js';
import { trainMlpHead } from '../train/mlp-head.js';
import { evaluate, type Metrics } from '../eval/metrics.js';
import { TlError } from '../util/errors.js';
import type { HeadWeights } from './head.js';
import { headForward } from './head.js';
import { fitUnknownDetector } from './unknown.js';
import { Classifier } from './classifier.js';
import { newBundleStamp } from './bundle.js';
import { extractLabelled } from './labelled-features.js';
import { finetuneClassifier } from '../finetune/train.js';
import { planTraining, type Plan } from '../finetune/plan.js';

export type HeadSpec = { kind: 'linear' } | { kind: 'mlp'; hidden: number; dropout: number };

export interface TrainOptions {
  /** Backbone id (default: the zoo's best). */
  model?: string;
  modelPath?: string;
  /** Validation fraction when the data has no split of its own. */
  val?: number;
  seed?: number;
  /** L2 strength of the softmax; chosen by 5-fold CV on the training split when not set. */
  l2?: number;
  head?: HeadSpec;
  /** 'balanced' reweights classes by inverse frequency; 'auto' does so only when imbalanced (max/min >= 1.5). */
  classWeights?: 'auto' | 'balanced' | 'none';
  /** Epochs for the MLP head (the linear head trains to convergence). */
  epochs?: number;
  batchSize?: number;
  store?: FeatureStore;
  onEvent?: (e: TrainEvent) => void;
  signal?: AbortSignal;
  /**
   * Which rung: 'head' (default: a new softmax on frozen features), 'partial' (fine-tune the last blocks on cached
   * activations at a cut), 'full' (every layer), 'auto' (chosen from images per class, time budget and throughput).
   */
  strategy?: 'head' | 'partial' | 'full' | 'auto';
  /** partial: freeze the first N blocks (see `tl plan` for the block list). */
  freeze?: number;
  /** partial: train the last K blocks (default 2). */
  trainLast?: number;
  /** partial: replace the unfrozen blocks by new 1x1-conv units of these sizes (default: reuse their pretrained weights). */
  replace?: number[];
  /** Fine-tuning: Adam rate of the softmax (default 1e-3) and of the unfrozen blocks (default 1e-4; 1e-3 with replace). */
  lr?: number;
  tailLr?: number;
  /** Fine-tuning: minibatch size (default 32) and early-stopping patience in epochs (default 3). */
  finetuneBatchSize?: number;
  patience?: number;
  /** Fine-tuning: keep the epoch with the best validation accuracy (default true; false keeps the last epoch). */
  restoreBest?: boolean;
  /** Fine-tuning: input size in pixels for TF.js backbones (e.g. 160 for full fine-tuning). */
  size?: number;
  /** Fine-tuning: augment training images (random resized crop 0.6-1, flip, brightness/contrast ±10%; seeded). */
  augment?: boolean;
  /** partial + augment: cache K augmented copies per image at the cut (K x disk, computed once); epochs cycle them. */
  augmentCopies?: number;
  /** auto: seconds the training may take (default 300). */
  timeBudget?: number;
}

export interface HistoryPoint {
  step: number;
  trainLoss: number;
  trainAcc: number;
  valLoss?: number;
  valAcc?: number;
}

export type TrainEvent =
  | { type: 'dataset'; dataset: Dataset; counts: ClassCount[]; warnings: string[] }
  | { type: 'backbone'; id: string; featureDim: number }
  | { type: 'extract-start'; split: 'train' | 'val'; total: number }
  | { type: 'extract'; split: 'train' | 'val'; progress: ExtractProgress }
  | { type: 'extract-done'; split: 'train' | 'val'; embedded: number; cached: number; skipped: number; seconds: number }
  | { type: 'skip'; file: SkippedFile }
  | { type: 'select-l2'; selection: L2Selection; seconds: number }
  | { type: 'progress'; point: HistoryPoint; of?: number }
  | { type: 'done'; metrics: Metrics; seconds: number }
  | { type: 'plan'; plan: Plan }
  | { type: 'finetune-setup'; cut: string; trainable: string[]; backend: string; note?: string; replace?: number[] }
  | { type: 'finetune-batch'; requested: number; used: number; bytesPerImage: number }
  | { type: 'finetune-epoch'; epoch: number; seconds: number; images: number; memory: { numTensors: number; numBytes: number; numDataIds: number } };

export interface TrainResult {
  classifier: Classifier;
  metrics: Metrics;
  history: HistoryPoint[];
  selection?: L2Selection;
  dataset: Dataset;
  counts: ClassCount[];
  warnings: string[];
  timings: { extractSeconds: number; trainSeconds: number; totalSeconds: number };
  config: Record<string, unknown>;
}

interface FeatureSet {
  features: Float32Array[];
  labels: Int32Array;
  paths: string[];
}

export async function trainClassifier(data: string | Dataset, opts: TrainOptions = {}): Promise<TrainResult> {
  const t0 = Date.now();
  const emit = opts.onEvent ?? (() => {});
  const seed = opts.seed ?? 0;
  const dataset = typeof data === 'string' ? loadDataset(data, { valFraction: opts.val, seed }) : data;
  const counts = classCounts(dataset);
  const warnings = datasetWarnings(counts);
  emit({ type: 'dataset', dataset, counts, warnings });
  for (const s of dataset.skipped) emit({ type: 'skip', file: s });

  let strategy = opts.strategy ?? 'head';
  if (strategy === 'auto') {
    const plan = await planTraining(dataset, { model: opts.model, modelPath: opts.modelPath, timeBudget: opts.timeBudget, trainLast: opts.trainLast, freeze: opts.freeze, replace: opts.replace });
    emit({ type: 'plan', plan });
    strategy = plan.choice;
    // Far from ImageNet: auto's partial rung uses new units on a mid-level cut (plan.recipe), unless blocks were given.
    if (strategy === 'partial' && plan.recipe) opts = { ...opts, trainLast: plan.recipe.trainLast, replace: plan.recipe.replace };
  }
  if (strategy === 'partial' || strategy === 'full') return finetuneClassifier(dataset, { ...opts, strategy }, emit, t0, counts, warnings);

  const backbone = await loadBackbone(opts.model ?? DEFAULT_MODEL_ID, { path: opts.modelPath });
  emit({ type: 'backbone', id: backbone.id, featureDim: backbone.featureDim });
  const ownStore = !opts.store;
  const store = opts.store ?? FeatureStore.open();
  let train: FeatureSet;
  let val: FeatureSet;
  const tExtract = Date.now();
  try {
    train = await extractLabelled(backbone, store, dataset.train, dataset.classes, 'train', emit, opts);
    val = await extractLabelled(backbone, store, dataset.val, dataset.classes, 'val', emit, opts);
  } finally {
    if (ownStore) store.close();
  }
  const extractSeconds = (Date.now() - tExtract) / 1000;
  for (let c = 0; c < dataset.classes.length; c++) {
    if (!train.labels.includes(c)) {
      await backbone.dispose();
      throw new TlError(`class "${dataset.classes[c]}" has no usable training image (all were skipped)`, 'Add readable photos to that class folder, or remove the folder.');
    }
  }

  const tTrain = Date.now();
  const K = dataset.classes.length;
  const standardizer = fitStandardizer(train.features);
  const Xtr = applyStandardizerAll(train.features, standardizer);
  const Xva = applyStandardizerAll(val.features, standardizer);
  const weightMode = opts.classWeights ?? 'auto';
  const trainCounts = counts.map((c) => c.train);
  const imbalanced = Math.max(...trainCounts) / Math.max(1, Math.min(...trainCounts)) >= 1.5;
  const sampleWeights = weightMode === 'balanced' || (weightMode === 'auto' && imbalanced) ? classWeights(train.labels, K) : undefined;
  const headSpec = opts.head ?? { kind: 'linear' };
  const history: HistoryPoint[] = [];
  let head: HeadWeights;
  let selection: L2Selection | undefined;
  let l2 = opts.l2;

  if (headSpec.kind === 'linear') {
    if (l2 === undefined) {
      const tSel = Date.now();
      const folds = Math.min(5, Math.min(...countsOf(train.labels, K)));
      if (folds >= 2) {
        selection = await selectL2(Xtr, train.labels, K, { seed, folds, sampleWeights });
        l2 = selection.best;
        emit({ type: 'select-l2', selection, seconds: (Date.now() - tSel) / 1000 });
      } else l2 = 1; // too few images per class to cross-validate: a strong, safe default
    }
    const fit = trainSoftmax(Xtr, train.labels, K, {
      l2,
      sampleWeights,
      onIteration: (info) => {
        const p = progressPoint(info, K, Xtr, train.labels, Xva, val.labels);
        history.push(p);
        emit({ type: 'progress', point: p });
      },
    });
    head = { kind: 'linear', mean: standardizer.mean, std: standardizer.std, layers: [{ W: fit.W, b: fit.b, inputs: fit.dim, outputs: K, activation: 'softmax' }] };
  } else {
    const mlp = trainMlpHead(Xtr, train.labels, K, {
      hidden: headSpec.hidden,
      dropout: headSpec.dropout,
      l2: l2 ?? 1e-4,
      epochs: opts.epochs ?? 100,
      seed,
      sampleWeights,
      validation: Xva.length ? { X: Xva, y: val.labels } : undefined,
      onEpoch: (e) => {
        const p: HistoryPoint = { step: e.epoch, trainLoss: e.trainLoss, trainAcc: e.trainAcc, valLoss: e.valLoss, valAcc: e.valAcc };
        history.push(p);
        emit({ type: 'progress', point: p, of: opts.epochs ?? 100 });
      },
    });
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
  const unknown = fitUnknownDetector(train.features, train.labels, K, val.features.length >= 20 ? val.features : undefined);
  const config = {
    data: dataset.root,
    split: dataset.splitSource,
    model: backbone.id,
    seed,
    head: headSpec,
    l2,
    l2SelectedBy: opts.l2 !== undefined ? 'user' : selection ? 'cv5-on-train' : 'default',
    classWeights: sampleWeights ? 'balanced' : 'none',
    trainImages: train.features.length,
    valImages: val.features.length,
    evaluatedOn: val.features.length ? 'val' : 'train (no validation images)',
  };
  const classifier = Classifier.fromParts(
    {
      backbone: { id: backbone.id, weightsHash: backbone.weightsHash, input: backbone.input, feature: backbone.entry.feature },
      labels: dataset.classes,
      head,
      unknown,
      metrics,
      config,
      ...newBundleStamp(),
    },
    backbone,
  );
  const totalSeconds = (Date.now() - t0) / 1000;
  emit({ type: 'done', metrics, seconds: totalSeconds });
  return { classifier, metrics, history, selection, dataset, counts, warnings, timings: { extractSeconds, trainSeconds, totalSeconds }, config };
}

function countsOf(labels: Int32Array, K: number): number[] {
  const c = new Array(K).fill(0);
  for (const y of labels) c[y]++;
  return c;
}


/** Loss/accuracy on train and val for the current L-BFGS iterate (cheap next to the fit itself). */
function progressPoint(
  info: { iteration: number; loss: number; W?: Float64Array | Float32Array; b?: Float64Array | Float32Array },
  K: number,
  Xtr: Float32Array[],
  ytr: Int32Array,
  Xva: Float32Array[],
  yva: Int32Array,
): HistoryPoint {
  const p: HistoryPoint = { step: info.iteration, trainLoss: info.loss, trainAcc: NaN };
  if (!info.W || !info.b) return p;
  const model = { numClasses: K, dim: Xtr[0].length, W: Float32Array.from(info.W), b: Float32Array.from(info.b) };
  const score = (X: Float32Array[], y: Int32Array) => {
    const probs = predictProbaBatch(model, X);
    let loss = 0;
    let ok = 0;
    probs.forEach((pr, i) => {
      loss -= Math.log(Math.max(1e-12, pr[y[i]]));
      let best = 0;
      for (let k = 1; k < K; k++) if (pr[k] > pr[best]) best = k;
      if (best === y[i]) ok++;
    });
    return { loss: loss / Math.max(1, X.length), acc: ok / Math.max(1, X.length) };
  };
  p.trainAcc = score(Xtr, ytr).acc;
  if (Xva.length) {
    const v = score(Xva, yva);
    p.valLoss = v.loss;
    p.valAcc = v.acc;
  }
  return p;
}
