// Who runs a training job. The server hands a job and its request to a TrainingRunner and learns everything else
// from the job (its events, its end); with `tl serve --queue` a QueueRunner (queue-jobs.ts) replaces these two.
//   ChildProcessRunner (the default): one child process per job (train-child.ts), so training and feature extraction
//     never block the server's event loop; events arrive over IPC; a cancel is an IPC message; the child runs at a
//     lower CPU priority, so requests keep their latency while it trains.
//   InProcessRunner: runProjectTraining in the server's own process (tests that need to reach inside a run).
import type { ChildProcess } from 'node:child_process';
import type { Classifier } from '../classifier/classifier.js';
import type { BatcherOptions } from './batcher.js';
import { envSnapshot, type FromChild, type ToChild } from './child-protocol.js';
import type { Job } from './jobs.js';
import { ServedModel } from './models.js';
import type { ProjectModels } from './project-models.js';
import type { ProjectStore } from './projects.js';
import { runProjectTraining, stripProjectDir, type TrainRequest } from './training.js';
import { forkTrainChild } from './train-process.js';
import { childEnd, stderrTail } from './child-fork.js';

export interface TrainingRunner {
  /** Run the job to its end; its events and final state say how it went. A cancel arrives as job.controller's abort. */
  run(job: Job, request: TrainRequest): Promise<void>;
  /** The server is closing: stop every run as soon as it can (each ends cancelled) and wait, at most `ms`. */
  close(ms: number): Promise<void>;
}

export interface RunnerDeps {
  store: ProjectStore;
  projectModels: ProjectModels;
  batching: BatcherOptions;
  log: (line: string) => void;
}

export class InProcessRunner implements TrainingRunner {
  private running = new Set<Promise<void>>();
  private jobs = new Set<Job>();
  constructor(private deps: RunnerDeps) {}

  async run(job: Job, request: TrainRequest): Promise<void> {
    const { store, projectModels, batching, log } = this.deps;
    const saved = async (stamp: string, dir: string, classifier: Classifier) =>
      projectModels.set(job.project, stamp, ServedModel.wrap(job.project, dir, classifier, batching));
    const run = runProjectTraining(job, store, request, saved, log);
    this.running.add(run);
    this.jobs.add(job);
    try {
      await run;
    } finally {
      this.running.delete(run);
      this.jobs.delete(job);
    }
  }

  async close(ms: number): Promise<void> {
    for (const j of this.jobs) j.controller.abort();
    await settleWithin([...this.running], ms);
  }
}

export class ChildProcessRunner implements TrainingRunner {
  private children = new Map<ChildProcess, Promise<void>>();
  private closing = false;
  constructor(private deps: RunnerDeps) {}

  run(job: Job, request: TrainRequest): Promise<void> {
    const { store, projectModels, log } = this.deps;
    const project = job.project;
    store.busy.add(project);
    const child = forkTrainChild();
    const stderr = stderrTail(child, 4000, (d) => {
      if (d.trim()) log(`training job ${job.id} of ${project}: ${d.trimEnd()}`);
    });
    let released = false;
    // Messages are handled one after another: the bundle is loaded for predictions before 'done' is passed on.
    let chain = Promise.resolve();
    const handle = async (m: FromChild) => {
      if (m.type === 'saving') {
        // The server decides, so a cancel is answered with the job's real fate: one answered 202 before this saves
        // nothing; after this, a cancel is refused with 409 job_saving.
        const ok = job.state === 'running' && !job.controller.signal.aborted;
        if (ok) job.saving = true;
        if (child.connected) child.send({ type: 'save', ok } satisfies ToChild);
        return;
      }
      if (job.finished) return;
      if (m.type === 'event') job.emit(m.event, m.data);
      else if (m.type === 'trained')
        await projectModels.get(project).catch((err: Error) => {
          log(`loading the new classifier of ${project} (${m.stamp}) failed: ${err.message}`);
        });
      else if (m.type === 'end') {
        // The child has finished with the project's files (it only exits now): classes may change from this moment
        // (and the exit, later, must not unmark a job started meanwhile).
        released = true;
        store.busy.delete(project);
        job.finish(m.state, { error: m.error ?? undefined, bundle: m.bundle ?? undefined });
      }
    };
    child.on('message', (m: FromChild) => (chain = chain.then(() => handle(m))));
    const onAbort = () => {
      if (child.connected) child.send({ type: 'cancel' } satisfies ToChild);
    };
    job.controller.signal.addEventListener('abort', onAbort, { once: true });
    const start: ToChild = { type: 'start', projectsDir: store.root, project, request, env: envSnapshot() };
    child.send(start);
    const done = new Promise<void>((resolve) => {
      child.on('exit', (code, signal) => {
        void chain.then(() => {
          job.controller.signal.removeEventListener('abort', onAbort);
          if (!released) store.busy.delete(project);
          this.children.delete(child);
          if (!job.finished) {
            if (this.closing || job.controller.signal.aborted) job.finish('cancelled');
            else {
              const message = stripProjectDir(
                `the training process ended unexpectedly (${childEnd(code, signal, stderr())})`,
                store.dir(project),
              );
              job.emit('failed', { message });
              job.finish('failed', { error: message });
            }
          }
          resolve();
        });
      });
    });
    this.children.set(child, done);
    return done;
  }

  async close(ms: number): Promise<void> {
    this.closing = true;
    for (const child of this.children.keys()) if (child.connected) child.send({ type: 'cancel' } satisfies ToChild);
    const left = [...this.children.values()];
    if (!(await settleWithin(left, ms))) for (const child of this.children.keys()) child.kill('SIGKILL');
    await Promise.allSettled(left);
  }
}

/** Whether every promise settled within `ms`. */
async function settleWithin(ps: Promise<unknown>[], ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const all = Promise.allSettled(ps).then(() => true);
  const r = await Promise.race([all, new Promise<boolean>((res) => (timer = setTimeout(() => res(false), ms)))]);
  clearTimeout(timer);
  return r;
}
