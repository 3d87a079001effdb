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
    goodFor: 'a stronger CNN than MobileNetV2 on everyday photos, at 7x the extraction time (int8)',
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
    goodFor: 'the reference ImageNet CNN, float; everyday photos',
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
    goodFor: 'MobileNetV2 without int8 rounding: the float original of the default',
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
    goodFor: 'the best ImageNet top-1 of the CNNs here; photos (batch fixed at 1: slower)',
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
    goodFor: 'ResNet-50 int8 in the QDQ format (other runtimes)',
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
    goodFor: 'a deeper ResNet: a little better than ResNet-50, 2.3x slower',
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
    goodFor: 'a small float ResNet: quick, weaker than MobileNetV2 on photos',
    params: 11_689_512,
    license: 'Apache-2.0',
    source: 'github.com/onnx/models validated/vision/classification/resnet/model/resnet18-v2-7.onnx (opset 7)',
    unverified: FROM_LFS_POINTER,
  },
];

// Feature extractors of this decade (no ImageNet classifier: self-supervised and image-text encoders), exported to
// ONNX for Transformers.js. URL pinned to a repository revision; size and sha256 are the Git LFS object of that file
// (its oid and size on Hugging Face), as recorded by the public projects named in each entry's `unverified`, which
// pin and check the same bytes; never downloaded on the offline build machine. Detection picks the feature output
// (image_embeds, or last_hidden_state pooled by the entry's rule) on first load, and the entry's dim is checked.
const hf = (repo: string, revision: string, path: string) =>
  `https://huggingface.co/${repo}/resolve/${revision}/${path}`;
const noHead = { output: '', activation: 'logits', synsets: 'imagenet-synsets' } as const;
const DINOV2_PAPER =
  'Oquab et al., DINOv2, arXiv 2304.07193: Table 4 (ImageNet linear), Table 8 (linear on other sets)';
// facebook/dinov2-* preprocessor_config.json: shortest edge 256 (bicubic), centre crop 224, ImageNet mean/std.
const dinov2Input: InputSpec = {
  size: 224,
  layout: 'NCHW',
  resize: 'cover',
  cropFraction: 224 / 256,
  mean: [0.485, 0.456, 0.406],
  std: [0.229, 0.224, 0.225],
};
const DINOV2_LICENSE = 'Apache-2.0 (facebook/dinov2-* model cards; Meta relicensed DINOv2 from CC-BY-NC in 2023)';

const FEATURE_ZOO: ModelEntry[] = [
  {
    id: 'dinov2-small',
    title: 'DINOv2 ViT-S/14, float (Meta, self-supervised; onnx-community/dinov2-small)',
    format: 'onnx',
    folder: 'dinov2_small_onnx',
    entry: 'model.onnx',
    files: [
      {
        name: 'model.onnx',
        size: 88_532_934,
        sha256: 'f22797eabf810a75e41de68d378541ebea372122b25c4ce3ef25ff618250c20a',
        url: hf('onnx-community/dinov2-small', '8b1f705a3a7f6f062f6bdd21986c1583d3ef105d', 'onnx/model.onnx'),
      },
    ],
    input: dinov2Input,
    // The paper's linear evaluation: class token concatenated with the mean of the patch tokens (2 x 384).
    feature: { tensor: DETECT_FROM_GRAPH, dim: 768, pool: 'cls+mean' },
    head: noHead,
    imagenetTop1: 0.811,
    imagenetMetric: 'linear',
    imagenetSource: DINOV2_PAPER,
    linearProbes: {
      source: DINOV2_PAPER,
      results: [
        { dataset: 'Food-101', top1: 0.891 },
        { dataset: 'Oxford Pets', top1: 0.951 },
        { dataset: 'Flowers-102', top1: 0.996 },
        { dataset: 'Stanford Cars', top1: 0.816 },
      ],
    },
    goodFor:
      'fine-grained and far-from-ImageNet sets (food, pets, flowers, cars): the strongest frozen features per MB',
    params: 21e6, // published, rounded
    license: DINOV2_LICENSE,
    source: 'huggingface.co/onnx-community/dinov2-small onnx/model.onnx (from facebook/dinov2-small)',
    unverified:
      'size and sha256 of the LFS object at revision 8b1f705a, as pinned and checked by public projects (e.g. several GitHub repositories downloading this exact URL); not downloaded or run on the offline build machine',
  },
  {
    id: 'dinov2-base',
    title: 'DINOv2 ViT-B/14, float (Meta, self-supervised; onnx-community/dinov2-base)',
    format: 'onnx',
    folder: 'dinov2_base_onnx',
    entry: 'model.onnx',
    files: [
      {
        name: 'model.onnx',
        size: 346_627_111,
        sha256: '320d1012a6fc65b101fc85ca30ee7a47b2e4f6a2e8bd78fb9d7036def0e30cb0',
        url: hf('onnx-community/dinov2-base', '31ef06cac16d5d301c5930d147002a058c85a5e4', 'onnx/model.onnx'),
      },
    ],
    input: dinov2Input,
    feature: { tensor: DETECT_FROM_GRAPH, dim: 1536, pool: 'cls+mean' },
    head: noHead,
    imagenetTop1: 0.845,
    imagenetMetric: 'linear',
    imagenetSource: DINOV2_PAPER,
    linearProbes: { source: DINOV2_PAPER, results: [{ dataset: 'Food-101', top1: 0.928 }] },
    goodFor: 'the same as dinov2-small, a few points higher, at 4x the download and about 4x the extraction time',
    params: 86e6, // published, rounded
    license: DINOV2_LICENSE,
    source: 'huggingface.co/onnx-community/dinov2-base onnx/model.onnx (from facebook/dinov2-base)',
    unverified:
      'size and sha256 of the LFS object at revision 31ef06ca, as pinned and checked by public projects downloading this exact URL; not downloaded or run on the offline build machine',
  },
  {
    id: 'clip-vit-b32',
    title: 'CLIP ViT-B/32 image encoder, float (OpenAI; Xenova/clip-vit-base-patch32 vision_model)',
    format: 'onnx',
    folder: 'clip_vit_b32_vision_onnx',
    entry: 'vision_model.onnx',
    files: [
      {
        name: 'vision_model.onnx',
        size: 351_685_709,
        sha256: 'fd6e1402a588279d1723c7534d4bcba5bc0b14b47dfab0e46f8c47b8270d7d40',
        url: hf('Xenova/clip-vit-base-patch32', 'd15189d7028b43f1d3e65039190477f6af591c2a', 'onnx/vision_model.onnx'),
      },
    ],
    // openai/clip-vit-base-patch32 preprocessor_config.json: shortest edge 224 (bicubic), centre crop 224, CLIP mean/std.
    input: {
      size: 224,
      layout: 'NCHW',
      resize: 'cover',
      cropFraction: 1,
      mean: [0.48145466, 0.4578275, 0.40821073],
      std: [0.26862954, 0.26130258, 0.27577711],
    },
    // The projected image embedding (image_embeds, 512-d): what CLIP's linear probes and zero-shot use.
    feature: { tensor: DETECT_FROM_GRAPH, dim: 512, pool: 'none' },
    head: noHead,
    imagenetTop1: 0.761,
    imagenetMetric: 'linear',
    imagenetSource: 'Radford et al., CLIP, arXiv 2103.00020, Table 10 (linear probe, ViT-B/32)',
    goodFor: 'photos of everyday objects and scenes, text-like concepts; weaker than DINOv2 on fine-grained sets',
    params: 88e6, // the image tower, published, rounded
    license: 'MIT (openai/CLIP)',
    source: 'huggingface.co/Xenova/clip-vit-base-patch32 onnx/vision_model.onnx (from openai/clip-vit-base-patch32)',
    unverified:
      'size and sha256 of the LFS object at revision d15189d7, as pinned and checked by public projects downloading this exact URL; not downloaded or run on the offline build machine',
  },
  {
    id: 'mobileclip-s0',
    title: 'MobileCLIP-S0 image encoder, float (Apple; Xenova/mobileclip_s0 vision_model)',
    format: 'onnx',
    folder: 'mobileclip_s0_vision_onnx',
    entry: 'vision_model.onnx',
    files: [
      {
        name: 'vision_model.onnx',
        size: 45_543_630,
        sha256: '17d3c037b1d488c10c50e09f6009ea5a198caef4e0e8f4ea5617b7cb2d067ac0',
        url: hf('Xenova/mobileclip_s0', '757d59c9c6870a76a4b0306f05f5061bca15c39f', 'onnx/vision_model.onnx'),
      },
    ],
    // Xenova/mobileclip_s0 preprocessor_config.json: 256 px, pixels rescaled to [0,1], no mean/std.
    input: { size: 256, layout: 'NCHW', resize: 'cover', cropFraction: 1, ...zeroToOne },
    feature: { tensor: DETECT_FROM_GRAPH, dim: 512, pool: 'none' },
    head: noHead,
    imagenetTop1: 0.678,
    imagenetMetric: 'zero-shot',
    imagenetSource: 'Vasu et al., MobileCLIP, arXiv 2311.17049 (ImageNet zero-shot, MobileCLIP-S0)',
    goodFor: 'a small convolutional image-text encoder: CLIP-like features at a mobile cost (46 MB)',
    params: 11.4e6, // the image tower, published
    license: 'apple-amlr (Apple ML Research Model licence: research use only)',
    source: 'huggingface.co/Xenova/mobileclip_s0 onnx/vision_model.onnx (from apple/MobileCLIP-S0, arXiv 2311.17049)',
    unverified:
      'size and sha256 of the LFS object at revision 757d59c9, as pinned and checked by public projects downloading this exact URL; not downloaded or run on the offline build machine',
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
    goodFor: 'everyday photos near ImageNet; the fastest good default, fine-tunable (rungs 2-3)',
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
    goodFor: 'TF.js backbone: runs in the browser and exports to TF.js; fine-tunable',
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
    goodFor: 'the smallest model (2 MB): quick experiments, weak features',
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
    goodFor: 'a tiny TF.js CNN, 128-d features: very small classifiers',
    params: 1_046_488,
    license: 'MIT (ml5-data-and-models); Darknet weights public domain',
    source: 'github.com/ml5js/ml5-data-and-models models/darknetclassifier/darknettiny',
  },
  ...ONLINE_ZOO,
  ...FEATURE_ZOO,
];

/** Best on the photo sets and ~10x faster than the runner-up (MobileNetV1 0.75); see docs/backbones.md's accuracy table. */
export const DEFAULT_MODEL_ID = 'mobilenet-v2';
