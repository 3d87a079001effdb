// The one preprocessing function used by embedding, training and prediction alike, so they can never disagree.
import sharp from 'sharp';
import type { InputSpec } from '../backbone/types.js';
import { TlError } from '../util/errors.js';

// Decoding giant images would exhaust memory; 100 megapixels is far above any camera photo people train on.
const MAX_INPUT_PIXELS = 100_000_000;

/** Decoded photo as 8-bit RGB of exactly size x size (orientation, colour space, alpha and crop handled). */
export async function decodeToRgb(input: Buffer | string, spec: Pick<InputSpec, 'size' | 'resize' | 'cropFraction'>): Promise<Buffer> {
  if (Buffer.isBuffer(input) && input.length === 0) throw new TlError('empty file (0 bytes)');
  try {
    // Resize to size/cropFraction, then take the centre size x size (torchvision's Resize(256) + CenterCrop(224)).
    const fraction = spec.cropFraction ?? 1;
    const resized = Math.round(spec.size / fraction);
    let img = sharp(input, { failOn: 'error', limitInputPixels: MAX_INPUT_PIXELS, sequentialRead: true })
      .rotate() // apply EXIF orientation, then drop the tag
      .toColourspace('srgb') // CMYK, grayscale, 16-bit and Lab all become 8-bit sRGB
      .flatten({ background: { r: 255, g: 255, b: 255 } }) // alpha over white, like a viewer shows it
      .resize(resized, resized, { fit: spec.resize === 'cover' ? 'cover' : 'fill', position: 'centre' });
    if (resized !== spec.size) {
      // extract() after resize() crops the resized image (sharp applies it post-resize).
      const off = Math.floor((resized - spec.size) / 2);
      img = img.extract({ left: off, top: off, width: spec.size, height: spec.size });
    }
    const { data, info } = await img
      .raw()
      .toBuffer({ resolveWithObject: true });
    if (info.channels === 3 && data.length === spec.size * spec.size * 3) return data;
    return toRgb(data, info.channels, spec.size);
  } catch (err) {
    throw new TlError(describeDecodeError(err));
  }
}

function toRgb(data: Buffer, channels: number, size: number): Buffer {
  const out = Buffer.alloc(size * size * 3);
  for (let i = 0; i < size * size; i++) {
    const g = data[i * channels];
    out[i * 3] = g;
    out[i * 3 + 1] = channels >= 3 ? data[i * channels + 1] : g;
    out[i * 3 + 2] = channels >= 3 ? data[i * channels + 2] : g;
  }
  return out;
}

function describeDecodeError(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  if (/unsupported image format/i.test(msg)) return 'not an image sharp can read';
  if (/premature end|truncated|end of file|corrupt/i.test(msg)) return `truncated or corrupt image (${firstLine(msg)})`;
  if (/pixel limit/i.test(msg)) return `image is larger than ${MAX_INPUT_PIXELS / 1e6} megapixels`;
  return firstLine(msg);
}

function firstLine(s: string): string {
  return s.split('\n')[0].trim();
}

/** RGB bytes to the normalized float tensor layout the backbone wants. */
export function rgbToTensor(rgb: Buffer, spec: InputSpec): Float32Array {
  const n = spec.size * spec.size;
  const out = new Float32Array(n * 3);
  const scale = [1 / (255 * spec.std[0]), 1 / (255 * spec.std[1]), 1 / (255 * spec.std[2])];
  const shift = [spec.mean[0] / spec.std[0], spec.mean[1] / spec.std[1], spec.mean[2] / spec.std[2]];
  if (spec.layout === 'NHWC') {
    for (let i = 0; i < n * 3; i++) {
      const c = i % 3;
      out[i] = rgb[i] * scale[c] - shift[c];
    }
  } else {
    for (let c = 0; c < 3; c++) {
      const base = c * n;
      for (let i = 0; i < n; i++) out[base + i] = rgb[i * 3 + c] * scale[c] - shift[c];
    }
  }
  return out;
}

/** Decode + preprocess: path or bytes in, backbone input out. */
export async function preprocess(input: Buffer | string, spec: InputSpec): Promise<Float32Array> {
  return rgbToTensor(await decodeToRgb(input, spec), spec);
}
