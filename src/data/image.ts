// The one preprocessing function used by embedding, training and prediction alike, so they can never disagree.
import sharp from 'sharp';
import type { InputSpec } from './input-spec.js';
import { TlError } from '../util/errors.js';
import { resizeAndCrop, RESIZE_KERNEL } from './preprocess-rule.js';
import { readImageBytes } from './image-file.js';

// Decoding giant images would exhaust memory; 100 megapixels is far above any camera photo people train on.
export const MAX_INPUT_PIXELS = 100_000_000;

// failOn 'error' also rejects truncated files (libvips: none < truncated < error < warning).
const SHARP_INPUT = { failOn: 'error', limitInputPixels: MAX_INPUT_PIXELS, sequentialRead: true } as const;
// The header read must not stop at the limit: it is what reports the real size.
const SHARP_HEADER = { ...SHARP_INPUT, limitInputPixels: false } as const;

/** Decoded photo as 8-bit RGB of exactly size x size (orientation, colour space, bit depth, alpha and crop handled). */
export async function decodeToRgb(
  input: Buffer | string,
  spec: Pick<InputSpec, 'size' | 'resize' | 'cropFraction'>,
): Promise<Buffer> {
  const bytes = typeof input === 'string' ? await readImageBytes(input) : input;
  if (bytes.length === 0) throw new TlError('empty file (0 bytes)');
  try {
    // Header only: cheap, and lets us reject giant images with their real size and pick the colour path.
    const meta = await sharp(bytes, SHARP_HEADER).metadata();
    const pixels = meta.width * meta.height;
    if (pixels > MAX_INPUT_PIXELS) throw new TlError(tooLarge(meta.width, meta.height));
    let pipeline = sharp(bytes, SHARP_INPUT);
    // CMYK and 16-bit inputs go to 8-bit sRGB before anything else. sharp's default path converts CMYK with a
    // perceptual intent (orange 200,80,40 comes back as 199,72,3) and 16-bit images with an ICC profile via
    // Display P3 that it then labels sRGB (255,128,0 comes back as 239,135,49). The cost is no JPEG
    // shrink-on-load for these rare files, which the pixel limit keeps affordable.
    if (meta.space === 'cmyk' || meta.depth === 'ushort') pipeline = pipeline.pipelineColourspace('srgb');
    // The rule of preprocess-rule.ts (torchvision's Resize(256) + CenterCrop(224) for the ONNX zoo): both resized
    // sides given explicitly and the crop placed here, not by sharp's `cover`, whose centring rounds odd margins up
    // where the documented rule (metadata.json, examples/browser) rounds down.
    const oriented = meta.autoOrient ?? meta;
    const g = resizeAndCrop(oriented.width, oriented.height, spec);
    pipeline = pipeline
      .rotate() // apply EXIF orientation, then drop the tag
      .toColourspace('srgb') // grayscale, 16-bit and Lab all become 8-bit sRGB
      .flatten({ background: { r: 255, g: 255, b: 255 } }) // alpha over white, like a viewer shows it
      .resize(g.width, g.height, { fit: 'fill', kernel: RESIZE_KERNEL })
      // extract() after resize() crops the resized image (sharp applies it post-resize).
      .extract({ left: g.left, top: g.top, width: spec.size, height: spec.size });
    const { data, info } = await pipeline.raw().toBuffer({ resolveWithObject: true });
    if (info.channels === 3 && data.length === spec.size * spec.size * 3) return data;
    if (data.length !== spec.size * spec.size * info.channels)
      throw new TlError(`unexpected pixel format after decoding (${info.channels} channels, ${data.length} bytes)`);
    return toRgb(data, info.channels, spec.size);
  } catch (err) {
    if (err instanceof TlError) throw err;
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

function tooLarge(width: number, height: number): string {
  const mp = Math.round((width * height) / 1e6);
  return `image is ${width}x${height} (${mp} megapixels), above the ${MAX_INPUT_PIXELS / 1e6}-megapixel limit; downscale it first`;
}

function describeDecodeError(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  if (/unsupported image format|bad seek|not a known file format/i.test(msg)) return 'not an image sharp can read';
  if (/premature end|truncated|end of file|corrupt|read error|bad huffman|not enough data|unexpected end/i.test(msg))
    return `truncated or corrupt image (${firstLine(msg)})`;
  // libvips sometimes fails a damaged file without a reason (seen on truncated JPEGs): say what it most likely is.
  if (/^\s*unknown error\s*$/i.test(msg)) return 'truncated or corrupt image (the decoder gave no details)';
  if (/pixel limit/i.test(msg)) return `image is larger than ${MAX_INPUT_PIXELS / 1e6} megapixels; downscale it first`;
  return firstLine(msg);
}

function firstLine(s: string): string {
  const line = s.split('\n')[0].trim();
  return line.length > 120 ? `${line.slice(0, 117)}...` : line;
}

/** RGB bytes to the normalized float tensor layout the backbone wants. */
export function rgbToTensor(rgb: Buffer, spec: InputSpec): Float32Array {
  const n = spec.size * spec.size;
  const out = new Float32Array(n * 3);
  // One multiply-add per value with per-channel constants hoisted: this loop runs for every image (~0.15 ms).
  const s0 = 1 / (255 * spec.std[0]),
    s1 = 1 / (255 * spec.std[1]),
    s2 = 1 / (255 * spec.std[2]);
  const o0 = spec.mean[0] / spec.std[0],
    o1 = spec.mean[1] / spec.std[1],
    o2 = spec.mean[2] / spec.std[2];
  if (spec.layout === 'NHWC') {
    for (let i = 0, j = 0; i < n; i++, j += 3) {
      out[j] = rgb[j] * s0 - o0;
      out[j + 1] = rgb[j + 1] * s1 - o1;
      out[j + 2] = rgb[j + 2] * s2 - o2;
    }
  } else {
    for (let i = 0, j = 0; i < n; i++, j += 3) {
      out[i] = rgb[j] * s0 - o0;
      out[n + i] = rgb[j + 1] * s1 - o1;
      out[2 * n + i] = rgb[j + 2] * s2 - o2;
    }
  }
  return out;
}

/** Decode + preprocess: path or bytes in, backbone input out. */
export async function preprocess(input: Buffer | string, spec: InputSpec): Promise<Float32Array> {
  // A fused model (backbone/fused.ts): each part's own tensor, one after the other.
  if (spec.parts) return concatFloats(await Promise.all(spec.parts.map((p) => preprocess(input, p))));
  return rgbToTensor(await decodeToRgb(input, spec), spec);
}

function concatFloats(parts: Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
  parts.reduce((offset, p) => (out.set(p, offset), offset + p.length), 0);
  return out;
}
