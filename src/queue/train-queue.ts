// The server's side of training on the queue (`tl serve --queue`): submit a project's training job (or find the one a
// restarted server left), pass its progress messages on, cancel it, and wait for its end. Waiting polls the job's
// state and wakes early on QueueEvents (as the embedding coordinator does), so a missed event costs a poll interval,
// never a hang. Retries, stalled-job detection and the events themselves are BullMQ's.
import { Queue, QueueEvents, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { displayUrl, healthConnection, probeRedis, redisOptions } from './connection.js';
import { pollOrWake, QUEUE_PREFIX } from './jobs.js';
import {
  TRAIN_QUEUE,
  trainJobId,
  type TrainJobData,
  type TrainJobMessage,
  type TrainJobProgress,
  type TrainJobResult,
} from './train-jobs.js';

/** How a queued training run ended, as the server records it. */
export interface TrainJobEnd {
  state: 'done' | 'failed' | 'cancelled';
  error: string | null;
  bundle: string | null;
  /** The queue failed it (a worker refused it, died too often, Redis was lost): no 'failed' event came from training. */
  queueFailure: boolean;
}

export interface TrainQueueOptions {
  /** Fail the runs waiting on Redis when it has been unreachable this long (default 30 s). */
  lostAfterMs?: number;
}

export interface TrainRunHandlers {
  /** Each message of the run, in order; a retried run's messages start again from its first. */
  onMessage(message: TrainJobMessage, worker: string): void;
  /** The page cancelled: the job is removed if no worker has it yet, else the worker is told to stop. */
  cancel: AbortSignal;
}

type TrainBullQueue = Queue<TrainJobData, TrainJobResult, string, TrainJobData, TrainJobResult, string>;

const POLL_MS = 2000;
/** Progress events kept in Redis's stream (each a small JSON message; the server reads them as they come). */
const EVENTS_KEPT = 2000;

export class TrainQueue {
  private readonly listeners = new Map<string, (p: TrainJobProgress) => void>();
  private readonly wake = new Map<string, () => void>();
  private readonly lostWaiters = new Set<(message: string) => void>();
  private lostMessage?: string;
  private closing = false;
  private readonly detachWaiters = new Set<() => void>();
  private watchdog?: NodeJS.Timeout;
  private health?: Redis;

  private constructor(
    readonly url: string,
    readonly redisVersion: string,
    private readonly queue: TrainBullQueue,
    private readonly events: QueueEvents,
  ) {
    events.on('progress', ({ jobId, data }) => {
      if (data && typeof data === 'object') this.listeners.get(jobId)?.(data as unknown as TrainJobProgress);
    });
    events.on('completed', ({ jobId }) => this.wake.get(jobId)?.());
    events.on('failed', ({ jobId }) => this.wake.get(jobId)?.());
    events.on('removed', ({ jobId }) => this.wake.get(jobId)?.());
  }

  /** Check Redis answers (one clear line if not), then open the queue and its event stream. */
  static async connect(url: string, opts: TrainQueueOptions = {}): Promise<TrainQueue> {
    const { version } = await probeRedis(url);
    const connection = redisOptions(url);
    const queue: TrainBullQueue = new Queue(TRAIN_QUEUE, {
      connection,
      prefix: QUEUE_PREFIX,
      streams: { events: { maxLen: EVENTS_KEPT } },
    });
    const events = new QueueEvents(TRAIN_QUEUE, { connection, prefix: QUEUE_PREFIX });
    // Reported by the watchdog (one line per job, after lostAfterMs), not once per reconnect attempt.
    queue.on('error', () => {});
    events.on('error', () => {});
    await Promise.all([queue.waitUntilReady(), events.waitUntilReady()]);
    const q = new TrainQueue(url, version, queue, events);
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
        this.lostMessage = undefined; // back: new jobs go to the queue again
        return;
      }
      downSince ??= Date.now();
      if (Date.now() - downSince < lostAfterMs || this.lostMessage) return;
      this.lostMessage = `lost the queue at ${displayUrl(this.url)}: Redis has not answered for ${Math.round(lostAfterMs / 1000)} s (start Redis again and train again; the server keeps running)`;
      this.lostWaiters.forEach((w) => w(this.lostMessage!));
    }, 500);
    this.watchdog.unref();
  }

  /**
   * Run (or, after a server restart, rejoin) the training job of server job `serverJobId` to its end. Resolves
   * 'detached' when the server closes first: the job goes on on its worker, and a restarted server rejoins it.
   */
  async run(serverJobId: string, data: TrainJobData, h: TrainRunHandlers): Promise<TrainJobEnd | 'detached'> {
    const id = trainJobId(serverJobId);
    this.listeners.set(id, (p) => h.onMessage(p.message, p.worker));
    let stop: ((end: TrainJobEnd | 'detached') => void) | undefined;
    const stopped = new Promise<TrainJobEnd | 'detached'>((resolve) => (stop = resolve));
    const onLost = (message: string) => stop!({ state: 'failed', error: message, bundle: null, queueFailure: true });
    const onDetach = () => stop!('detached');
    const onCancel = () =>
      void this.cancel(id).then(
        (removed) => removed && this.wake.get(id)?.(),
        () => {}, // Redis away: the run ends by the watchdog or when the server closes
      );
    if (this.lostMessage) onLost(this.lostMessage);
    this.lostWaiters.add(onLost);
    this.detachWaiters.add(onDetach);
    h.cancel.addEventListener('abort', onCancel, { once: true });
    const following = { over: false };
    try {
      return await Promise.race([this.follow(id, data, h.cancel, following), stopped]);
    } finally {
      following.over = true; // a follow left waiting on Redis stops at its next turn
      this.listeners.delete(id);
      this.wake.delete(id);
      this.lostWaiters.delete(onLost);
      this.detachWaiters.delete(onDetach);
      h.cancel.removeEventListener('abort', onCancel);
    }
  }

  private async follow(
    id: string,
    data: TrainJobData,
    cancel: AbortSignal,
    following: { over: boolean },
  ): Promise<TrainJobEnd> {
    let job: Job<TrainJobData, TrainJobResult, string> | undefined = await this.queue.getJob(id);
    for (;;) {
      // run() has already resolved (detached, Redis lost): nothing waits for this any more.
      if (following.over || this.closing) return cancelled();
      if (!job) {
        if (cancel.aborted) return cancelled();
        job = await this.submit(id, data);
        // A cancel that came while the job was being added found nothing to flag: flag it now.
        if (cancel.aborted) await this.cancel(id);
      }
      const state = await job.getState();
      if (state === 'completed' || state === 'failed') {
        const end = (await this.queue.getJob(id)) ?? job;
        // The server has what it needs; the job leaves Redis (a finished job's record is no longer read).
        await end.remove().catch(() => {});
        if (state === 'failed')
          return {
            state: 'failed',
            error: `training failed on the queue: ${end.failedReason}`,
            bundle: null,
            queueFailure: true,
          };
        const r = end.returnvalue;
        return { state: r.state, error: r.error, bundle: r.bundle, queueFailure: false };
      }
      if (state === 'unknown') {
        // Removed by our cancel before a worker took it, or lost by a Redis restarted without its data.
        if (cancel.aborted) return cancelled();
        job = undefined;
        continue;
      }
      await pollOrWake(this.wake, id, POLL_MS);
    }
  }

  private submit(id: string, data: TrainJobData): Promise<Job<TrainJobData, TrainJobResult, string>> {
    return this.queue.add('train', data, {
      jobId: id,
      // A training process that crashed is tried once more; a worker that died is BullMQ's stalled check's business.
      attempts: 2,
      backoff: { type: 'fixed', delay: 2000 },
      removeOnComplete: { age: 7 * 24 * 3600 }, // the server removes it once it has read the result
      removeOnFail: { age: 7 * 24 * 3600 },
    });
  }

  /** Flag the job cancelled (its worker checks the flag) and remove it if no worker holds it yet; whether it went. */
  private async cancel(id: string): Promise<boolean> {
    const job = await this.queue.getJob(id);
    if (!job) return false;
    await job.updateData({ ...job.data, cancel: true });
    try {
      await job.remove();
      return true;
    } catch {
      return false; // a worker holds its lock: it sees the flag and ends the run cancelled
    }
  }

  /** Stop following every run (they go on on their workers) and close the connections. */
  async close(): Promise<void> {
    this.closing = true;
    this.detachWaiters.forEach((d) => d());
    clearInterval(this.watchdog);
    this.health?.disconnect();
    if (this.lostMessage) {
      await Promise.all([this.queue.disconnect(), this.events.disconnect()]).catch(() => {});
      return;
    }
    await Promise.all([this.queue.close(), this.events.close()]);
  }
}

function cancelled(): TrainJobEnd {
  return { state: 'cancelled', error: null, bundle: null, queueFailure: false };
}
