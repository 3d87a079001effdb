// Preprocessing as someone outside the toolkit would write it from an export's metadata.json alone (sharp, the
// stated kernel, sizes and crop formulas), deliberately not calling src/data/image.ts: the export check runs the
// exported model on these inputs, so it catches a metadata.json that says something other than what `tl predict` does.
import sharp, { type KernelEnum } from 'sharp';
import { readImageBytes } from '../data/image-file.js';
import type { ExportMetadata } from './export.js';

type Input = ExportMetadata['input'];

/** Resized size and crop corner for a width x height photo, per metadata.json (older exports: no resizeTo field). */
export function documentedGeometry(
  width: number,
  height: number,
  input: Input,
): { width: number; height: number; left: number; top: number } {
  const t = input.resizeTo ?? Math.round(input.size / input.cropFraction);
  const shorter = Math.min(width, height);
  const w = input.resize === 'cover' ? Math.round((width * t) / shorter) : t;
  const h = input.resize === 'cover' ? Math.round((height * t) / shorter) : t;
  return { width: w, height: h, left: Math.floor((w - input.size) / 2), top: Math.floor((h - input.size) / 2) };
}

/** One image file → the model's float32 input for one image, following metadata.json's preprocessing steps. */
export async function preprocessAsDocumented(path: string, input: Input): Promise<Float32Array> {
  const bytes = await readImageBytes(path); // regular files only, size-capped, like every image read
  const head = await sharp(bytes).metadata();
  const oriented = head.autoOrient ?? head;
  const g = documentedGeometry(oriented.width, oriented.height, input);
  const kernel = (input.resizeKernel ?? 'lanczos3') as keyof KernelEnum;
  const { data, info } = await sharp(bytes)
    .autoOrient()
    .toColourspace('srgb')
    .flatten({ background: '#ffffff' })
    .resize(g.width, g.height, { fit: 'fill', kernel })
    .extract({ left: g.left, top: g.top, width: input.size, height: input.size })
    .raw()
    .toBuffer({ resolveWithObject: true });
  const n = input.size * input.size;
  const ch = info.channels;
  const x = new Float32Array(3 * n);
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < 3; c++) {
      const pixel = data[i * ch + (ch >= 3 ? c : 0)];
      const v = (pixel / 255 - input.mean[c]) / input.std[c];
      if (input.layout === 'NCHW') x[c * n + i] = v;
      else x[i * 3 + c] = v;
    }
  }
  return x;
}
