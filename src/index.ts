// The library API: what docs/library.md documents, no more. The `tl` CLI is built on the same modules.
export { env } from './util/env.js';
export { TlError } from './util/errors.js';
export { TrainingInterrupted } from './training/interrupted.js';

// Train (every rung) and use a classifier
export {
  trainClassifier,
  DEFAULT_STRATEGY,
  type TrainOptions,
  type HeadTrainOptions,
  type FinetuneTrainOptions,
  type AutoTrainOptions,
  type CommonTrainOptions,
  type TrainResult,
  type TrainEvent,
  type HistoryPoint,
  type HeadSpec,
  type Strategy,
  type TrainConfig,
} from './training/train.js';
export { Classifier, type Prediction, type FilePrediction } from './classifier/classifier.js';
export { planTraining, type Plan, type RungEstimate } from './plan/plan.js';
export { planFused, type FusedPlan } from './plan/fused.js';
export { evaluate, type Metrics } from './eval/metrics.js';

// Backbones
export type { Backbone, PretrainedBackbone, ModelEntry, InputSpec, FeatureSpec } from './backbone/types.js';
export { listModels, findModel, registerModel, unregisterModel, type CustomModel } from './backbone/registry.js';
export { loadBackbone } from './backbone/load.js';
export { classifyImagenet, type ClassifiedFile, type ImagenetPrediction } from './backbone/classify.js';

// Data and the feature cache
export { preprocess } from './data/image.js';
export { loadDataset, type Dataset, type LabeledImage } from './data/dataset.js';
export { FeatureStore } from './features/store.js';
export { extractFeatures, type ExtractOptions, type ExtractProgress, type ExtractResult } from './features/extract.js';

// Export (ONNX / TF.js deployable models) and the local server (`tl serve`)
export { exportClassifier, type ExportOptions, type ExportResult, type ExportFormat } from './export/export.js';
export { loadExport, type ExportedModel } from './export/run-export.js';
export { startServer, type ServeOptions, type TlServer } from './serve/server.js';
