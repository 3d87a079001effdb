// Every setting of the toolkit in one place (the Transformers.js `env` idea): paths, downloads, and the few knobs of
// the training and inference engines. Each reads its environment variable (SETTINGS below lists them all; no other
// module reads a TL_* variable: test/unit/env-settings.test.ts) unless the library assigns it on `env`. The paths are
// read once at start-up; the engine knobs are read when used, so a test or a long-running process can change TL_*
// between runs.
import { homedir } from 'node:os';
import { join } from 'node:path';

/** One environment variable the toolkit reads: its name, its default, what it does (the docs' settings table). */
export interface Setting {
  name: `TL_${string}`;
  /** The `env` field the library may assign instead (absent: only the variable, e.g. TL_FEATURE_STORE). */
  field?: string;
  default: string;
  what: string;
}

/** Every TL_* variable the toolkit reads, here and nowhere else. */
export const SETTINGS = [
  {
    name: 'TL_MODELS_DIR',
    field: 'modelsDir',
    default: '(none)',
    what: 'a folder holding <model folder>/ copies of the zoo (like ../shared/models); checked before the user cache',
  },
  {
    name: 'TL_CACHE_DIR',
    field: 'cacheDir',
    default: '~/.cache/tl ($XDG_CACHE_HOME/tl)',
    what: 'the user cache: downloaded models and datasets, the feature store, the web app projects',
  },
  {
    name: 'TL_DATASETS_DIR',
    field: 'datasetsDir',
    default: '(none)',
    what: 'a folder holding <dataset>/ copies (like ../shared/datasets); checked before downloading a demo dataset',
  },
  {
    name: 'TL_OFFLINE',
    field: 'allowDownloads',
    default: 'unset (downloads allowed)',
    what: '1 forbids network downloads of models and datasets',
  },
  { name: 'TL_FEATURE_STORE', default: '<cache>/features.sqlite', what: "the feature store's file" },
  {
    name: 'TL_TRAIN_THREADS',
    field: 'trainThreads',
    default: 'min(2, cores)',
    what: 'shards of a fine-tuning step (this thread + workers)',
  },
  {
    name: 'TL_FT_MEMORY_MB',
    field: 'finetuneMemoryMB',
    default: '1536',
    what: 'memory one fine-tuning step may use in the wasm heap, MB; caps the minibatch',
  },
  {
    name: 'TL_ORT_WORKER',
    field: 'onnxWorker',
    default: '1 (a worker thread)',
    what: '0 runs onnxruntime in the calling thread instead of a worker thread',
  },
  {
    name: 'TL_DEVICE',
    field: 'device',
    default: 'cpu',
    what: 'where TF.js fine-tuning and TF.js models run when a command names no --device: cpu, webgpu, or auto (a GPU if present, else cpu)',
  },
  {
    name: 'TL_MAX_IMAGE_BYTES',
    field: 'maxImageBytes',
    default: '67108864 (64 MiB)',
    what: 'the largest image file read from disk, in bytes; a larger one is skipped with a warning instead of filling memory',
  },
  {
    name: 'TL_QUEUE',
    field: 'queue',
    default: 'unset (extract and train in this process)',
    what: 'redis://HOST:PORT of a queue of `tl worker`s: tl embed and tl train send the images the cache lacks there; tl serve runs its training jobs there',
  },
  {
    name: 'TL_WEBGPU',
    field: 'webgpu',
    default: 'unset (look for a GPU adapter)',
    what: 'off: look for no GPU adapter at all, as on a machine without one (tests, or to keep the GPU idle)',
  },
  {
    name: 'TL_HEAD_KERNEL',
    field: 'headKernel',
    default: 'unset (wasm on big sets, JavaScript on small ones)',
    what: "js: the head's L2 search uses the JavaScript kernel even on big sets (the same seed gives the same bits)",
  },
  {
    name: 'TL_HEAD_WASM_MIN_UNITS',
    field: 'headWasmMinUnits',
    default: '4000000',
    what: "rows x features x classes from which the head's fits use the wasm kernel (tests lower it to send a small set down the big-set path)",
  },
  {
    name: 'TL_MAX_ARCHIVE_BYTES',
    field: 'maxArchiveBytes',
    default: '4294967296 (4 GiB)',
    what: 'the largest project archive `tl serve` imports (POST /v1/projects/import), in bytes; a larger upload is refused with 413',
  },
  {
    name: 'TL_TEST_SAVE_DELAY_MS',
    field: 'testSaveDelayMs',
    default: 'unset (no delay)',
    what: "tests only: milliseconds a server's training process waits after deciding to save its classifier, before telling the server (puts a late cancel in that window)",
  },
  {
    name: 'TL_HEAD_MEMORY_MB',
    field: 'headMemoryMB',
    default: '1024',
    what: "memory rung 1's head fit may hold its training vectors in, MB; above it the vectors stream from a float16 spill file under <cache>/spill and L2 is searched on a stratified sample that fits (0 streams every set)",
  },
  {
    name: 'TL_DEBUG',
    field: 'debug',
    default: 'unset',
    what: 'any value: print the stack of an unexpected error, and why a worker or the wasm head kernel fell back',
  },
] as const satisfies readonly Setting[];

export type SettingName = (typeof SETTINGS)[number]['name'];

/** A setting's raw value from the environment (undefined when unset). */
function read(name: SettingName): string | undefined {
  return process.env[name];
}

function xdgCache(): string {
  return process.env.XDG_CACHE_HOME || join(homedir(), '.cache');
}

/** A positive integer from an environment variable, or undefined when unset or not one. */
function positiveIntVar(name: SettingName): number | undefined {
  const n = Number(read(name));
  return Number.isInteger(n) && n >= 1 ? n : undefined;
}

/** A positive number from an environment variable, or undefined. */
function positiveNumberVar(name: SettingName): number | undefined {
  const n = Number(read(name));
  return n > 0 && Number.isFinite(n) ? n : undefined;
}

/** Values assigned from the library win over the environment; undefined hands a knob back to it. */
const assigned: {
  trainThreads?: number;
  finetuneMemoryMB?: number;
  onnxWorker?: boolean;
  device?: string;
  maxImageBytes?: number;
  webgpu?: boolean;
  headKernel?: 'js' | 'auto';
  headWasmMinUnits?: number;
  headMemoryMB?: number;
  debug?: boolean;
  queue?: string;
  maxArchiveBytes?: number;
  testSaveDelayMs?: number;
} = {};

export const env = {
  /** TL_MODELS_DIR: a folder holding `<model folder>/` copies of the zoo (like ../shared/models); checked before the user cache. */
  modelsDir: read('TL_MODELS_DIR') || '',
  /** TL_CACHE_DIR: the user cache: downloaded models and the feature store live here (default ~/.cache/tl). */
  cacheDir: read('TL_CACHE_DIR') || join(xdgCache(), 'tl'),
  /** TL_DATASETS_DIR: a folder holding `<dataset>/` copies (like ../shared/datasets); checked before downloading a demo dataset. */
  datasetsDir: read('TL_DATASETS_DIR') || '',
  /** TL_OFFLINE=1 forbids network downloads of models and datasets. */
  allowDownloads: read('TL_OFFLINE') !== '1',
  /** TL_TRAIN_THREADS: shards of a fine-tuning step (this thread + workers); default min(2, cores). */
  get trainThreads(): number | undefined {
    return assigned.trainThreads ?? positiveIntVar('TL_TRAIN_THREADS');
  },
  set trainThreads(v: number | undefined) {
    assigned.trainThreads = v;
  },
  /** TL_FT_MEMORY_MB: memory one fine-tuning step may use in the wasm heap, MB (default 1536); caps the minibatch. */
  get finetuneMemoryMB(): number | undefined {
    return assigned.finetuneMemoryMB ?? positiveNumberVar('TL_FT_MEMORY_MB');
  },
  set finetuneMemoryMB(v: number | undefined) {
    assigned.finetuneMemoryMB = v;
  },
  /** TL_ORT_WORKER=0 runs onnxruntime in the calling thread instead of a worker thread (default: a worker). */
  get onnxWorker(): boolean {
    return assigned.onnxWorker ?? read('TL_ORT_WORKER') !== '0';
  },
  set onnxWorker(v: boolean) {
    assigned.onnxWorker = v;
  },
  /**
   * TL_DEVICE: where TF.js fine-tuning runs when a run names no device: cpu (the default), webgpu, or auto (a hardware
   * GPU adapter when there is one, else cpu). Checked where it is used (src/engine/webgpu/device.ts).
   */
  get device(): string | undefined {
    return assigned.device ?? (read('TL_DEVICE') || undefined);
  },
  set device(v: string | undefined) {
    assigned.device = v;
  },
  /**
   * TL_MAX_IMAGE_BYTES: the largest image file read from disk, in bytes (default 64 MiB: a 100-megapixel JPEG is far
   * smaller); a larger file is skipped with a warning instead of filling memory.
   */
  get maxImageBytes(): number {
    return assigned.maxImageBytes ?? positiveIntVar('TL_MAX_IMAGE_BYTES') ?? 64 * 1024 * 1024;
  },
  set maxImageBytes(v: number | undefined) {
    assigned.maxImageBytes = v;
  },
  /** TL_WEBGPU=off: look for no GPU adapter at all, as on a machine without one (default: look). */
  get webgpu(): boolean {
    return assigned.webgpu ?? read('TL_WEBGPU') !== 'off';
  },
  set webgpu(v: boolean | undefined) {
    assigned.webgpu = v;
  },
  /** TL_HEAD_KERNEL=js: the head's L2 search on the JavaScript kernel even on big sets (default auto: wasm on big sets). */
  get headKernel(): 'js' | 'auto' {
    return assigned.headKernel ?? (read('TL_HEAD_KERNEL') === 'js' ? 'js' : 'auto');
  },
  set headKernel(v: 'js' | 'auto' | undefined) {
    assigned.headKernel = v;
  },
  /**
   * TL_HEAD_WASM_MIN_UNITS: rows x features x classes from which the head's fits use wasm (default undefined:
   * solvers/wasm-objective.ts's WASM_MIN_UNITS); tests lower it to send a small set down the big-set path.
   */
  get headWasmMinUnits(): number | undefined {
    if (assigned.headWasmMinUnits !== undefined) return assigned.headWasmMinUnits;
    const n = Number(read('TL_HEAD_WASM_MIN_UNITS'));
    return n > 0 ? n : undefined;
  },
  set headWasmMinUnits(v: number | undefined) {
    assigned.headWasmMinUnits = v;
  },
  /**
   * TL_HEAD_MEMORY_MB: memory rung 1's head fit may hold its training vectors in, MB (default 1024); above it they
   * stream from a float16 spill file (training/head-streamed.ts). 0 streams every set (tests).
   */
  get headMemoryMB(): number {
    if (assigned.headMemoryMB !== undefined) return assigned.headMemoryMB;
    const n = Number(read('TL_HEAD_MEMORY_MB'));
    return read('TL_HEAD_MEMORY_MB') !== undefined && n >= 0 && Number.isFinite(n) ? n : 1024;
  },
  set headMemoryMB(v: number | undefined) {
    assigned.headMemoryMB = v;
  },
  /** TL_DEBUG (any value): stacks of unexpected errors, and why a worker or the wasm head kernel fell back. */
  get debug(): boolean {
    return assigned.debug ?? Boolean(read('TL_DEBUG'));
  },
  set debug(v: boolean | undefined) {
    assigned.debug = v;
  },
  /** TL_MAX_ARCHIVE_BYTES: the largest project archive `tl serve` imports, in bytes (default 4 GiB). */
  get maxArchiveBytes(): number {
    return assigned.maxArchiveBytes ?? positiveIntVar('TL_MAX_ARCHIVE_BYTES') ?? 4 * 1024 ** 3;
  },
  set maxArchiveBytes(v: number | undefined) {
    assigned.maxArchiveBytes = v;
  },
  /** TL_TEST_SAVE_DELAY_MS (tests only): a training child's pause between its decision to save and telling the server. */
  get testSaveDelayMs(): number {
    return assigned.testSaveDelayMs ?? positiveIntVar('TL_TEST_SAVE_DELAY_MS') ?? 0;
  },
  set testSaveDelayMs(v: number | undefined) {
    assigned.testSaveDelayMs = v;
  },
  /** TL_QUEUE: redis://HOST:PORT of a queue of `tl worker`s (src/queue/); `tl embed` and `tl train` extract there, `tl serve` trains there. */
  get queue(): string | undefined {
    return assigned.queue ?? (read('TL_QUEUE') || undefined);
  },
  set queue(v: string | undefined) {
    assigned.queue = v;
  },
};

export function modelCacheDir(): string {
  return join(env.cacheDir, 'models');
}
/** TL_FEATURE_STORE: the feature store's file (default <cache>/features.sqlite). */
export function featureStorePath(): string {
  return read('TL_FEATURE_STORE') || join(env.cacheDir, 'features.sqlite');
}
export function datasetCacheDir(): string {
  return join(env.cacheDir, 'datasets');
}

/** Every setting's current value by its `env` field (SETTINGS), as plain data: what a child process starts with. */
export type EnvSnapshot = Record<string, unknown>;

/** The settings as they stand (assigned or from the environment), to hand to a child process (serve's jobs). */
export function envSnapshot(): EnvSnapshot {
  const snapshot: EnvSnapshot = {};
  for (const s of SETTINGS) if ('field' in s) snapshot[s.field] = (env as Record<string, unknown>)[s.field];
  return snapshot;
}

/** Applies a parent's snapshot in a child: each field assigned as the library would. */
export function applyEnv(snapshot: EnvSnapshot): void {
  for (const s of SETTINGS)
    if ('field' in s && s.field in snapshot) (env as Record<string, unknown>)[s.field] = snapshot[s.field];
}
