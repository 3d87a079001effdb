// Every setting of the toolkit in one place (the Transformers.js `env` idea): paths, downloads, and the few knobs of
// the training and inference engines. Each reads its environment variable (README: "Settings") unless the library
// assigns it on `env`. The paths are read once at start-up; the engine knobs are read when used, so a test or a
// long-running process can change TL_* between runs.
import { homedir } from 'node:os';
import { join } from 'node:path';

function xdgCache(): string {
  return process.env.XDG_CACHE_HOME || join(homedir(), '.cache');
}

/** A positive integer from an environment variable, or undefined when unset or not one. */
function positiveIntVar(name: string): number | undefined {
  const n = Number(process.env[name]);
  return Number.isInteger(n) && n >= 1 ? n : undefined;
}

/** A positive number from an environment variable, or undefined. */
function positiveNumberVar(name: string): number | undefined {
  const n = Number(process.env[name]);
  return n > 0 && Number.isFinite(n) ? n : undefined;
}

/** Values assigned from the library win over the environment. */
const assigned: {
  trainThreads?: number;
  finetuneMemoryMB?: number;
  onnxWorker?: boolean;
  device?: string;
  maxImageBytes?: number;
  queue?: string;
} = {};

export const env = {
  /** TL_MODELS_DIR: a folder holding `<model folder>/` copies of the zoo (like ../shared/models); checked before the user cache. */
  modelsDir: process.env.TL_MODELS_DIR || '',
  /** TL_CACHE_DIR: the user cache: downloaded models and the feature store live here (default ~/.cache/tl). */
  cacheDir: process.env.TL_CACHE_DIR || join(xdgCache(), 'tl'),
  /** TL_DATASETS_DIR: a folder holding `<dataset>/` copies (like ../shared/datasets); checked before downloading a demo dataset. */
  datasetsDir: process.env.TL_DATASETS_DIR || '',
  /** TL_OFFLINE=1 forbids network downloads of models and datasets. */
  allowDownloads: process.env.TL_OFFLINE !== '1',
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
    return assigned.onnxWorker ?? process.env.TL_ORT_WORKER !== '0';
  },
  set onnxWorker(v: boolean) {
    assigned.onnxWorker = v;
  },
  /**
   * TL_DEVICE: where TF.js fine-tuning runs when a run names no device: cpu (the default), webgpu, or auto (a hardware
   * GPU adapter when there is one, else cpu). Checked where it is used (src/engine/webgpu/device.ts).
   */
  get device(): string | undefined {
    return assigned.device ?? (process.env.TL_DEVICE || undefined);
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
  /** TL_QUEUE: redis://HOST:PORT of a queue of `tl worker`s (src/queue/); `tl embed` and `tl train` extract there. */
  get queue(): string | undefined {
    return assigned.queue ?? (process.env.TL_QUEUE || undefined);
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
  return process.env.TL_FEATURE_STORE || join(env.cacheDir, 'features.sqlite');
}
export function datasetCacheDir(): string {
  return join(env.cacheDir, 'datasets');
}
