// The normalisations a model file cannot state itself (`tl models add model.onnx --preset NAME`): what its training
// framework fed it. The ImageNet presets centre-crop 87.5% of the resized photo (resize 256 -> crop 224), as the
// ImageNet evaluation of torchvision, timm, the ONNX Model Zoo, TF-slim and Keras does; the feature-extractor presets
// follow their model's published image processor (DINOv2: resize 256, crop 224; CLIP: resize 224, crop 224).
import type { InputSpec } from './types.js';
import { TlError } from '../util/errors.js';

export interface Preset {
  mean: InputSpec['mean'];
  std: InputSpec['std'];
  cropFraction: number;
  /** The input side the model was trained at, used when the graph leaves it open (DINOv2 exports take any size). */
  size?: number;
  /** Which models use it, for --help and the README. */
  doc: string;
}

export type PresetName = 'imagenet-torch' | 'imagenet-tf' | 'inception' | 'dinov2' | 'clip';

export const PRESETS: Record<PresetName, Preset> = {
  'imagenet-torch': {
    mean: [0.485, 0.456, 0.406],
    std: [0.229, 0.224, 0.225],
    cropFraction: 0.875,
    doc: 'torchvision, timm, ONNX Model Zoo (ResNet, MobileNetV2, ...): ImageNet mean/std on [0,1] pixels',
  },
  'imagenet-tf': {
    mean: [0, 0, 0],
    std: [1, 1, 1],
    cropFraction: 0.875,
    doc: 'TF Hub / TF-slim image modules converted with tf2onnx: pixels in [0,1]',
  },
  inception: {
    mean: [0.5, 0.5, 0.5],
    std: [0.5, 0.5, 0.5],
    cropFraction: 0.875,
    doc: 'Inception, Keras "tf" mode, MobileNet (TF), EfficientNet-Lite: pixels in [-1,1]',
  },
  // facebook/dinov2-* preprocessor_config.json: shortest edge 256 (bicubic), centre crop 224, ImageNet mean/std.
  dinov2: {
    mean: [0.485, 0.456, 0.406],
    std: [0.229, 0.224, 0.225],
    cropFraction: 224 / 256,
    size: 224,
    doc: 'DINOv2 (facebook/dinov2-*, onnx-community exports): 224 px, resize 256 + centre crop 224, ImageNet mean/std',
  },
  // openai/clip-vit-* preprocessor_config.json: shortest edge 224 (bicubic), centre crop 224, CLIP's own mean/std.
  clip: {
    mean: [0.48145466, 0.4578275, 0.40821073],
    std: [0.26862954, 0.26130258, 0.27577711],
    cropFraction: 1,
    size: 224,
    doc: "CLIP / MobileCLIP image encoders: 224 px, resize 224 + centre crop 224, CLIP's mean/std",
  },
};

export function presetNames(): PresetName[] {
  return Object.keys(PRESETS) as PresetName[];
}

export function findPreset(name: string): Preset {
  const p = (PRESETS as Record<string, Preset>)[name];
  if (!p)
    throw new TlError(
      `unknown preprocessing preset "${name}"`,
      `Use one of: ${presetNames().join(', ')} (or --mean and --std).`,
    );
  return p;
}
