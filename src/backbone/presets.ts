// The normalisations a model file cannot state itself (`tl models add model.onnx --preset NAME`): what its training
// framework fed it. Every preset centre-crops 87.5% of the resized photo (resize 256 -> crop 224), as the ImageNet
// evaluation of torchvision, timm, the ONNX Model Zoo, TF-slim and Keras does.
import type { InputSpec } from './types.js';
import { TlError } from '../util/errors.js';

export interface Preset {
  mean: InputSpec['mean'];
  std: InputSpec['std'];
  cropFraction: number;
  /** Which models use it, for --help and the README. */
  doc: string;
}

export type PresetName = 'imagenet-torch' | 'imagenet-tf' | 'inception';

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
