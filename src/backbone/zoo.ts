// The built-in model zoo: ImageNet-pretrained backbones with their canonical URLs and the sha256 of every file.
import { readFileSync } from 'node:fs';
import { DETECT_FROM_GRAPH, type InputSpec, type ModelEntry, type ModelFile } from './types.js';
import { assetPath } from '../util/assets.js';

type FileList = Record<string, { name: string; size: number; sha256: string }[]>;
const fileList: FileList = JSON.parse(readFileSync(assetPath('zoo-files.json'), 'utf8'));

function files(folder: string, baseUrl: string): ModelFile[] {
  // A new entry has no list yet: scripts/gen-zoo-files.mjs writes it from this registry.
  return (fileList[folder] ?? []).map((f) => ({ ...f, url: baseUrl + encodeURIComponent(f.name) }));
}

const imagenetMeanStd: Pick<InputSpec, 'mean' | 'std'> = { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] };
const minusOneToOne: Pick<InputSpec, 'mean' | 'std'> = { mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] };
const zeroToOne: Pick<InputSpec, 'mean' | 'std'> = { mean: [0, 0, 0], std: [1, 1, 1] };

// Stronger networks for online users. Size and sha256 are the Git LFS pointer of each file in github.com/onnx/models
// (the bytes GitHub serves at the URL); the files were never downloaded on the offline build machine, so the feature
// tensor and head output are read from the graph on first load (runtimes/onnx/detect.ts) and the entry's dim is
// checked against what is found there.
const ONNX_ZOO_RESNET = 'https://github.com/onnx/models/raw/main/validated/vision/classification/resnet/model/';
// Files whose pointer is stored at their pre-2024 path (vision/..., before the move to validated/): pinned to that commit.
const onnxZooAt = (commit: string, dir: string) =>
  `https://github.com/onnx/models/raw/${commit}/vision/classification/${dir}/model/`;
const FROM_LFS_POINTER =
  'size and sha256 from the Git LFS pointer in github.com/onnx/models; not downloaded or run on the offline build machine';

function lfsFile(baseUrl: string, name: string, size: number, sha256: string): ModelFile[] {
  return [{ name, size, sha256, url: baseUrl + name }];
}

// The ONNX Model Zoo model cards' preprocessing for its ImageNet ResNets: resize 256, centre crop 224, mean/std.
const onnxZooImagenet: InputSpec = {
  size: 224,
  layout: 'NCHW',
  resize: 'cover',
  cropFraction: 0.875,
  mean: [0.485, 0.456, 0.406],
  std: [0.229, 0.224, 0.225],
};
const detectedHead = { output: DETECT_FROM_GRAPH, activation: 'logits', synsets: 'imagenet-synsets' } as const;

const ONLINE_ZOO: ModelEntry[] = [
  {
    id: 'resnet50-int8',
    title: 'ResNet-50 v1 224, int8 (ONNX Model Zoo resnet50-v1-12-int8, Intel Neural Compressor)',
    format: 'onnx',
    folder: 'resnet50_v1_12_int8_onnx',
    entry: 'resnet50-v1-12-int8.onnx',
    files: lfsFile(
      ONNX_ZOO_RESNET,
      'resnet50-v1-12-int8.onnx',
      25_816_052,
      'c234f30975989788b4405f25253275aae247ab6dbdd34aaa69ab0a59ff76f6d0',
    ),
    input: onnxZooImagenet,
    feature: { tensor: DETECT_FROM_GRAPH, dim: 2048, pool: 'none' },
    head: detectedHead,
    imagenetTop1: 0.7477,
    params: 25_557_032,
    license: 'Apache-2.0',
    source: 'github.com/onnx/models validated/vision/classification/resnet/model/resnet50-v1-12-int8.onnx (opset 12)',
    unverified: FROM_LFS_POINTER,
  },
  {
    id: 'resnet50',
    title: 'ResNet-50 v1 224, float (ONNX Model Zoo resnet50-v1-12)',
    format: 'onnx',
    folder: 'resnet50_v1_12_onnx',
    entry: 'resnet50-v1-12.onnx',
    files: lfsFile(
      onnxZooAt('652f4e4af7975c8e7a505c4b6e0f8ac72d8260ea', 'resnet'),
      'resnet50-v1-12.onnx',
      102_576_419,
      'ab65bdc02c5b3123eb3cdf6dac01742438517d8635d4f233913b2be1c70db3b6',
    ),
    input: onnxZooImagenet,
    feature: { tensor: DETECT_FROM_GRAPH, dim: 2048, pool: 'none' },
    head: detectedHead,
    imagenetTop1: 0.7497,
    params: 25_557_032,
    license: 'Apache-2.0',
    source:
      'github.com/onnx/models vision/classification/resnet/model/resnet50-v1-12.onnx (opset 12; now under validated/)',
    unverified: FROM_LFS_POINTER,
  },
  {
    id: 'mobilenet-v2-float',
    title: 'MobileNetV2 1.0 224, float (ONNX Model Zoo mobilenetv2-7, MXNet Gluon)',
    format: 'onnx',
    folder: 'mobilenetv2_7_onnx',
    entry: 'mobilenetv2-7.onnx',
    files: lfsFile(
      onnxZooAt('13fcb614fdedcc09864c0691c080ccf82ca3b85b', 'mobilenet'),
      'mobilenetv2-7.onnx',
      14_246_826,
      'c1c513582d56afceff8516c73804e484c81c6a830712ab6d682253f4a3cd042f',
    ),
    // Model card: [0,1] pixels normalised with ImageNet mean/std, centre-cropped 224 (the zoo's imagenet_preprocess.py: resize 256).
    input: onnxZooImagenet,
    feature: { tensor: DETECT_FROM_GRAPH, dim: 1280, pool: 'none' },
    head: detectedHead,
    imagenetTop1: 0.7094,
    params: 3_504_872,
    license: 'Apache-2.0',
    source: 'github.com/onnx/models vision/classification/mobilenet/model/mobilenetv2-7.onnx (opset 7)',
    unverified: FROM_LFS_POINTER,
  },
  {
    id: 'efficientnet-lite4',
    title: 'EfficientNet-Lite4 224, float (ONNX Model Zoo, TensorFlow via tf2onnx)',
    format: 'onnx',
    folder: 'efficientnet_lite4_onnx',
    entry: 'efficientnet-lite4.onnx',
    files: lfsFile(
      onnxZooAt('1455c7548852a276312aad28413d60558ac2dcfa', 'efficientnet-lite4'),
      'efficientnet-lite4.onnx',
      51_946_641,
      'd111689907c06eea7c82e4833ddef758da6453b9d4cf60b7e99ca05c7cbd9c12',
    ),
    // Model card: NHWC RGB, (p - 127) / 128, resize so that 224 is 87.5% of the shorter side, centre crop 224; batch fixed at 1.
    input: {
      size: 224,
      layout: 'NHWC',
      resize: 'cover',
      cropFraction: 0.875,
      mean: [127 / 255, 127 / 255, 127 / 255],
      std: [128 / 255, 128 / 255, 128 / 255],
    },
    feature: { tensor: DETECT_FROM_GRAPH, dim: 1280, pool: 'none' },
    head: { ...detectedHead, activation: 'probabilities' },
    imagenetTop1: 0.804,
    params: NaN, // not stated on the model card
    license: 'MIT',
    source:
      'github.com/onnx/models vision/classification/efficientnet-lite4/model/efficientnet-lite4.onnx (opset 11; published as efficientnet-lite4-11.onnx)',
    unverified: FROM_LFS_POINTER,
  },
  {
    id: 'resnet50-qdq',
    title: 'ResNet-50 v1 224, int8 QDQ (ONNX Model Zoo resnet50-v1-12-qdq)',
    format: 'onnx',
    folder: 'resnet50_v1_12_qdq_onnx',
    entry: 'resnet50-v1-12-qdq.onnx',
    files: lfsFile(
      ONNX_ZOO_RESNET,
      'resnet50-v1-12-qdq.onnx',
      25_753_167,
      'e6429d274805654c79ba68dc886c1efd4eff95393e747c35d3fdab579febd8a0',
    ),
    input: onnxZooImagenet,
    feature: { tensor: DETECT_FROM_GRAPH, dim: 2048, pool: 'none' },
    head: detectedHead,
    imagenetTop1: 0.7443,
    params: 25_557_032,
    license: 'Apache-2.0',
    source: 'github.com/onnx/models validated/vision/classification/resnet/model/resnet50-v1-12-qdq.onnx (opset 12)',
    unverified: FROM_LFS_POINTER,
  },
  {
    id: 'resnet152',
    title: 'ResNet-152 v1 224, float (ONNX Model Zoo resnet152-v1-7, MXNet Gluon)',
    format: 'onnx',
    folder: 'resnet152_v1_7_onnx',
    entry: 'resnet152-v1-7.onnx',
    files: lfsFile(
      ONNX_ZOO_RESNET,
      'resnet152-v1-7.onnx',
      241_816_206,
      'b0ec92437bf8c9d0739bf9bafdea9638e13f9e3c1e2fb766ad546cc182fd3f6d',
    ),
    input: onnxZooImagenet,
    feature: { tensor: DETECT_FROM_GRAPH, dim: 2048, pool: 'none' },
    head: detectedHead,
    imagenetTop1: 0.7711,
    params: 60_192_808,
    license: 'Apache-2.0',
    source: 'github.com/onnx/models validated/vision/classification/resnet/model/resnet152-v1-7.onnx (opset 7)',
    unverified: FROM_LFS_POINTER,
  },
  {
    id: 'resnet18-v2',
    title: 'ResNet-18 v2 224, float (ONNX Model Zoo resnet18-v2-7, MXNet Gluon)',
    format: 'onnx',
    folder: 'resnet18_v2_7_onnx',
    entry: 'resnet18-v2-7.onnx',
    files: lfsFile(
      ONNX_ZOO_RESNET,
      'resnet18-v2-7.onnx',
      46_806_737,
      '3b4d048057854022232aa20bf68262e31718ab7119a17f920b8a2dc1433f824b',
    ),
    input: onnxZooImagenet,
    feature: { tensor: DETECT_FROM_GRAPH, dim: 512, pool: 'none' },
    head: detectedHead,
    imagenetTop1: 0.697,
    params: 11_689_512,
    license: 'Apache-2.0',
    source: 'github.com/onnx/models validated/vision/classification/resnet/model/resnet18-v2-7.onnx (opset 7)',
    unverified: FROM_LFS_POINTER,
  },
];

export const ZOO: ModelEntry[] = [
  {
    id: 'mobilenet-v2',
    title: 'MobileNetV2 1.0 224, int8 (ONNX Model Zoo mobilenetv2-12-int8)',
    format: 'onnx',
    folder: 'mobilenetv2_int8_onnx',
    entry: 'mobilenetv2-12-int8.onnx',
    files: files(
      'mobilenetv2_int8_onnx',
      'https://github.com/onnx/models/raw/main/validated/vision/classification/mobilenet/model/',
    ),
    // ONNX Model Zoo preprocessing for its ImageNet models: resize 256, centre crop 224, ImageNet mean/std.
    input: { size: 224, layout: 'NCHW', resize: 'cover', cropFraction: 0.875, ...imagenetMeanStd },
    // The flattened, pooled int8 tensor that feeds the classifier's QLinearMatMul; the graph edit dequantizes it.
    feature: { tensor: '472_quantized', dim: 1280, pool: 'none' },
    head: { output: 'output', activation: 'logits', synsets: 'imagenet-synsets' },
    imagenetTop1: 0.683,
    params: 3_524_064,
    license: 'Apache-2.0',
    source: 'github.com/onnx/models validated/vision/classification/mobilenet (onnx.quantize 0.1.0, opset 12)',
  },
  {
    id: 'mobilenet-v1-0.75',
    title: 'MobileNetV1 0.75 224 (Keras Applications, tfjs-models layers conversion)',
    format: 'tfjs-layers',
    folder: 'mobilenet_v1_075_tfjs_layers',
    entry: 'model.json',
    files: files(
      'mobilenet_v1_075_tfjs_layers',
      'https://storage.googleapis.com/tfjs-models/tfjs/mobilenet_v1_0.75_224/',
    ),
    input: { size: 224, layout: 'NHWC', resize: 'cover', ...minusOneToOne },
    feature: { tensor: 'global_average_pooling2d_1', dim: 768, pool: 'none' },
    head: { output: 'reshape_2', activation: 'probabilities', synsets: 'imagenet-synsets' },
    imagenetTop1: 0.684,
    params: 2_601_976,
    license: 'Apache-2.0 (TF-slim weights via Keras, MIT; hosted by tfjs-models)',
    source: 'storage.googleapis.com/tfjs-models/tfjs/mobilenet_v1_0.75_224',
  },
  {
    id: 'mobilenet-v1-0.25',
    title: 'MobileNetV1 0.25 224 (Keras Applications, tfjs-models layers conversion)',
    format: 'tfjs-layers',
    folder: 'mobilenet_v1_025_tfjs_layers',
    entry: 'model.json',
    files: files(
      'mobilenet_v1_025_tfjs_layers',
      'https://storage.googleapis.com/tfjs-models/tfjs/mobilenet_v1_0.25_224/',
    ),
    input: { size: 224, layout: 'NHWC', resize: 'cover', ...minusOneToOne },
    feature: { tensor: 'global_average_pooling2d_1', dim: 256, pool: 'none' },
    head: { output: 'reshape_2', activation: 'probabilities', synsets: 'imagenet-synsets' },
    imagenetTop1: 0.506,
    params: 475_544,
    license: 'Apache-2.0 (TF-slim weights via Keras, MIT; hosted by tfjs-models)',
    source: 'storage.googleapis.com/tfjs-models/tfjs/mobilenet_v1_0.25_224',
  },
  {
    id: 'darknet-tiny',
    title: 'Tiny Darknet 224 (pjreddie, ml5 TF.js layers conversion)',
    format: 'tfjs-layers',
    folder: 'darknet_tiny_tfjs_layers',
    entry: 'model.json',
    files: files(
      'darknet_tiny_tfjs_layers',
      'https://raw.githubusercontent.com/ml5js/ml5-data-and-models/0612a3e7c51cbffdc5db701dff49d16d1ac26fa8/models/darknetclassifier/darknettiny/',
    ),
    input: { size: 224, layout: 'NHWC', resize: 'cover', ...zeroToOne },
    // The 128-channel map before the final 1x1 classifier conv, average-pooled: as good as the 512-d one, 4x smaller.
    feature: { tensor: 'leaky_re_lu_15', dim: 128, pool: 'gap' },
    head: { output: 'global_average_pooling2d_1', activation: 'logits', synsets: 'darknet-synsets' },
    imagenetTop1: 0.587,
    params: 1_046_488,
    license: 'MIT (ml5-data-and-models); Darknet weights public domain',
    source: 'github.com/ml5js/ml5-data-and-models models/darknetclassifier/darknettiny',
  },
  ...ONLINE_ZOO,
];

/** Best on the photo sets and ~10x faster than the runner-up (MobileNetV1 0.75); see docs/backbones.md's accuracy table. */
export const DEFAULT_MODEL_ID = 'mobilenet-v2';
