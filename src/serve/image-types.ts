// The one rule for which images the server takes, for uploads and predictions alike: the declared type must be an
// image (or unspecified), and the bytes must be a JPEG, PNG, WebP, TIFF or AVIF (what training reads back from a
// project folder). SVG, GIF, HEIC, PDF... decode in sharp but are refused by both, with the same code.
import sharp from 'sharp';
import { MAX_INPUT_PIXELS } from '../data/image.js';
import { HttpError, unprocessable, unsupportedType } from './errors.js';

/** sharp format name → the file extension a project stores it under. */
const ACCEPTED: Record<string, string> = { jpeg: 'jpg', png: 'png', webp: 'webp', tiff: 'tif', avif: 'avif' };
export const ACCEPTED_FORMATS_TEXT = 'JPEG, PNG, WebP, TIFF or AVIF';

/** A declared Content-Type that may hold an image (image/*, octet-stream, or none). */
export function isImageMime(type: string | undefined): boolean {
  const t = (type ?? '').split(';')[0].trim().toLowerCase();
  return t.startsWith('image/') || t === 'application/octet-stream' || t === '';
}

/**
 * Check an image's declared type and its header (not the pixels: decoding comes later and reports truncation).
 * Returns the extension to store it under. Throws 415 (not an image type / a format not accepted) or 422 (bytes that
 * are no image at all, or too many pixels) HttpErrors; `name` is the file name shown in the message, if any.
 */
export async function checkImage(
  input: Buffer | string,
  declaredType: string | undefined,
  name?: string,
): Promise<{ ext: string; width: number; height: number }> {
  const what = name === undefined ? 'the image' : `"${name}"`;
  if (!isImageMime(declaredType))
    throw unsupportedType(
      `${what} has type ${String(declaredType).slice(0, 60)}; send images (${ACCEPTED_FORMATS_TEXT})`,
    );
  const meta = await sharp(input, { limitInputPixels: false })
    .metadata()
    .catch(() => undefined);
  if (!meta) {
    throw unprocessable(`cannot decode ${what}: not an image (${ACCEPTED_FORMATS_TEXT} expected)`, 'undecodable_image');
  }
  const format = meta.format === 'heif' && meta.compression === 'av1' ? 'avif' : meta.format;
  const ext = ACCEPTED[format ?? ''];
  if (!ext)
    throw new HttpError(
      415,
      'unsupported_image_format',
      `${what} is a ${format === 'heif' ? 'HEIF/HEIC' : String(format).toUpperCase()} image; use ${ACCEPTED_FORMATS_TEXT}`,
    );
  if (meta.width * meta.height > MAX_INPUT_PIXELS)
    throw unprocessable(
      `${what} is ${meta.width}x${meta.height}, above the ${MAX_INPUT_PIXELS / 1e6}-megapixel limit`,
      'image_too_large',
    );
  return { ext, width: meta.width, height: meta.height };
}
