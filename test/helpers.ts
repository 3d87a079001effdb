// Shared by the test files: where the shared models/datasets/fixtures are, temp dirs, and running the built CLI.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readdir, rm, symlink, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import assert from 'node:assert/strict';
import { ZOO } from '../src/backbone/zoo.js';

export const ROOT = resolve(import.meta.dirname, '..');
export const MODELS_DIR = process.env.TL_MODELS_DIR || resolve(ROOT, '../shared/models');
export const DATASETS_DIR = process.env.TL_DATASETS_DIR || resolve(ROOT, '../shared/datasets');
export const FIXTURES = resolve(ROOT, 'test-fixtures/darknet');
export const DOG = join(FIXTURES, 'dog.jpg');
export const CLI = resolve(ROOT, 'dist/src/cli/main.js');

/** Every built-in backbone on disk in ../shared, from the one registry (src/backbone/zoo.ts); not the online-only ones. */
export const ZOO_IDS: readonly string[] = ZOO.filter((e) => !e.unverified).map((e) => e.id);

/** A fresh temp dir; remove it with `cleanup` (or let the test's after() do it). */
export async function tempDir(prefix = 'tl-test-'): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

export async function cleanup(...dirs: (string | undefined)[]): Promise<void> {
  await Promise.all(dirs.filter((d): d is string => !!d).map((d) => rm(d, { recursive: true, force: true })));
}

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface CliOptions {
  /** TL_CACHE_DIR for the child: required, so a test never touches the user's cache. */
  cacheDir: string;
  /** Extra or overriding environment; a value of undefined removes the variable. */
  env?: Record<string, string | undefined>;
  timeoutMs?: number;
  cwd?: string;
}

function childEnv(opts: CliOptions): NodeJS.ProcessEnv {
  const e: NodeJS.ProcessEnv = {
    ...process.env,
    TL_MODELS_DIR: MODELS_DIR,
    TL_DATASETS_DIR: DATASETS_DIR,
    TL_OFFLINE: '1',
    TL_CACHE_DIR: opts.cacheDir,
  };
  delete e.TL_FEATURE_STORE;
  delete e.TL_DEBUG;
  for (const [k, v] of Object.entries(opts.env ?? {})) {
    if (v === undefined) delete e[k];
    else e[k] = v;
  }
  return e;
}

/** Start the built CLI (`node dist/src/cli/main.js ...args`) without waiting for it. */
export function spawnCli(args: string[], opts: CliOptions): ChildProcess {
  return spawn(process.execPath, [CLI, ...args], {
    env: childEnv(opts),
    cwd: opts.cwd ?? ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/** Wait for a spawned CLI to exit, collecting its output. */
export function collect(child: ChildProcess, timeoutMs = 120_000): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  return new Promise((resolvePromise, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`CLI timed out after ${timeoutMs} ms\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolvePromise({ code, signal, stdout, stderr });
    });
  });
}

/** Run the built CLI to completion. */
export function runCli(args: string[], opts: CliOptions): Promise<CliResult> {
  return collect(spawnCli(args, opts), opts.timeoutMs);
}

/** Lines of an error output that look like a JavaScript stack trace. */
export function stackLines(text: string): string[] {
  return text.split('\n').filter((l) => /^\s+at\s/.test(l));
}

/** Image files of a folder, sorted, with full paths. */
export async function filesIn(dir: string): Promise<string[]> {
  return (await readdir(dir))
    .filter((f) => !f.startsWith('.'))
    .sort()
    .map((f) => join(dir, f));
}

/**
 * A folder of symlinks to the first `perClass` images of each class folder of `src` (keeps the class layout).
 * Cheap: no image is copied.
 */
export async function linkSubset(src: string, dest: string, perClass: number): Promise<string[]> {
  const out: string[] = [];
  for (const cls of (await readdir(src, { withFileTypes: true }))
    .filter((e) => e.isDirectory())
    .map((e) => e.name)
    .sort()) {
    await mkdir(join(dest, cls), { recursive: true });
    // Sort numerically-ish by name so the subset is stable across runs.
    for (const f of (await readdir(join(src, cls))).sort().slice(0, perClass)) {
      await symlink(join(src, cls, f), join(dest, cls, f));
      out.push(join(dest, cls, f));
    }
  }
  return out;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Cosine similarity of two vectors. */
export function cosine(a: Float32Array, b: Float32Array): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i] * b[i];
    na += a[i] * a[i];
    nb += b[i] * b[i];
  }
  return dot / Math.sqrt(na * nb);
}

/** The one clear error line of a failed command: exit 1, no stack trace, no internals; optionally nothing on stdout. */
export function assertCleanError(r: CliResult, pattern: RegExp, opts: { emptyStdout?: boolean } = {}): void {
  assert.equal(r.code, 1, `exit code 1 expected; stderr: ${r.stderr}`);
  assert.deepEqual(stackLines(r.stderr), [], `no stack trace: ${r.stderr}`);
  const errors = r.stderr.split('\n').filter((l) => l.startsWith('error:'));
  assert.equal(errors.length, 1, `exactly one error line: ${r.stderr}`);
  assert.match(errors[0], pattern);
  assert.ok(
    !/TypeError|ReferenceError|RangeError|undefined|NaN|\[object /.test(r.stderr),
    `no internals leak: ${r.stderr}`,
  );
  if (opts.emptyStdout) assert.equal(r.stdout, '', 'nothing on stdout');
}
