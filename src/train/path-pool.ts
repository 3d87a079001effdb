/**
 * Runs regularization path steps (l2-path.ts) on a few long-lived worker threads, so the CV can walk every fold's
 * path in lockstep (one grid value at a time, to decide between values whether to go on) without paying a thread
 * start per step. Falls back to this thread when workers cannot start; the numbers are identical either way.
 */
import type { Worker } from 'node:worker_threads';
import { startModuleWorker } from '../util/worker.js';
import { runPathOnKernel, type PathJob, type PathStep } from './l2-path.js';

type Reply = { id: number; step?: PathStep; error?: string };

export class PathPool {
  private constructor(private readonly workers: Worker[]) {}

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

  /** Results come back in job order. */
  async run(jobs: PathJob[]): Promise<PathStep[]> {
    if (this.workers.length === 0 || jobs.length === 1) return this.runHere(jobs);
    try {
      return await this.runInWorkers(jobs);
    } catch (error) {
      if (process.env.TL_DEBUG) console.error('path pool: falling back to this thread:', error);
      await this.close();
      this.workers.length = 0;
      return this.runHere(jobs);
    }
  }

  private async runHere(jobs: PathJob[]): Promise<PathStep[]> {
    const steps: PathStep[] = [];
    for (const job of jobs) steps.push(await runPathOnKernel(job));
    return steps;
  }

  private runInWorkers(jobs: PathJob[]): Promise<PathStep[]> {
    const results: PathStep[] = new Array(jobs.length);
    let nextJob = 0;
    return Promise.all(
      this.workers.map(
        (worker) =>
          new Promise<void>((resolve, reject) => {
            const cleanup = () => {
              worker.off('message', onMessage);
              worker.off('error', reject);
              worker.off('exit', onExit);
            };
            const sendNext = () => {
              if (nextJob >= jobs.length) {
                cleanup();
                return resolve();
              }
              const id = nextJob++;
              worker.postMessage({ id, job: jobs[id] });
            };
            const onMessage = (message: Reply) => {
              if (message.error !== undefined) {
                cleanup();
                return reject(new Error(message.error));
              }
              results[message.id] = message.step!;
              sendNext();
            };
            const onExit = (code: number) => {
              cleanup();
              reject(new Error(`CV worker exited with code ${code}`));
            };
            worker.on('message', onMessage);
            worker.on('error', reject);
            worker.on('exit', onExit);
            sendNext();
          }),
      ),
    ).then(() => results);
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}
