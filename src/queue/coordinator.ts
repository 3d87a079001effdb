// The coordinator's side of the queue: features/extract-remote.ts cuts shards and stores vectors; this submits each
// shard as a BullMQ job (id = hash of model key + image hashes, so a rerun finds the same job) and waits for its
// result. Waiting polls the job's state and wakes early on QueueEvents, so a missed event (Redis restarted, events
// trimmed) costs a poll interval, never a hang; a job Redis lost is submitted again.
import { Queue, QueueEvents, type Job } from 'bullmq';
import type { RemoteExtractor, RemoteShard, RemoteShardResult } from '../features/extract-remote.js';
import { TlError } from '../util/errors.js';
import type { Redis } from 'ioredis';
import { displayUrl, healthConnection, probeRedis, redisOptions } from './connection.js';
import {
  decodeVectors,
  EMBED_JOB_VERSION,
  EMBED_QUEUE,
  embedJobId,
  QUEUE_PREFIX,
  type EmbedJobData,
  type EmbedJobResult,
  pollOrWake,
} from './jobs.js';

export interface QueueExtractorOptions {
  /** Images per job (default 32). */
  shardSize?: number;
  /** Ship file bytes in the jobs (workers without this file system). */
  shipImages?: boolean;
  /** With shipImages: bytes per job at most (default 8 MiB). */
  maxShardBytes?: number;
  /** Jobs submitted and not yet stored (default 16). */
  maxInFlight?: number;
  /** Give up when Redis has been unreachable this long (default 30 s). */
  lostAfterMs?: number;
}

type EmbedQueue = Queue<EmbedJobData, EmbedJobResult, string, EmbedJobData, EmbedJobResult, string>;

/** How often a waiting shard checks its job even without an event. */
const POLL_MS = 2000;
/** Events kept in Redis's stream: each 'completed' event carries a shard's vectors, so keep few (we poll anyway). */
const EVENTS_KEPT = 64;

export class QueueExtractor implements RemoteExtractor {
  readonly shardSize: number;
  readonly shipImages: boolean;
  readonly maxShardBytes: number;
  readonly maxInFlight: number;
  /** Shards whose results came from a job that was already finished or running when submitted (a rerun). */
  reused = 0;
  /** Shards whose job ran more than once (its worker died, or it failed and was retried): BullMQ's retries. */
  retried = 0;
  private readonly progress = new Map<string, (done: number) => void>();
  private readonly wake = new Map<string, () => void>();
  private lostError?: TlError;
  private readonly lostWaiters = new Set<(err: TlError) => void>();
  private watchdog?: NodeJS.Timeout;
  private health?: Redis;

  private constructor(
    readonly url: string,
    readonly redisVersion: string,
    private readonly queue: EmbedQueue,
    private readonly events: QueueEvents,
    opts: QueueExtractorOptions,
  ) {
    this.shardSize = opts.shardSize ?? 32;
    this.shipImages = opts.shipImages ?? false;
    this.maxShardBytes = opts.maxShardBytes ?? 8 * 1024 * 1024;
    this.maxInFlight = opts.maxInFlight ?? 16;
    events.on('progress', ({ jobId, data }) => typeof data === 'number' && this.progress.get(jobId)?.(data));
    events.on('completed', ({ jobId }) => this.wake.get(jobId)?.());
    events.on('failed', ({ jobId }) => this.wake.get(jobId)?.());
  }

  /** Check Redis answers (one clear line if not), then open the queue and its event stream. */
  static async connect(url: string, opts: QueueExtractorOptions = {}): Promise<QueueExtractor> {
    const { version } = await probeRedis(url);
    const connection = redisOptions(url);
    const queue: EmbedQueue = new Queue<EmbedJobData, EmbedJobResult, string, EmbedJobData, EmbedJobResult, string>(
      EMBED_QUEUE,
      {
        connection,
        prefix: QUEUE_PREFIX,
        streams: { events: { maxLen: EVENTS_KEPT } },
      },
    );
    const events = new QueueEvents(EMBED_QUEUE, { connection, prefix: QUEUE_PREFIX });
    // Connection errors are reported by the watchdog (one line, after lostAfterMs), not once per retry.
    queue.on('error', () => {});
    events.on('error', () => {});
    await Promise.all([queue.waitUntilReady(), events.waitUntilReady()]);
    const q = new QueueExtractor(url, version, queue, events, opts);
    q.startWatchdog(opts.lostAfterMs ?? 30_000);
    return q;
  }

  /** `tl worker`s connected now. */
  workerCount(): Promise<number> {
    return this.queue.getWorkersCount();
  }

  private startWatchdog(lostAfterMs: number): void {
    let downSince: number | undefined;
    const health = (this.health = healthConnection(this.url));
    this.watchdog = setInterval(() => {
      if (health.status === 'ready') {
        downSince = undefined;
        return;
      }
      downSince ??= Date.now();
      if (Date.now() - downSince < lostAfterMs || this.lostError) return;
      this.lostError = new TlError(
        `lost the queue at ${displayUrl(this.url)}: Redis has not answered for ${Math.round(lostAfterMs / 1000)} s`,
        'Vectors returned so far are stored. Start Redis again (with --appendonly yes the queued jobs survive) and run the same command to resume.',
      );
      this.lostWaiters.forEach((w) => w(this.lostError!));
    }, 500);
    this.watchdog.unref();
  }

  /** Rejects once Redis is lost; `release` takes the waiter back when the shard ends first (no growing set). */
  private untilLost(): { lost: Promise<never>; release(): void } {
    let waiter: ((e: Error) => void) | undefined;
    const lost = new Promise<never>((_, reject) => {
      if (this.lostError) return reject(this.lostError);
      waiter = reject;
      this.lostWaiters.add(reject);
    });
    return { lost, release: () => waiter && this.lostWaiters.delete(waiter) };
  }

  async embedShard(
    shard: RemoteShard,
    onProgress: (done: number) => void,
    signal?: AbortSignal,
  ): Promise<RemoteShardResult> {
    const { model, images } = shard;
    const id = embedJobId(
      model.key,
      images.map((i) => i.hash),
    );
    const data: EmbedJobData = {
      v: EMBED_JOB_VERSION,
      model: { id: model.backboneId, key: model.key, weightsHash: model.weightsHash, dim: model.dim },
      images: images.map((i) => ({ path: i.path, hash: i.hash, bytes: i.bytes?.toString('base64') })),
    };
    this.progress.set(id, onProgress);
    // One abort listener and one lost-waiter per shard in flight, both taken back when it ends (a long run sends
    // hundreds of shards through the same signal).
    let onAbort: (() => void) | undefined;
    const aborted = new Promise<never>((_, reject) => {
      onAbort = () => reject(new TlError('interrupted'));
      signal?.addEventListener('abort', onAbort, { once: true });
    });
    const lost = this.untilLost();
    try {
      const result = await Promise.race([this.runJob(id, data), lost.lost, aborted]);
      return {
        vectors: decodeVectors(result, images.length, model.dim),
        failures: result.failures,
        release: async () => {
          await this.queue.remove(id).catch(() => 0);
        },
      };
    } finally {
      this.progress.delete(id);
      this.wake.delete(id);
      if (onAbort) signal?.removeEventListener('abort', onAbort);
      lost.release();
    }
  }

  /** Submit (or find) the job and wait until it is done; its result, or a TlError with the worker's reason. */
  private async runJob(id: string, data: EmbedJobData): Promise<EmbedJobResult> {
    let job = await this.queue.getJob(id);
    if (job && (await job.isFailed())) {
      // Failed on an earlier run (e.g. a worker refused it): try again now that the cause may be fixed.
      await job.remove();
      job = undefined;
    }
    if (job) this.reused++;
    for (;;) {
      if (!job) job = await this.submit(id, data);
      const state = await job.getState();
      if (state === 'completed') {
        const done = await this.queue.getJob(id);
        if (done?.returnvalue) {
          if (done.attemptsStarted > 1 || done.stalledCounter > 0) this.retried++;
          return done.returnvalue;
        }
        job = undefined; // removed between the two reads (another coordinator stored it): run it again
        continue;
      }
      if (state === 'failed') {
        const failed = (await this.queue.getJob(id)) ?? job;
        throw new TlError(
          `a shard of ${data.images.length} images (job ${id}) failed on the queue: ${failed.failedReason}`,
          'Vectors returned so far are stored; fix the cause and run the same command again to resume.',
        );
      }
      if (state === 'unknown') {
        job = undefined; // Redis lost it (restarted without its data): submit it again
        continue;
      }
      await pollOrWake(this.wake, id, POLL_MS);
    }
  }

  private submit(id: string, data: EmbedJobData): Promise<Job<EmbedJobData, EmbedJobResult, string>> {
    return this.queue.add('embed', data, {
      jobId: id,
      attempts: 3,
      backoff: { type: 'exponential', delay: 2000 },
      removeOnComplete: false, // the coordinator removes a job once its vectors are stored
      removeOnFail: { age: 7 * 24 * 3600 },
    });
  }

  async close(): Promise<void> {
    clearInterval(this.watchdog);
    this.health?.disconnect();
    // A lost Redis would make close wait for it: then just drop the connections.
    if (this.lostError) {
      await Promise.all([this.queue.disconnect(), this.events.disconnect()]).catch(() => {});
      return;
    }
    await Promise.all([this.queue.close(), this.events.close()]);
  }
}
