// What the server and a training child process (train-child.ts) say to each other over IPC, and the toolkit settings
// a child starts with: the server's own `env` (a library user or a test may have assigned them, not only TL_*).
import { env } from '../util/env.js';
import type { TrainRequest } from './training.js';

/** The toolkit settings the child applies before training: the parent's, whatever set them. */
export interface EnvSnapshot {
  modelsDir: string;
  cacheDir: string;
  datasetsDir: string;
  allowDownloads: boolean;
  trainThreads?: number;
  finetuneMemoryMB?: number;
  onnxWorker: boolean;
  device?: string;
  maxImageBytes: number;
  webgpu: boolean;
  headKernel: 'js' | 'auto';
  headWasmMinUnits?: number;
  debug: boolean;
}

export function envSnapshot(): EnvSnapshot {
  return {
    modelsDir: env.modelsDir,
    cacheDir: env.cacheDir,
    datasetsDir: env.datasetsDir,
    allowDownloads: env.allowDownloads,
    trainThreads: env.trainThreads,
    finetuneMemoryMB: env.finetuneMemoryMB,
    onnxWorker: env.onnxWorker,
    device: env.device,
    maxImageBytes: env.maxImageBytes,
    webgpu: env.webgpu,
    headKernel: env.headKernel,
    headWasmMinUnits: env.headWasmMinUnits,
    debug: env.debug,
  };
}

export function applyEnv(s: EnvSnapshot): void {
  Object.assign(env, s);
}

/** Server → child. */
export type ToChild =
  { type: 'start'; projectsDir: string; project: string; request: TrainRequest; env: EnvSnapshot } | { type: 'cancel' };

/** Child → server, in order. */
export type FromChild =
  | { type: 'event'; event: string; data: unknown }
  | { type: 'saving' }
  /** The bundle is saved (before the 'done' event): the server loads it for predictions. */
  | { type: 'trained'; stamp: string }
  | { type: 'end'; state: 'done' | 'failed' | 'cancelled'; error: string | null; bundle: string | null };
