// The one job the queue carries today: embed a shard of images with one backbone. Plain JSON (BullMQ stores job data
// and return values as JSON in Redis): bytes and vectors travel as base64.
import { hostname } from 'node:os';
import { sha256 } from '../util/hash.js';

/** BullMQ queue name and key prefix: every tl key in Redis starts with `tl:tl-embed:`. */
export const EMBED_QUEUE = 'tl-embed';
export const QUEUE_PREFIX = 'tl';
/**
 * Wait out one poll interval for job `id`, or less when a QueueEvents listener calls `wakers.get(id)` (completed,
 * failed, removed): the coordinator and the training queue both wait so, polling in case an event is missed.
 */
export function pollOrWake(wakers: Map<string, () => void>, id: string, ms: number): Promise<void> {
  return new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms);
    wakers.set(id, () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/** Bumped when the job's fields change: a worker refuses a job of another version instead of misreading it. */
export const EMBED_JOB_VERSION = 1;

export interface EmbedJobModel {
  /** Zoo or registered id the worker loads (loadFeatureBackbone: same zoo, checksums, TL_MODELS_DIR rules). */
  id: string;
  /** The feature store's model key (weights + preprocessing + feature tensor): the worker must compute the same. */
  key: string;
  weightsHash: string;
  dim: number;
}

export interface EmbedJobImage {
  /** Read on the worker when `bytes` is absent: workers then share the coordinator's file system. */
  path: string;
  /** sha256 of the bytes: a worker refuses a file that changed since the coordinator hashed it. */
  hash: string;
  /** base64 file bytes (`--ship-images`). */
  bytes?: string;
}

export interface EmbedJobData {
  v: number;
  model: EmbedJobModel;
  images: EmbedJobImage[];
}

export interface EmbedJobResult {
  /** host:pid of the worker that ran it. */
  worker: string;
  /** images.length x dim float32 (little-endian, as the store keeps them), base64; zeros where a failure is listed. */
  vectors: string;
  failures: { index: number; reason: string }[];
}

/** Same model key + same images = same job id: a shard submitted twice (a rerun) is one job, run once. */
export function embedJobId(modelKey: string, hashes: string[]): string {
  return `embed-${sha256(`${modelKey}\n${hashes.join('\n')}`).slice(0, 40)}`;
}

export function encodeVectors(vectors: (Float32Array | undefined)[], dim: number): string {
  const all = new Float32Array(vectors.length * dim);
  vectors.forEach((v, i) => v && all.set(v, i * dim));
  return Buffer.from(all.buffer).toString('base64');
}

/** Vectors of a result, undefined where a failure is listed; a result of the wrong size is refused. */
export function decodeVectors(r: EmbedJobResult, count: number, dim: number): (Float32Array | undefined)[] {
  const bytes = Buffer.from(r.vectors, 'base64');
  if (bytes.byteLength !== count * dim * 4)
    throw new Error(`worker ${r.worker} returned ${bytes.byteLength} bytes for ${count} vectors of ${dim} floats`);
  const failed = new Set(r.failures.map((f) => f.index));
  return Array.from({ length: count }, (_, i) => {
    if (failed.has(i)) return undefined;
    const v = new Float32Array(dim);
    new Uint8Array(v.buffer).set(bytes.subarray(i * dim * 4, (i + 1) * dim * 4));
    return v;
  });
}

/** This process, as a worker names itself in results and refusals. */
export function processName(): string {
  return `${hostname()}:${process.pid}`;
}
