// Where an export may be written, and the write itself. tl replaces a folder only when it is an export tl wrote
// (metadata.json of the tl-export format) and holds nothing else; the new export is written beside it and swapped in
// complete (util/atomic-dir.ts), so a full disk or a kill never leaves a partial file or destroys the previous export.
import { existsSync } from 'node:fs';
import { lstat, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join, sep } from 'node:path';
import { replaceDir } from '../util/atomic-dir.js';
import { TlError } from '../util/errors.js';
import { isFsError, writeError } from '../util/fs-errors.js';

export const EXPORT_FORMAT = 'tl-export';
export const EXPORT_METADATA_FILE = 'metadata.json';

/** Files an export writes (ONNX: model.onnx; TF.js: model.json + weights.bin; both: the references and metadata). */
export const KNOWN_EXPORT_FILES = [
  EXPORT_METADATA_FILE,
  'model.onnx',
  'model.json',
  'weights.bin',
  'unknown-references.bin',
];

const plainName = (f: unknown): f is string => typeof f === 'string' && !!f && !f.includes('/') && !f.includes(sep);

/**
 * Refuse an --out that tl did not write: a file, a broken link, a folder with anything but a previous export in it.
 * Nothing is changed either way.
 */
export async function checkExportTarget(dir: string): Promise<void> {
  const info = await lstat(dir).catch(() => undefined);
  if (!info) return;
  const target = info.isSymbolicLink() ? await stat(dir).catch(() => undefined) : info;
  const hint = 'tl only replaces an export it wrote; choose another --out folder (nothing was changed).';
  const refuse = (why: string) => new TlError(`cannot export to ${dir}: ${why}`, hint);
  if (!target) throw refuse('it is a broken symbolic link');
  if (!target.isDirectory()) throw refuse('it is a file, not a folder');
  const entries = await readdir(dir);
  if (!entries.length) return;
  let meta: { format?: unknown; model?: unknown; unknown?: { references?: { file?: unknown } } } | undefined;
  try {
    meta = JSON.parse(await readFile(join(dir, EXPORT_METADATA_FILE), 'utf8'));
  } catch {
    meta = undefined;
  }
  if (meta?.format !== EXPORT_FORMAT) {
    const shown = entries.slice(0, 3).join(', ') + (entries.length > 3 ? `, ... (${entries.length} entries)` : '');
    throw refuse(`the folder exists and is not a tl export (it holds ${shown})`);
  }
  const allowed = new Set([...KNOWN_EXPORT_FILES, ...[meta.model, meta.unknown?.references?.file].filter(plainName)]);
  const foreign = [];
  for (const name of entries) {
    if (!allowed.has(name) || !(await lstat(join(dir, name))).isFile()) foreign.push(name);
  }
  if (foreign.length) {
    throw new TlError(
      `cannot export to ${dir}: it is a tl export but holds files tl did not write: ${foreign.slice(0, 5).join(', ')}${foreign.length > 5 ? ', ...' : ''}`,
      'Move them out of that folder, or choose another --out folder; tl never deletes files it did not write (nothing was changed).',
    );
  }
}

/**
 * Write an export's files as the folder `dir`, replacing a previous export there only once the new one is complete.
 * A file-system failure becomes one line (what, where, why, what to do); nothing is left behind.
 */
export async function writeExportDir(
  dir: string,
  files: { name: string; bytes: Uint8Array | string }[],
): Promise<void> {
  try {
    await replaceDir(
      dir,
      async (tmp) => {
        // metadata.json last: a folder holding it is a whole export.
        const ordered = [
          ...files.filter((f) => f.name !== EXPORT_METADATA_FILE),
          ...files.filter((f) => f.name === EXPORT_METADATA_FILE),
        ];
        for (const f of ordered) await writeFile(join(tmp, f.name), f.bytes);
      },
      // Exports never used the old `DIR.tmp-PID` name: such a folder is not ours to restore or remove.
      { isComplete: async () => false, check: checkExportTarget },
    );
  } catch (err) {
    if (err instanceof TlError || !isFsError(err)) throw err;
    throw await writeError(
      'the export',
      dir,
      err,
      existsSync(dir) ? 'The export already there is unchanged.' : 'Nothing was left behind.',
    );
  }
}
