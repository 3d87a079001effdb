// Extraction whose forward passes run elsewhere (src/queue/: `tl worker`s behind a BullMQ queue) while the cache
// stays here: this process reads and hashes each file, answers what the store holds, cuts only the missing images
// into shards (in path order, so a rerun cuts the same shards) and stores each shard's returned vectors in one
// transaction, exactly as local extraction does.
import type { Backbone } from '../backbone/types.js';
import { readImageBytes } from '../data/image-file.js';
import { TlError } from '../util/errors.js';
import type { ModelKeyInfo } from './store.js';
import { CachePlan } from './cache-plan.js';
import type { ExtractOptions, ExtractResult } from './extract.js';

export interface RemoteShardImage {
  path: string;
  /** sha256 of the file's bytes: the store's key, and the worker checks it before embedding. */
  hash: string;
  /** The file's bytes, when workers do not share this file system (`--ship-images`). */
  bytes?: Buffer;
}

export interface RemoteShard {
  /** The backbone to run: its id, and the key + weights hash the worker must reproduce. */
  model: ModelKeyInfo;
  images: RemoteShardImage[];
}

export interface RemoteShardResult {
  /** vectors[i] belongs to images[i]; undefined where the worker could not read or decode it (see failures). */
  vectors: (Float32Array | undefined)[];
  failures: { index: number; reason: string }[];
  /** Called once the vectors are stored: the queue may then forget the shard. */
  release(): Promise<void>;
}

/** Runs shards of images through a backbone somewhere else (src/queue/coordinator.ts). */
export interface RemoteExtractor {
  /** Images per shard (one job). */
  readonly shardSize: number;
  /** Ship the files' bytes in the job instead of their paths. */
  readonly shipImages: boolean;
  /** With shipImages: bytes per shard at most (a shard is cut early rather than grow past it). */
  readonly maxShardBytes: number;
  /** Shards submitted and not yet stored: bounds this process's memory and the queue's. */
  readonly maxInFlight: number;
  /** `onProgress(n)`: n images of this shard are embedded so far. */
  embedShard(shard: RemoteShard, onProgress: (done: number) => void, signal?: AbortSignal): Promise<RemoteShardResult>;
}

/** Files read and hashed ahead of the one being sorted into cache hits and shards. */
const READ_AHEAD = 16;

/** Plain backbone features only: cut activations (rung 2) and fine-tuned tails are extracted where they are trained. */
export function canExtractRemotely(backbone: Backbone): boolean {
  return !backbone.vectors;
}

export async function extractRemote(
  backbone: Backbone,
  paths: string[],
  remote: RemoteExtractor,
  opts: ExtractOptions,
): Promise<ExtractResult> {
  if (!canExtractRemotely(backbone))
    throw new TlError(
      `${backbone.id}: these vectors (${backbone.vectors?.source}) are not extracted on the queue, only backbone features are`,
      'Leave --queue out for this run.',
    );
  /** Images of shards in flight already embedded by a worker (their progress events), by shard. */
  const partial = new Map<number, number>();
  const plan = new CachePlan(backbone, paths, opts, () => {
    let running = 0;
    for (const n of partial.values()) running += n;
    return running;
  });
  const { store, model } = plan;

  // Indices waiting for a hash already in a shard (the same photo under two names): filled when it returns.
  const waiting = new Map<string, number[]>();
  let shard: { images: RemoteShardImage[]; bytes: number } = { images: [], bytes: 0 };
  const inFlight = new Set<Promise<void>>();
  let failure: unknown;
  let shardCount = 0;

  const launch = (images: RemoteShardImage[]) => {
    const id = shardCount++;
    partial.set(id, 0);
    const p = remote
      .embedShard(
        { model, images },
        (done) => {
          partial.set(id, Math.min(done, images.length));
          plan.progress();
        },
        opts.signal,
      )
      .then(async (r) => {
        const ok = images.flatMap((img, i) => (r.vectors[i] ? [{ contentHash: img.hash, vector: r.vectors[i]! }] : []));
        store.putMany(model.key, ok);
        for (const [i, img] of images.entries()) {
          const indices = waiting.get(img.hash) ?? [];
          waiting.delete(img.hash);
          const v = r.vectors[i];
          const reason = r.failures.find((f) => f.index === i)?.reason ?? 'no vector came back';
          for (const index of indices) {
            if (v) plan.features[index] = v;
            else plan.skip(index, reason);
          }
          if (v) plan.embedded += indices.length;
        }
        partial.delete(id);
        plan.progress();
        await r.release();
      })
      .catch((err) => {
        failure ??= err;
      })
      .finally(() => inFlight.delete(p));
    inFlight.add(p);
  };

  const flush = async () => {
    if (shard.images.length === 0) return;
    while (inFlight.size >= remote.maxInFlight && !failure) await Promise.race(inFlight);
    if (failure) return;
    launch(shard.images);
    shard = { images: [], bytes: 0 };
  };

  // Read ahead in a sliding window, but sort files into hits and shards in path order: shards are deterministic.
  // A file hashed before in this process whose vector the store holds is taken as it comes up (null: nothing to read).
  const reads: Promise<Buffer | Error | null>[] = [];
  const read = (i: number) => {
    if (i >= paths.length) return;
    reads[i] = plan.takeRememberedHit(i) ? Promise.resolve(null) : readImageBytes(paths[i]).catch((err: Error) => err);
  };
  for (let i = 0; i < Math.min(READ_AHEAD, paths.length); i++) read(i);
  for (let index = 0; index < paths.length && !opts.signal?.aborted && !failure; index++) {
    const bytes = await reads[index];
    delete reads[index];
    read(index + READ_AHEAD);
    if (bytes === null) continue;
    if (bytes instanceof Error) {
      plan.skip(index, bytes.message);
      plan.progress();
      continue;
    }
    const { hash, hit } = plan.lookup(index, bytes);
    if (hit) continue;
    const pending = waiting.get(hash);
    if (pending) {
      pending.push(index);
      continue;
    }
    waiting.set(hash, [index]);
    const size = remote.shipImages ? bytes.byteLength : 0;
    if (shard.images.length > 0 && shard.bytes + size > remote.maxShardBytes) await flush();
    shard.images.push({ path: paths[index], hash, bytes: remote.shipImages ? bytes : undefined });
    shard.bytes += size;
    if (shard.images.length >= remote.shardSize) await flush();
  }
  if (!opts.signal?.aborted && !failure) await flush();
  // What comes back is stored even when another shard failed, so a rerun asks for less.
  while (inFlight.size) await Promise.race(inFlight);
  plan.finish();
  if (failure && !opts.signal?.aborted) throw failure;
  return plan.result();
}
