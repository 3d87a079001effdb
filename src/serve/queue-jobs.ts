// `tl serve --queue`: training jobs run on `tl worker`s through BullMQ instead of in a child process here. The server
// keeps its job records: each message a worker's run sends as BullMQ progress becomes the same job event, 'saving'
// and 'trained' moment a local training child sends over IPC, so the page's event stream is the same; the bundle is
// saved by the worker into the project's bundles folder (workers share the projects folder, at the same path).
import { TRAIN_JOB_VERSION, type TrainJobMessage } from '../queue/train-jobs.js';
import { TrainQueue, type TrainQueueOptions } from '../queue/train-queue.js';
import type { RunnerDeps, TrainingRunner } from './job-runner.js';
import type { Job } from './jobs.js';
import { stripProjectDir, type TrainRequest } from './training.js';

export interface QueueServeOptions extends TrainQueueOptions {
  /** redis://HOST:PORT of the queue the `tl worker`s take jobs from. */
  url: string;
}

export class QueueRunner implements TrainingRunner {
  private constructor(
    readonly queue: TrainQueue,
    private readonly deps: RunnerDeps,
  ) {}

  /** Check Redis answers (one clear line if not) and open the training queue. */
  static async connect(opts: QueueServeOptions, deps: RunnerDeps): Promise<QueueRunner> {
    return new QueueRunner(await TrainQueue.connect(opts.url, opts), deps);
  }

  async run(job: Job, request: TrainRequest): Promise<void> {
    const { store, projectModels, log } = this.deps;
    const project = job.project;
    store.busy.add(project);
    let worker: string | undefined;
    // Messages are handled one after another: the bundle is loaded for predictions before 'done' is passed on.
    let chain = Promise.resolve();
    const handle = async (m: TrainJobMessage) => {
      if (job.finished) return;
      if (m.type === 'event') job.emit(m.event, m.data);
      else if (m.type === 'saving') job.saving = true;
      else if (m.type === 'trained')
        await projectModels.get(project).catch((err: Error) => {
          log(`loading the new classifier of ${project} (${m.stamp}) failed: ${err.message}`);
        });
    };
    const onMessage = (m: TrainJobMessage, from: string) => {
      if (from !== worker) log(`training job ${job.id} of ${project} runs on worker ${(worker = from)}`);
      chain = chain.then(() => handle(m));
    };
    try {
      const end = await this.queue
        .run(
          job.id,
          { v: TRAIN_JOB_VERSION, projectsDir: store.root, project, request },
          { onMessage, cancel: job.controller.signal },
        )
        .catch((err: Error) => ({
          state: 'failed' as const,
          error: `training on the queue failed: ${err.message}`,
          bundle: null,
          queueFailure: true,
        }));
      await chain;
      if (job.finished) return;
      // The server is closing: the job goes on on its worker; job.json stays, so the next start rejoins it.
      if (end === 'detached') return job.finish('cancelled');
      if (end.state === 'failed' && end.queueFailure) {
        const message = stripProjectDir(end.error ?? 'training failed on the queue', store.dir(project));
        log(`training job ${job.id} of ${project}: ${message}`);
        job.emit('failed', { message });
        return job.finish('failed', { error: message });
      }
      job.finish(end.state, { error: end.error ?? undefined, bundle: end.bundle ?? undefined });
    } finally {
      store.busy.delete(project);
    }
  }

  async close(): Promise<void> {
    await this.queue.close();
  }
}
