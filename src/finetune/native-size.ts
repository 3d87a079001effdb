// Rung 3's default training resolution: the images' own size when it is below the backbone's, but not below
// MIN_TRAIN_SIZE. Trained from the input, a convolutional backbone runs at any size, and the cost grows with the pixel
// count: EuroSAT's 64 px photos upsampled to 224 cost 12x the compute for detail that is not there. Too small costs
// accuracy, though: the pretrained filters expect objects at ImageNet scale, and a 32x-downsampling backbone leaves a
// 2x2 map at 64 px (measured on EuroSAT, MobileNetV2's pretrained features: 87.6% CV accuracy at 64 px against 92.1%
// val at 224). `--size` overrides this.
import sharp from 'sharp';
import { readImageBytes } from '../data/image-file.js';

/** How many images' headers are read (evenly spaced over the list): headers only, milliseconds each. */
const SAMPLE = 32;

/** Smallest default training size: below it small images are upsampled (2x for EuroSAT's 64 px: 4x the pixels). */
export const MIN_TRAIN_SIZE = 128;

export interface PickedSize {
  size: number;
  /** One line for the user: what was picked and why. */
  why: string;
}

/**
 * The training size for a whole-network run: the median shorter side of a sample of the images, rounded down to a
 * multiple of 16 and raised to at least MIN_TRAIN_SIZE, when that is below `backboneSize`; undefined when the images
 * are at least as large (train at the backbone's size) or no header could be read.
 */
export async function pickNativeSize(paths: string[], backboneSize: number): Promise<PickedSize | undefined> {
  const step = Math.max(1, Math.floor(paths.length / SAMPLE));
  const sides: number[] = [];
  for (let i = 0; i < paths.length && sides.length < SAMPLE; i += step) {
    try {
      const m = await sharp(await readImageBytes(paths[i]), { limitInputPixels: false }).metadata();
      const o = m.autoOrient ?? m;
      if (o.width && o.height) sides.push(Math.min(o.width, o.height));
    } catch {
      // an unreadable file is reported where the images are decoded; it just does not vote here
    }
  }
  if (!sides.length) return undefined;
  sides.sort((a, b) => a - b);
  const median = sides[Math.floor(sides.length / 2)];
  const native = Math.max(32, Math.floor(median / 16) * 16);
  const size = Math.max(native, Math.min(MIN_TRAIN_SIZE, backboneSize));
  if (size >= backboneSize) return undefined;
  const what =
    size === native
      ? `the images' own size (median shorter side ${median} px of ${sides.length} sampled)`
      : `the images (median shorter side ${median} px of ${sides.length} sampled) upsampled to the ${MIN_TRAIN_SIZE} px floor (smaller loses the pretrained filters' scale)`;
  return {
    size,
    why: `training at ${size} px, ${what}, not the backbone's ${backboneSize} px: ${((backboneSize / size) ** 2).toFixed(1)}x fewer pixels per step; --size overrides`,
  };
}
