// Data augmentation for fine-tuning (--augment): random resized crop (area 0.6-1, aspect 3/4-4/3), horizontal flip
// (p = 0.5) and colour jitter (brightness and contrast each x0.9-1.1), applied in JS to the preprocessed image
// (size x size, already normalized) — so it composes with the one preprocessing function and its cache keys. The crop
// is taken from the centre-cropped image the backbone would see, not from the original photo (cheaper: no second
// decode; the cost is that a crop never reaches outside the centre crop). Every draw is seeded by
// (--seed, copy index, the image's pixels): the same image gets the same augmentation in any batch or order.
//
// Where the augmented image goes, and what it costs (N images, E epochs, K copies):
// - full (freeze 0): the cached "activation" IS the preprocessed image, so each epoch augments the cached images anew
//   (fresh draws every epoch, copy index = epoch). No extra disk, no extra decode: the cheap case.
// - partial with --augment-copies K: K augmented copies of each training image are run through the frozen part once
//   and cached in the feature store under their own key (the cut + "aug seed S copy k"); epoch e trains on copy
//   (e-1) mod K. Disk: K x the cut activation per image (float16; e.g. MobileNetV2 last-block cut 7x7x320 x 2 B =
//   31 KB, so K = 4 → 125 KB per image). Time: K x one frozen forward per image, once — a second run computes 0.
// - partial with --augment but no --augment-copies: each epoch decodes every training image and runs the frozen part
//   again on a fresh augmentation (in-memory, nothing cached): E x (decode + frozen forward) per image, every run. The
//   most diverse augmentation, and by far the slowest (the frozen forward dominates rung 2's cost).
// Validation images are never augmented.
import type { InputSpec, InputTensorData } from '../backbone/types.js';
import { Rng } from '../util/random.js';
import type { CutBackbone } from './network.js';

export interface AugmentSpec {
  seed: number;
  /** Copy index (cached copies) or epoch (fresh draws). */
  copy: number;
}

export const AUGMENT_VERSION = 'rrc0.6-1,flip,bc0.1,v1';

/** A seed from (seed, copy) and a cheap fingerprint of the image's values. */
export function augmentSeed(x: Float32Array, seed: number, copy: number): number {
  let h = 2166136261 ^ seed;
  h = Math.imul(h ^ copy, 16777619);
  const u = new Uint32Array(x.buffer, x.byteOffset, x.length);
  const step = Math.max(1, Math.floor(x.length / 4096));
  for (let i = 0; i < u.length; i += step) h = Math.imul(h ^ u[i], 16777619);
  return h >>> 0;
}

/**
 * Augment one preprocessed image (size x size x 3 in `layout`, normalized with the spec's mean/std); returns a new
 * array of the same layout.
 */
export function augmentImage(
  x: Float32Array,
  spec: Pick<InputSpec, 'mean' | 'std'>,
  size: number,
  layout: 'NCHW' | 'NHWC',
  a: AugmentSpec,
): Float32Array {
  const s = size;
  const rng = new Rng(augmentSeed(x, a.seed, a.copy));
  const area = 0.6 + 0.4 * rng.next();
  const logR = Math.log(3 / 4) + (Math.log(4 / 3) - Math.log(3 / 4)) * rng.next();
  const r = Math.exp(logR);
  const cw = Math.min(s, s * Math.sqrt(area * r));
  const ch = Math.min(s, s * Math.sqrt(area / r));
  const x0 = (s - cw) * rng.next();
  const y0 = (s - ch) * rng.next();
  const flip = rng.next() < 0.5;
  const bright = 0.9 + 0.2 * rng.next();
  const contrast = 0.9 + 0.2 * rng.next();
  const hw = s * s;
  const at = layout === 'NHWC' ? (p: number, c: number) => p * 3 + c : (p: number, c: number) => c * hw + p;
  // Pixel values in [0, 1] (undo the normalization), bilinear crop-resize + flip, jitter, re-normalize.
  const out = new Float32Array(x.length);
  const px = new Float32Array(hw * 3);
  let gray = 0;
  for (let i = 0; i < s; i++) {
    const sy = Math.min(s - 1, Math.max(0, y0 + ((i + 0.5) * ch) / s - 0.5));
    const iy = Math.min(s - 2, Math.floor(sy));
    const fy = sy - iy;
    for (let j = 0; j < s; j++) {
      const jj = flip ? s - 1 - j : j;
      const sx = Math.min(s - 1, Math.max(0, x0 + ((jj + 0.5) * cw) / s - 0.5));
      const ix = Math.min(s - 2, Math.floor(sx));
      const fx = sx - ix;
      const p00 = iy * s + ix,
        p01 = p00 + 1,
        p10 = p00 + s,
        p11 = p10 + 1;
      for (let c = 0; c < 3; c++) {
        const v =
          (1 - fy) * ((1 - fx) * x[at(p00, c)] + fx * x[at(p01, c)]) +
          fy * ((1 - fx) * x[at(p10, c)] + fx * x[at(p11, c)]);
        const p = v * spec.std[c] + spec.mean[c];
        px[(i * s + j) * 3 + c] = p;
        gray += p;
      }
    }
  }
  gray /= hw * 3;
  for (let p = 0; p < hw; p++) {
    for (let c = 0; c < 3; c++) {
      let v = px[p * 3 + c] * bright;
      v = (v - gray * bright) * contrast + gray * bright;
      v = Math.min(1, Math.max(0, v));
      out[at(p, c)] = (v - spec.mean[c]) / spec.std[c];
    }
  }
  return out;
}

/**
 * The frozen part on augmented inputs: its own cache key (the cut + augmentation recipe, seed and copy), so augmented
 * copies sit in the feature store next to the plain activations without ever being mistaken for them.
 */
export function augmentedCut(frozen: CutBackbone, a: AugmentSpec): CutBackbone {
  const input = frozen.input;
  return {
    ...frozen,
    vectors: {
      ...frozen.vectors,
      source: `${frozen.vectors.source}#aug(${AUGMENT_VERSION};seed=${a.seed};copy=${a.copy})`,
    },
    embed: (batch: InputTensorData[]) =>
      frozen.embed(batch.map((x) => augmentImage(x, input, input.size, input.layout, a))),
    // The wrapped frozen part is disposed by its owner.
    dispose: async () => {},
  };
}
