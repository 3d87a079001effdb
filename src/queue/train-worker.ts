// `tl worker`'s training side: a BullMQ Worker on the training queue that runs each job with the training function it
// is given (the CLI gives it serve's: the same train-child.ts process `tl serve` runs without a queue), passes the run's
// messages on as BullMQ progress, and returns its end. The run happens in a child process, so this event loop stays
// free to renew the job's lock however long a training step blocks; a worker that dies stops renewing it, and BullMQ's
// stalled check hands the job to another worker. The page's cancel arrives as a flag in the job's data, checked every
// second; the run stops at its next check between batches or epochs.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Queue, UnrecoverableError, Worker, type Job } from 'bullmq';
import { redisOptions } from './connection.js';
import { processName, QUEUE_PREFIX } from './jobs.js';
import {
  TRAIN_JOB_VERSION,
  TRAIN_QUEUE,
  type TrainJobData,
  type TrainJobMessage,
  type TrainJobProgress,
  type TrainJobResult,
} from './train-jobs.js';

/** Runs one training job to its end (rejects when its process crashed: BullMQ tries it again). */
export type TrainJobRunner = (
  data: TrainJobData,
  report: (message: TrainJobMessage) => void,
  signal: AbortSignal,
) => Promise<Omit<TrainJobResult, 'worker'>>;

export interface TrainWorkerOptions {
  url: string;
  run: TrainJobRunner;
  /** A dead worker's job goes to another after about this long without a lock renewal (default 30 s). */
  lockDurationMs?: number;
  log?: (line: string) => void;
}

const CANCEL_POLL_MS = 1000;

export class TrainWorker {
  readonly name = processName();
  jobs = 0;
  private readonly worker: Worker<TrainJobData, TrainJobResult>;
  private readonly queue: Queue<TrainJobData, TrainJobResult>;
  private readonly log: (line: string) => void;

  constructor(private readonly opts: TrainWorkerOptions) {
    this.log = opts.log ?? (() => {});
    const lockDuration = opts.lockDurationMs ?? 30_000;
    const connection = redisOptions(opts.url);
    this.queue = new Queue<TrainJobData, TrainJobResult>(TRAIN_QUEUE, { connection, prefix: QUEUE_PREFIX });
    this.queue.on('error', () => {}); // the Worker's own 'error' says Redis is lost, once
    this.worker = new Worker<TrainJobData, TrainJobResult>(
      TRAIN_QUEUE,
      (job, _token, signal) => this.process(job, signal),
      {
        connection,
        prefix: QUEUE_PREFIX,
        // One training at a time: it already uses every core.
        concurrency: 1,
        lockDuration,
        stalledInterval: lockDuration,
        maxStalledCount: 2,
        autorun: false,
      },
    );
    this.worker.on('error', () => {}); // EmbedWorker logs the lost connection for the process
  }

  async start(): Promise<void> {
    void this.worker.run();
    await Promise.all([this.worker.waitUntilReady(), this.queue.waitUntilReady()]);
  }

  /** Finish the training in hand, take no more. */
  async stop(): Promise<void> {
    await this.worker.close();
    await this.queue.close();
  }

  private refuse(job: Job<TrainJobData>, reason: string): never {
    this.log(`refused training job ${job.id}: ${reason}`);
    throw new UnrecoverableError(`worker ${this.name} refused it: ${reason}`);
  }

  private async process(job: Job<TrainJobData, TrainJobResult>, bullSignal?: AbortSignal): Promise<TrainJobResult> {
    const data = job.data;
    if (data.v !== TRAIN_JOB_VERSION)
      this.refuse(
        job,
        `job format ${data.v}, this worker reads format ${TRAIN_JOB_VERSION} (update tl on every machine)`,
      );
    if (!existsSync(join(data.projectsDir, data.project)))
      this.refuse(
        job,
        `cannot see the project folder ${join(data.projectsDir, data.project)} here (workers that train for tl serve --queue must see the server's projects folder at the same path)`,
      );
    const stop = new AbortController();
    bullSignal?.addEventListener('abort', () => stop.abort(), { once: true });
    if (data.cancel) stop.abort();
    const poll = setInterval(() => {
      Promise.resolve(this.queue.getJob(job.id!)).then(
        (now) => (!now || now.data.cancel) && stop.abort(),
        () => {}, // Redis away for a moment: ask again next time
      );
    }, CANCEL_POLL_MS);
    let sent: Promise<unknown> = Promise.resolve();
    const report = (message: TrainJobMessage) => {
      const p: TrainJobProgress = { worker: this.name, message };
      sent = sent.then(() => job.updateProgress(p as unknown as object)).catch(() => {});
    };
    this.log(
      `training ${data.project} (job ${job.id}${job.attemptsStarted > 1 ? `, attempt ${job.attemptsStarted}` : ''})`,
    );
    const started = Date.now();
    try {
      const end = await this.opts.run(data, report, stop.signal);
      await sent; // every message is in Redis before the job completes
      this.jobs++;
      this.log(`job ${job.id} ended ${end.state} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
      return { ...end, worker: this.name };
    } finally {
      clearInterval(poll);
    }
  }
}
