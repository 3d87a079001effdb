/**
 * Runs regularization path steps (l2-path.ts) on a few long-lived worker threads, so the CV can walk every fold's
 * path without paying a thread start per step. Jobs are queued and handed to whichever worker is free, so a fold can
 * go on to its next l2 while other folds finish this one (select-l2.ts: no idle core at the end of a round). Falls
 * back to this thread when workers cannot start or die; the numbers are identical either way.
 */
import type { Worker } from 'node:worker_threads';
import { startModuleWorker } from '../util/worker.js';
import { env } from '../util/env.js';
import { runPathOnKernel, type PathJob, type PathStep } from './l2-path.js';

type Reply = { id: number; step?: PathStep; error?: string };
interface Task {
  job: PathJob;
  resolve: (step: PathStep) => void;
  reject: (error: Error) => void;
}

export class PathPool {
  private readonly queue: Task[] = [];
  private readonly idle: Worker[];
  /** Jobs run here one after another (no workers, or they died). */
  private here: Promise<unknown> = Promise.resolve();
  private closed = false;

  private constructor(private workers: Worker[]) {
    this.idle = [...workers];
  }

  /** `threads` <= 1 runs every job in this thread. */
  static start(threads: number): PathPool {
    const workers: Worker[] = [];
    try {
      for (let i = 0; i < threads && threads > 1; i++)
        workers.push(startModuleWorker(import.meta.url, 'l2-path-worker'));
    } catch {
      // A worker that cannot start (e.g. an unusual loader setup) must not fail training: run serially instead.
      for (const w of workers) void w.terminate();
      return new PathPool([]);
    }
    return new PathPool(workers);
  }

  /** Worker threads running jobs (0: all run in this thread, one after another). */
  get threads(): number {
    return this.workers.length;
  }

  /** Queues one job; resolves with its step. */
  submit(job: PathJob): Promise<PathStep> {
    return new Promise((resolve, reject) => {
      const task = { job, resolve, reject };
      if (this.workers.length === 0) return this.runHere(task);
      this.queue.push(task);
      this.pump();
    });
  }

  /** Results come back in job order. */
  run(jobs: PathJob[]): Promise<PathStep[]> {
    return Promise.all(jobs.map((job) => this.submit(job)));
  }

  /** Forgets the jobs not started yet (their promises never settle): a walk that stopped no longer needs them. */
  dropQueued(): void {
    this.queue.length = 0;
  }

  private runHere(task: Task): void {
    const next = this.here.then(() => runPathOnKernel(task.job));
    this.here = next.catch(() => undefined);
    next.then(task.resolve, task.reject);
  }

  private pump(): void {
    while (this.idle.length > 0 && this.queue.length > 0) this.dispatch(this.idle.pop()!, this.queue.shift()!);
  }

  private dispatch(worker: Worker, task: Task): void {
    const cleanup = () => {
      worker.off('message', onMessage);
      worker.off('error', onFailure);
      worker.off('exit', onFailure);
    };
    const onMessage = (message: Reply) => {
      cleanup();
      this.idle.push(worker);
      if (message.error !== undefined) task.reject(new Error(message.error));
      else task.resolve(message.step!);
      this.pump();
    };
    const onFailure = (error: unknown) => {
      cleanup();
      if (this.closed) return; // close() ended a job nobody waits for any more
      if (env.debug) console.error('path pool: a worker failed, its jobs run in this thread:', error);
      this.workers = this.workers.filter((w) => w !== worker);
      void worker.terminate();
      this.runHere(task);
      if (this.workers.length === 0) for (const queued of this.queue.splice(0)) this.runHere(queued);
    };
    worker.on('message', onMessage);
    worker.on('error', onFailure);
    worker.on('exit', onFailure);
    worker.postMessage({ id: 0, job: task.job });
  }

  async close(): Promise<void> {
    this.closed = true;
    this.queue.length = 0;
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}
