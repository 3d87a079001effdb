// The preprocessing rule of src/data/preprocess-rule.ts, spelled out for metadata.json: enough for someone without
// the toolkit to feed the exported model exactly what `tl predict` feeds it.
import type { InputSpec } from '../backbone/types.js';
import { resizeTarget, RESIZE_KERNEL } from '../data/preprocess-rule.js';

export interface DocumentedPreprocessing {
  resizeTo: number;
  resizeKernel: string;
  crop: { left: string; top: string };
  preprocessing: string[];
}

export function documentedPreprocessing(spec: InputSpec, layout: 'NCHW' | 'NHWC'): DocumentedPreprocessing {
  const s = spec.size;
  const t = resizeTarget(spec);
  const resizeStep =
    spec.resize === 'cover'
      ? `resize with the ${RESIZE_KERNEL} kernel to resizedWidth x resizedHeight: the shorter side becomes ${t}, the longer round(longer * ${t} / shorter) (integer product, then divide, round half up)`
      : `resize with the ${RESIZE_KERNEL} kernel to ${t} x ${t} (aspect ratio not kept): resizedWidth = resizedHeight = ${t}`;
  return {
    resizeTo: t,
    resizeKernel: RESIZE_KERNEL,
    crop: { left: `floor((resizedWidth - ${s}) / 2)`, top: `floor((resizedHeight - ${s}) / 2)` },
    preprocessing: [
      'decode the image and apply its EXIF orientation',
      'convert to 8-bit sRGB (grayscale repeated to R, G and B) and composite any transparency over white (255, 255, 255)',
      resizeStep,
      `crop ${s} x ${s} at left = floor((resizedWidth - ${s}) / 2), top = floor((resizedHeight - ${s}) / 2)`,
      `per RGB channel c: x = (pixel / 255 - mean[c]) / std[c], float32, layout ${layout}`,
    ],
  };
}
