// Where a bundle may be saved. tl replaces a folder only when it is a bundle tl wrote and holds nothing else, and never
// saves into the photos it trained on: a save must never delete a file tl did not write.
import { existsSync, realpathSync, statSync } from 'node:fs';
import { lstat, readdir, readFile, stat } from 'node:fs/promises';
import { basename, dirname, join, relative, resolve, sep, isAbsolute } from 'node:path';
import { TlError } from '../util/errors.js';

export const BUNDLE_FORMAT = 'tl-classifier';

/** Files a save writes: the bundle itself, the CLI's report, the server's training extras. */
export const KNOWN_BUNDLE_FILES = [
  'classifier.json',
  'weights.bin',
  'metrics.json',
  'report.html',
  'history.json',
  'misclassified.json',
  'training.json',
];

/** The real path of `p` even when its last parts do not exist yet (symlinks of the existing part resolved). */
export function realPathLoose(p: string): string {
  const abs = resolve(p);
  const rest: string[] = [];
  for (let cur = abs; ; cur = dirname(cur)) {
    if (existsSync(cur)) return join(realpathSync(cur), ...rest);
    if (dirname(cur) === cur) return abs;
    rest.unshift(basename(cur));
  }
}

function isInside(child: string, parent: string): boolean {
  const rel = relative(parent, child);
  return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel);
}

/** Refuse an --out that is, or is inside, or contains the training data folder (symlinks resolved). */
export function checkOutsideData(out: string, data: string): void {
  if (!existsSync(data) || !statSync(data).isDirectory()) return; // a CSV: its photos may live anywhere
  const dataDir = realpathSync(data);
  const real = realPathLoose(out);
  const hint = `Save the classifier outside the training data, e.g. --out ${basename(dataDir)}-classifier beside it.`;
  if (real === dataDir) throw new TlError(`--out ${out} is the data folder itself`, hint);
  if (isInside(real, dataDir)) throw new TlError(`--out ${out} is inside the data folder ${data}`, hint);
  if (isInside(dataDir, real)) throw new TlError(`--out ${out} contains the data folder ${data}`, hint);
}

/**
 * Check that saving a bundle to `dir` can only replace a bundle tl wrote: `dir` does not exist, is empty, or holds a
 * classifier.json of this format and only files a save writes (those its manifest lists, or the known names).
 */
export async function checkBundleTarget(dir: string): Promise<void> {
  const info = await lstat(dir).catch(() => undefined);
  if (!info) return;
  const target = info.isSymbolicLink() ? await stat(dir).catch(() => undefined) : info;
  const hint = 'tl only replaces a classifier bundle it wrote; choose another output folder (nothing was changed).';
  const refuse = (why: string) => new TlError(`cannot save the classifier to ${dir}: ${why}`, hint);
  if (!target) throw refuse('it is a broken symbolic link');
  if (!target.isDirectory()) throw refuse('it is a file, not a classifier bundle');
  const entries = await readdir(dir);
  if (!entries.length) return;
  let manifest: { format?: unknown; files?: unknown } | undefined;
  try {
    manifest = JSON.parse(await readFile(join(dir, 'classifier.json'), 'utf8'));
  } catch {
    manifest = undefined;
  }
  if (manifest?.format !== BUNDLE_FORMAT) {
    const shown = entries.slice(0, 3).join(', ') + (entries.length > 3 ? `, ... (${entries.length} entries)` : '');
    throw refuse(`the folder exists and is not a classifier bundle (it holds ${shown})`);
  }
  const listed = Array.isArray(manifest.files) ? manifest.files.filter((f): f is string => typeof f === 'string') : [];
  const allowed = new Set([...KNOWN_BUNDLE_FILES, ...listed.filter((f) => !f.includes('/') && !f.includes(sep))]);
  const foreign = [];
  for (const name of entries) {
    const isFile = (await lstat(join(dir, name))).isFile();
    if (!isFile || !allowed.has(name)) foreign.push(name);
  }
  if (foreign.length) {
    throw new TlError(
      `cannot save the classifier to ${dir}: it is a classifier bundle but holds files tl did not write: ${foreign.slice(0, 5).join(', ')}${foreign.length > 5 ? ', ...' : ''}`,
      'Move them out of that folder, or choose another output folder; tl never deletes files it did not write (nothing was changed).',
    );
  }
}

/** A folder an older tl left mid-save (`DIR.tmp-PID`): nothing in it but files a save writes. */
export async function holdsOnlyBundleFiles(dir: string): Promise<boolean> {
  try {
    const entries = await readdir(dir, { withFileTypes: true });
    return entries.every((e) => e.isFile() && KNOWN_BUNDLE_FILES.includes(e.name));
  } catch {
    return false;
  }
}
