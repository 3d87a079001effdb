// Finding image files on disk.
import { lstatSync, readdirSync, statSync } from 'node:fs';
import { extname, join, resolve } from 'node:path';
import { TlError } from '../util/errors.js';
import { specialFileReason } from './image-file.js';

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
      else if (isImageFile(e.name)) keepReadable(p, e.isFile(), out, skipped);
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
    else keepReadable(p, false, out, skipped);
  }
  return out;
}

/**
 * A FIFO, device or socket named like a photo (or a link to one, such as /dev/zero) is skipped here with a named
 * warning: reading it would hang or never end. A plain file needs no stat; a dangling link is kept so decoding names
 * it.
 */
function keepReadable(p: string, regular: boolean, out: string[], skipped: SkippedFile[]): void {
  const reason = regular ? undefined : specialFileReason(p);
  if (reason) skipped.push({ path: p, reason });
  else out.push(p);
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
