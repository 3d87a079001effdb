// Finding image files on disk.
import { lstatSync, readdirSync, statSync } from 'node:fs';
import { extname, join, resolve } from 'node:path';
import { TlError } from '../util/errors.js';

/** Extensions treated as photos (case-insensitive). GIFs are left out on purpose: in photo folders they are usually
 * placeholders ("image not found") or animations, and torchvision's ImageFolder skips them too. */
export const IMAGE_EXTENSIONS = new Set([
  '.jpg',
  '.jpeg',
  '.png',
  '.webp',
  '.tif',
  '.tiff',
  '.avif',
  '.heic',
  '.heif',
  '.jfif',
]);

export interface SkippedFile {
  path: string;
  reason: string;
}

export function isImageFile(name: string): boolean {
  return IMAGE_EXTENSIONS.has(extname(name).toLowerCase());
}

/** Every image under `root` (recursively, sorted for reproducibility); other files are reported as skipped. */
export function listImages(root: string, skipped: SkippedFile[] = []): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    const entries = readdirSync(dir, { withFileTypes: true }).sort((a, b) =>
      a.name < b.name ? -1 : a.name > b.name ? 1 : 0,
    );
    for (const e of entries) {
      if (e.name.startsWith('.')) continue;
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (isImageFile(e.name)) out.push(p);
      else if (extname(e.name).toLowerCase() === '.gif')
        skipped.push({ path: p, reason: 'GIF skipped (placeholder or animation, not a photo)' });
      else if (e.isFile() && !/\.(txt|md|csv|json)$/i.test(e.name))
        skipped.push({ path: p, reason: 'not an image file extension' });
    }
  };
  walk(root);
  return out;
}

/**
 * Expand a mix of files and folders given on the command line into image paths. A path that names nothing at all is
 * refused (a typo); a link that leads nowhere (dangling, or a loop) is kept like a folder scan keeps it, so decoding
 * skips it with a named warning and the other files are still answered.
 */
export function expandInputs(inputs: string[], skipped: SkippedFile[] = []): string[] {
  const out: string[] = [];
  for (const input of inputs) {
    const p = resolve(input);
    if (!entryExists(p)) throw new TlError(`no such file or folder: ${input}`);
    if (isFolder(p)) out.push(...listImages(p, skipped));
    else out.push(p);
  }
  return out;
}

/** lstat: true for a link even when its target is missing or loops (existsSync follows links and says false). */
function entryExists(p: string): boolean {
  try {
    lstatSync(p);
    return true;
  } catch {
    return false;
  }
}

function isFolder(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false; // a broken link or a loop: decoding reports it for this file alone
  }
}
