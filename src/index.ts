// The library API. The `tl` CLI is built on exactly these functions.
export { env } from './env.js';
export { TlError } from './util/errors.js';

// Backbones
export type { Backbone, ModelEntry, InputSpec, FeatureSpec, HeadSpec as BackboneHeadSpec } from './backbone/types.js';
export { ZOO, DEFAULT_MODEL_ID } from './backbone/zoo.js';
export { listModels, findModel, registerModel, unregisterModel, type CustomModel } from './backbone/registry.js';
export { loadBackbone, weightsHash } from './backbone/load.js';
export { resolveModel } from './backbone/resolve.js';
export { classifyImagenet, type ClassifiedFile, type ImagenetPrediction } from './backbone/classify.js';
export { describeLayers, type LayerInfo } from './backbone/layers.js';

// Data
export { preprocess, decodeToRgb, rgbToTensor } from './data/image.js';
export { listImages, expandInputs, type SkippedFile } from './data/files.js';
export { loadDataset, classCounts, type Dataset, type LabeledImage } from './data/dataset.js';
export { ensureDemoDataset } from './data/demo-dataset.js';

// Feature store
export { FeatureStore, modelKeyFor } from './features/store.js';
export { extractFeatures, type ExtractOptions, type ExtractProgress, type ExtractResult } from './features/extract.js';

// Training, evaluation, the classifier
export { trainClassifier, type TrainOptions, type TrainResult, type TrainEvent, type HistoryPoint } from './classifier/train.js';
export { Classifier, type Prediction, type FilePrediction } from './classifier/classifier.js';
export { evaluate, type Metrics } from './eval/metrics.js';
export { renderHtmlReport } from './eval/report.js';

// Export (ONNX / TF.js deployable models)
export { exportClassifier, readExportMetadata, inputSpecOf, type ExportOptions, type ExportResult, type ExportMetadata, type ExportFormat } from './export/export.js';
export { loadExport, checkExport, type ExportedModel, type ExportCheck } from './export/run-export.js';
export { checkOnnxModel } from './export/onnx-check.js';
export type { WeightQuantization } from './export/onnx-head.js';

// The local server (`tl serve`): web app + HTTP prediction and project API
export { startServer, createServer, type ServeOptions, type TlServer } from './serve/server.js';
export { MicroBatcher, type BatcherOptions, type BatchedResult } from './serve/batcher.js';

// Rungs 2 and 3: fine-tuning the last blocks (or all) on activations cached at a cut
export { planTraining, type Plan, type RungEstimate, PARTIAL_MIN_PER_CLASS } from './finetune/plan.js';
export { loadNetwork, resolveFreeze, type Network, type Unit, type TailSnapshot } from './finetune/network.js';
export { encodeF16, decodeF16 } from './finetune/f16.js';
