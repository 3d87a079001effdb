// Turns image files into feature vectors with a bounded pipeline: a few workers read, hash and decode files while
// the backbone runs the previous batch; cache hits skip decoding; each finished batch is committed to the store.
import { availableParallelism } from 'node:os';
import type { Backbone } from '../backbone/types.js';
import { fuseVectors, isFusedBackbone, type FusedBackbone } from '../backbone/fused.js';
import { preprocess } from '../data/image.js';
import { readImageBytes } from '../data/image-file.js';
import type { SkippedFile } from '../data/files.js';
import { roundToF16 } from '../util/f16.js';
import { FeatureStore } from './store.js';
import { CachePlan } from './cache-plan.js';
import { canExtractRemotely, extractRemote, type RemoteExtractor } from './extract-remote.js';

export interface ExtractProgress {
  total: number;
  done: number;
  /** Embedded by the backbone in this run. */
  embedded: number;
  /** Found in the feature store. */
  cached: number;
  skipped: number;
  elapsedMs: number;
}

export interface ExtractOptions {
  store?: FeatureStore;
  batchSize?: number;
  /** Files read + decoded at once; bounds memory (each in-flight image is ~0.6 MB as floats). */
  decodeConcurrency?: number;
  onProgress?: (p: ExtractProgress) => void;
  /** Called once per unreadable file; the run goes on. */
  onSkip?: (s: SkippedFile) => void;
  /** Stop early (e.g. Ctrl-C); what was committed stays committed. */
  signal?: AbortSignal;
  /**
   * Run the backbone elsewhere (src/queue/: `tl worker`s on a queue): the store and the cache lookups stay here.
   * Backbone features only; other vectors (rung 2's cut activations) are still extracted here.
   */
  remote?: RemoteExtractor;
}

export interface ExtractResult {
  /** features[i] belongs to paths[i]; undefined where the file was skipped. */
  features: (Float32Array | undefined)[];
  contentHashes: (string | undefined)[];
  skipped: SkippedFile[];
  embedded: number;
  cached: number;
  elapsedMs: number;
}

type Ready = { index: number; hash: string; input: Float32Array };

/** Features for every path, from the store where possible, computing and storing the rest. */
export async function extractFeatures(
  backbone: Backbone,
  paths: string[],
  opts: ExtractOptions = {},
): Promise<ExtractResult> {
  return isFusedBackbone(backbone) ? extractFused(backbone, paths, opts) : extractOne(backbone, paths, opts);
}

/**
 * A fused model: each part extracted (and cached) under its own key, one after the other, then the vectors fused.
 * Progress counts vectors (images x parts); a file unreadable for one part is skipped for all.
 */
async function extractFused(backbone: FusedBackbone, paths: string[], opts: ExtractOptions): Promise<ExtractResult> {
  const ownStore = !opts.store;
  const store = opts.store ?? FeatureStore.open();
  const start = Date.now();
  const results: ExtractResult[] = [];
  const skippedPaths = new Set<string>();
  const total = paths.length * backbone.parts.length;
  let before = { done: 0, embedded: 0, cached: 0 };
  try {
    for (const part of backbone.parts) {
      if (opts.signal?.aborted) break;
      const r = await extractOne(part, paths, {
        ...opts,
        store,
        onSkip: (s) => {
          if (skippedPaths.has(s.path)) return;
          skippedPaths.add(s.path);
          opts.onSkip?.(s);
        },
        onProgress: (p) =>
          opts.onProgress?.({
            total,
            done: before.done + p.done,
            embedded: before.embedded + p.embedded,
            cached: before.cached + p.cached,
            skipped: skippedPaths.size,
            elapsedMs: Date.now() - start,
          }),
      });
      results.push(r);
      before = {
        done: before.done + paths.length,
        embedded: before.embedded + r.embedded,
        cached: before.cached + r.cached,
      };
    }
  } finally {
    if (ownStore) store.close();
  }
  const complete = results.length === backbone.parts.length;
  const features = paths.map((_, i) =>
    complete && results.every((r) => r.features[i]) ? fuseVectors(results.map((r) => r.features[i]!)) : undefined,
  );
  const first = results[0];
  return {
    features,
    contentHashes: first?.contentHashes ?? new Array(paths.length),
    skipped: [...new Map(results.flatMap((r) => r.skipped).map((s) => [s.path, s])).values()],
    embedded: before.embedded,
    cached: before.cached,
    elapsedMs: Date.now() - start,
  };
}

async function extractOne(backbone: Backbone, paths: string[], opts: ExtractOptions): Promise<ExtractResult> {
  if (opts.remote && canExtractRemotely(backbone)) return extractRemote(backbone, paths, opts.remote, opts);
  const plan = new CachePlan(backbone, paths, opts);
  const { store, model } = plan;
  const batchSize = opts.batchSize ?? 32;
  const concurrency = opts.decodeConcurrency ?? Math.max(4, availableParallelism() * 2);
  const maxQueued = batchSize * 2; // decoded images waiting for the backbone: the memory bound

  const queue: Ready[] = [];
  let next = 0;
  let producersLeft = 0;
  let wakeConsumer: (() => void) | undefined;
  const spaceWaiters: (() => void)[] = [];
  const notifyConsumer = () => {
    const w = wakeConsumer;
    wakeConsumer = undefined;
    w?.();
  };

  const skip = (index: number, reason: string) => {
    plan.skip(index, reason);
    plan.progress();
  };

  // Producers: read, hash, look up, decode. Bounded by `concurrency` and by the queue size.
  const producer = async () => {
    while (next < paths.length && !opts.signal?.aborted) {
      const index = next++;
      if (plan.takeRememberedHit(index)) continue;
      let bytes: Buffer;
      try {
        bytes = await readImageBytes(paths[index]);
      } catch (err) {
        skip(index, (err as Error).message);
        continue;
      }
      const { hash, hit } = plan.lookup(index, bytes);
      if (hit) continue;
      let input: Float32Array;
      try {
        input = await preprocess(bytes, backbone.input);
      } catch (err) {
        skip(index, (err as Error).message);
        continue;
      }
      while (queue.length >= maxQueued) await new Promise<void>((r) => spaceWaiters.push(r));
      queue.push({ index, hash, input });
      if (queue.length >= batchSize) notifyConsumer();
    }
  };

  const producers = Array.from({ length: Math.min(concurrency, Math.max(1, paths.length)) }, () => {
    producersLeft++;
    return producer().finally(() => {
      producersLeft--;
      notifyConsumer();
    });
  });

  // Consumer: run the backbone on full batches (or the remainder at the end) and commit each batch.
  let failure: unknown;
  const consumer = (async () => {
    for (;;) {
      if (queue.length < batchSize && producersLeft > 0) {
        await new Promise<void>((r) => (wakeConsumer = r));
        continue;
      }
      if (queue.length === 0) return;
      const batch = queue.splice(0, batchSize);
      spaceWaiters.splice(0).forEach((w) => w());
      const vectors = await backbone.embed(batch.map((b) => b.input));
      store.putMany(
        model.key,
        batch.map((b, i) => ({ contentHash: b.hash, vector: vectors[i] })),
      );
      // A fresh vector is handed on as the store gives it back (float16-rounded cut activations), so a first run and
      // a cached rerun train on the same numbers: same seed, same weights, whatever is in the cache.
      batch.forEach(
        (b, i) => (plan.features[b.index] = model.encoding === 'f16' ? roundToF16(vectors[i]) : vectors[i]),
      );
      plan.embedded += batch.length;
      plan.progress();
    }
  })().catch((err) => {
    failure = err;
    next = paths.length; // stop producers
    spaceWaiters.splice(0).forEach((w) => w());
  });

  await Promise.all(producers);
  notifyConsumer();
  await consumer;
  plan.finish();
  if (failure) throw failure;
  return plan.result();
}
