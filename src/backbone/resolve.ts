// Finds a model's files: explicit path → TL_MODELS_DIR copy → user cache → download (sha256-checked, atomic).
import { createWriteStream, existsSync } from 'node:fs';
import { mkdir, readdir, rename, rm, rmdir, stat } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { isAbsolute, join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { env, modelCacheDir } from '../util/env.js';
import { TlError } from '../util/errors.js';
import { sha256File } from '../util/hash.js';
import type { ModelEntry, ModelFile } from './types.js';

export interface ResolveProgress {
  file: string;
  receivedBytes: number;
  totalBytes: number;
}

export interface ResolveOptions {
  /** A folder that holds this model's files (overrides every other place). */
  path?: string;
  /** Called while downloading. */
  onProgress?: (p: ResolveProgress) => void;
  /** Verify sha256 of files found on disk too (downloads are always verified). */
  verify?: boolean;
}

export interface ResolvedModel {
  dir: string;
  where: 'path' | 'models-dir' | 'cache' | 'download';
}

function hasAllFiles(dir: string, files: ModelFile[]): boolean {
  return files.every((f) => existsSync(join(dir, f.name)));
}

/** Where a model's files already are (without checking their sha256, without downloading), or undefined. */
export function locateModel(entry: ModelEntry): ResolvedModel | undefined {
  const candidates: [string, ResolvedModel['where']][] = [];
  if (isAbsolute(entry.folder)) candidates.push([entry.folder, 'path']);
  if (env.modelsDir) candidates.push([join(env.modelsDir, entry.folder), 'models-dir']);
  candidates.push([join(modelCacheDir(), entry.folder), 'cache']);
  const hit = candidates.find(([dir]) => hasAllFiles(dir, entry.files));
  return hit && { dir: hit[0], where: hit[1] };
}

/** Locate (or download) every file of a model and return the folder holding them. */
export async function resolveModel(entry: ModelEntry, opts: ResolveOptions = {}): Promise<ResolvedModel> {
  const candidates: [string, ResolvedModel['where']][] = [];
  if (opts.path) candidates.push([opts.path, 'path']);
  // A user-registered model by local path keeps its own absolute folder.
  else if (isAbsolute(entry.folder)) candidates.push([entry.folder, 'path']);
  if (env.modelsDir) candidates.push([join(env.modelsDir, entry.folder), 'models-dir']);
  candidates.push([join(modelCacheDir(), entry.folder), 'cache']);
  for (const [dir, where] of candidates) {
    if (hasAllFiles(dir, entry.files)) {
      if (opts.verify) await verifyFiles(dir, entry);
      return { dir, where };
    }
    if (where === 'path')
      throw new TlError(
        `model folder ${dir} does not hold every file of ${entry.id} (expected ${entry.files
          .map((f) => f.name)
          .slice(0, 3)
          .join(', ')}...)`,
      );
  }
  const dir = join(modelCacheDir(), entry.folder);
  await downloadModel(entry, dir, opts.onProgress);
  return { dir, where: 'download' };
}

/** Compare every file's sha256 with the registry; a mismatch names the file, the URL and how to fix it. */
export async function verifyFiles(dir: string, entry: ModelEntry): Promise<void> {
  for (const f of entry.files) {
    const actual = await sha256File(join(dir, f.name));
    if (actual !== f.sha256) throw checksumError(entry, f, join(dir, f.name), actual);
  }
}

function checksumError(entry: ModelEntry, f: ModelFile, path: string, actual: string): TlError {
  // A model registered from a local file: that file may be the only copy, so never advise deleting it.
  if (f.url.startsWith('file://'))
    return new TlError(
      `${path} (model ${entry.id}) is not the file that was registered: its sha256 is ${actual}, registered ${f.sha256}`,
      `Copy the original file back to ${path} (from your backup or where it came from), or, if it was changed on purpose, register it again with \`tl models add ${path} --id ${entry.id} --replace\` (classifiers trained on the old file then need retraining).`,
    );
  return new TlError(
    `checksum mismatch for ${path} (model ${entry.id}): expected sha256 ${f.sha256}, got ${actual}`,
    `Delete the file and run \`tl models pull ${entry.id}\` to fetch it again from ${f.url}, ` +
      `or point TL_MODELS_DIR at a folder holding a good copy of ${entry.folder}/.`,
  );
}

async function downloadModel(entry: ModelEntry, dir: string, onProgress?: (p: ResolveProgress) => void): Promise<void> {
  if (!env.allowDownloads) {
    throw new TlError(
      `model ${entry.id} is not on disk and downloads are off (TL_OFFLINE=1)`,
      `Set TL_MODELS_DIR to a folder holding ${entry.folder}/, or unset TL_OFFLINE to download from ${entry.files[0].url}.`,
    );
  }
  const created = !existsSync(dir);
  await mkdir(dir, { recursive: true });
  try {
    for (const f of entry.files) {
      const target = join(dir, f.name);
      if (existsSync(target) && (await stat(target)).size === f.size && (await sha256File(target)) === f.sha256)
        continue;
      await downloadFile(entry, f, target, onProgress);
    }
  } catch (err) {
    // A failed first download leaves nothing behind: not even the model's empty folder.
    if (created && (await readdir(dir).catch(() => ['?'])).length === 0) await rmdir(dir).catch(() => undefined);
    throw err;
  }
}

/** The bytes a download received are not the registry's file: nothing was kept. */
function downloadMismatch(entry: ModelEntry, f: ModelFile, what: string): TlError {
  return new TlError(
    `download of ${f.name} for model ${entry.id} from ${f.url} is not the registered file (${what}); nothing was kept`,
    `The server sent other bytes (a changed or tampered file, or an error page). Try again later, or put a copy with sha256 ${f.sha256} in a folder ${entry.folder}/ under TL_MODELS_DIR.`,
  );
}

async function downloadFile(
  entry: ModelEntry,
  f: ModelFile,
  target: string,
  onProgress?: (p: ResolveProgress) => void,
) {
  // Write to a unique temporary name and rename only after the checksum matched: a killed download leaves no
  // half-file under the real name, and two processes downloading at once both end with a whole file.
  const tmp = `${target}.${process.pid}.${Date.now()}.part`;
  let res: Response;
  try {
    res = await fetch(f.url, { redirect: 'follow' });
  } catch (err) {
    throw new TlError(
      `cannot download ${f.name} of model ${entry.id} from ${f.url}: ${(err as Error).message}`,
      `No network? Copy the model folder ${entry.folder}/ somewhere and set TL_MODELS_DIR to its parent.`,
    );
  }
  if (!res.ok || !res.body) {
    throw new TlError(
      `download of ${f.url} failed: HTTP ${res.status}`,
      `Set TL_MODELS_DIR to a folder holding ${entry.folder}/.`,
    );
  }
  const hash = createHash('sha256');
  let received = 0;
  const body = Readable.fromWeb(res.body as never);
  body.on('data', (chunk: Buffer) => {
    hash.update(chunk);
    received += chunk.length;
    onProgress?.({ file: f.name, receivedBytes: received, totalBytes: f.size });
  });
  try {
    await pipeline(body, createWriteStream(tmp));
    const actual = hash.digest('hex');
    // The size first (a truncated or padded file says so plainly), then the sha256; size 0: not recorded.
    if (f.size > 0 && received !== f.size) throw downloadMismatch(entry, f, `${received} bytes, expected ${f.size}`);
    if (actual !== f.sha256) throw downloadMismatch(entry, f, `sha256 ${actual}, expected ${f.sha256}`);
    await rename(tmp, target);
  } finally {
    await rm(tmp, { force: true });
  }
}
