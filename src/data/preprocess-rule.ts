// The one resize + crop rule, as plain numbers: src/data/image.ts applies it with sharp, an export's metadata.json
// states it in words, and examples/browser/preprocess.js repeats it for a canvas. Kept free of sharp so the feature
// store can put its version in cache keys without loading an image library.
import type { InputSpec } from './input-spec.js';

/**
 * Bump when the pixels a photo becomes change (the crop offsets, the kernel, the colour path): it is part of every
 * feature-cache key, so features computed under an older rule are never reused. 2 = explicit resize of both sides
 * + floor centre offsets (1 was sharp's `cover`, whose offset rounded the other way on odd margins).
 */
export const PREPROCESS_RULE_VERSION = 2;

/** libvips/sharp resampling kernel of the resize (sharp's default). */
export const RESIZE_KERNEL = 'lanczos3';

export interface ResizeAndCrop {
  /** Size of the image after the resize, before the crop. */
  width: number;
  height: number;
  /** Top-left corner of the size x size crop in the resized image. */
  left: number;
  top: number;
}

/** round(size / cropFraction): the shorter side after a 'cover' resize (256 for 224 / 0.875), the side after 'fill'. */
export function resizeTarget(spec: Pick<InputSpec, 'size' | 'cropFraction'>): number {
  return Math.round(spec.size / (spec.cropFraction ?? 1));
}

/**
 * For a photo of width x height (after its EXIF orientation): 'cover' scales the shorter side to resizeTarget and the
 * longer to round(longer * target / shorter); 'fill' stretches to target x target. The crop is then taken at
 * floor((resized - size) / 2) on each axis.
 */
export function resizeAndCrop(
  width: number,
  height: number,
  spec: Pick<InputSpec, 'size' | 'resize' | 'cropFraction'>,
): ResizeAndCrop {
  const target = resizeTarget(spec);
  let w = target;
  let h = target;
  if (spec.resize === 'cover') {
    const shorter = Math.min(width, height);
    // One integer product, one division, one rounding: the same number in every language that follows the rule.
    w = Math.round((width * target) / shorter);
    h = Math.round((height * target) / shorter);
  }
  return { width: w, height: h, left: Math.floor((w - spec.size) / 2), top: Math.floor((h - spec.size) / 2) };
}
