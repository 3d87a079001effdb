// Fine-tuning the top of the int8 ONNX backbone: cut points, the float TF.js tail, and ORT runs that feed it.
export { buildTail, listCuts, type Tail, type TailOptions, type TailLayerInfo } from './convert.js';
export {
  blockStructure,
  cutOutputName,
  exposeCuts,
  type BlockStructure,
  type CutPoint,
  type CutKind,
} from './graph.js';
export { CutRunner, exposeCutOutputs, nchwToNhwc, type CutRun } from './cut-runner.js';
