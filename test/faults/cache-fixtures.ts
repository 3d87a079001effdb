// Shared by the cache fault tests (issue 10, items 3 and 4): a small photo set, a filled cache, a tiny classifier,
// read-only and full file systems made with real mounts (root only: chmod does not stop root), and stderr parsing.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { DATASETS_DIR, linkSubset, runCli, tempDir, cleanup, type CliResult } from '../helpers.js';

export const HYM_TRAIN = join(DATASETS_DIR, 'hymenoptera_data/train');

/** Why mounts cannot be made here (not root, no mount permission), or undefined when they can. */
export function mountUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root to mount a read-only bind or a tmpfs';
  // Root in a container may still lack the capability: try one.
  const probe = mkdtempSync(join(tmpdir(), 'tl-mount-probe-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', probe], { stdio: 'ignore' });
    execFileSync('umount', [probe], { stdio: 'ignore' });
    return undefined;
  } catch {
    return 'mount is not permitted here';
  } finally {
    rmSync(probe, { recursive: true, force: true });
  }
}

const mounted: string[] = [];

/** Make `dir` read-only for everyone, root included (a read-only bind mount of itself). */
export function mountReadOnly(dir: string): void {
  execFileSync('mount', ['--bind', dir, dir]);
  mounted.push(dir);
  execFileSync('mount', ['-o', 'remount,ro,bind', dir, dir]);
}

/** A file system of `size` (e.g. "256k") at `dir`: a disk that fills up. */
export function mountTmpfs(dir: string, size: string): void {
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir]);
  mounted.push(dir);
}

export function unmount(dir: string): void {
  const i = mounted.lastIndexOf(dir);
  if (i < 0) return;
  mounted.splice(i, 1);
  execFileSync('umount', [dir]);
}

export function unmountAll(): void {
  while (mounted.length) execFileSync('umount', [mounted.pop()!], { stdio: 'ignore' });
}

/** The `warning:` lines of a run's stderr. */
export function warnings(r: CliResult): string[] {
  return r.stderr.split('\n').filter((l) => l.startsWith('warning:'));
}

/** Exactly one warning about the store at `storePath`, matching `reason`; returns it. */
export function assertOneStoreWarning(r: CliResult, storePath: string, reason: RegExp): string {
  const about = warnings(r).filter((w) => w.includes(storePath));
  assert.equal(about.length, 1, `one warning naming ${storePath}; stderr:\n${r.stderr}`);
  assert.match(about[0], reason);
  assert.ok(!/please report it|^\s+at\s/m.test(r.stderr), `no internal error: ${r.stderr}`);
  return about[0];
}

export function assertOk(r: CliResult): void {
  assert.equal(r.code, 0, `exit 0 expected (got ${r.code}); stderr:\n${r.stderr}`);
  assert.ok(!/^error:/m.test(r.stderr), r.stderr);
}

/** Feature rows of a store file, read without changing it. */
export function storeRows(path: string): number {
  const db = new Database(path, { readonly: true });
  try {
    return (db.prepare('SELECT COUNT(*) AS n FROM features').get() as { n: number }).n;
  } finally {
    db.close();
  }
}

export interface CacheWorld {
  tmp: string;
  /** 4 ants + 4 bees (symlinks into the shared dataset). */
  photos: string;
  photoCount: number;
  /** A bundle trained on `photos`, for `tl predict`. */
  classifier: string;
  /** A cache dir whose store holds the features of every photo. */
  filledCache: string;
  tl: (args: string[], cacheDir: string, env?: Record<string, string | undefined>) => Promise<CliResult>;
  dispose: () => Promise<void>;
}

/** Photos, a classifier and a filled cache, made with the real CLI. */
export async function makeCacheWorld(prefix: string): Promise<CacheWorld> {
  const tmp = await tempDir(prefix);
  const photos = join(tmp, 'photos');
  const paths = await linkSubset(HYM_TRAIN, photos, 4);
  const filledCache = join(tmp, 'filled-cache');
  await mkdir(filledCache);
  const tl = (args: string[], cacheDir: string, env?: Record<string, string | undefined>) =>
    runCli(args, { cacheDir, env, cwd: tmp, timeoutMs: 180_000 });
  const classifier = join(tmp, 'clf');
  // Rung 1 named: a setup, so no auto plan (the tests' own `tl train` runs keep the default).
  assertOk(
    await tl(['train', photos, '--out', classifier, '--val', '0.25', '--strategy', 'head', '--l2', '1'], filledCache),
  );
  assert.equal(storeRows(join(filledCache, 'features.sqlite')), paths.length);
  return {
    tmp,
    photos,
    photoCount: paths.length,
    classifier,
    filledCache,
    tl,
    dispose: async () => {
      unmountAll();
      await cleanup(tmp);
    },
  };
}

export interface EmbedSummary {
  images: number;
  embedded: number;
  cached: number;
  skipped: number;
  store: string;
}

export function embedSummary(r: CliResult): EmbedSummary {
  assertOk(r);
  return JSON.parse(r.stdout) as EmbedSummary;
}
