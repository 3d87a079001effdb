// One live stream per project: an in-process event bus the routes publish to after each change that succeeded
// (classes, photos, a training job's events, a model saved), and which GET /v1/projects/{project}/events relays to
// every open tab as Server-Sent Events (routes/project-events.ts).
//   classes  {change: added | renamed | removed, name, from?, project}
//   photos   {change: added | removed, class, files, project}
//   job-started {job}: a training job started (its summary)
//   job      {job, id, event, data}: every event of the project's training jobs, as /v1/jobs/{id}/events sends them
//   model    {bundle, project}: a training saved a new model
//   project-removed {name}: the project was deleted (the stream then ends)
// `project` is the project as GET /v1/projects/{project} shows it (counts, the model and whether it is stale).
import type { JobEvent, Job, JobManager } from './jobs.js';
import { modelState } from './project-models.js';
import type { ProjectStore } from './projects.js';

export type ProjectEventName = 'hello' | 'classes' | 'photos' | 'job-started' | 'job' | 'model' | 'project-removed';

export interface ProjectEvent {
  event: ProjectEventName;
  data: unknown;
}

type Listener = (e: ProjectEvent) => void;

export class ProjectEvents {
  private listeners = new Map<string, Set<Listener>>();

  /** Hear every event of `project` from now on; call the result to stop. */
  subscribe(project: string, fn: Listener): () => void {
    let set = this.listeners.get(project);
    if (!set) this.listeners.set(project, (set = new Set()));
    set.add(fn);
    return () => {
      set.delete(fn);
      if (!set.size && this.listeners.get(project) === set) this.listeners.delete(project);
    };
  }

  /** Someone follows the project (a change's project view is worth computing). */
  watched(project: string): boolean {
    return (this.listeners.get(project)?.size ?? 0) > 0;
  }

  publish(project: string, event: ProjectEventName, data: unknown): void {
    for (const fn of [...(this.listeners.get(project) ?? [])]) {
      try {
        fn({ event, data });
      } catch {
        // one broken stream never stops the others
      }
    }
  }

  /**
   * Relay every event of a training job to its project's stream; when it ends done, a `model` event follows
   * (`onModel` adds the project's new view to it).
   */
  trackJob(job: Job, onModel: (bundle: string) => Promise<unknown>): void {
    this.publish(job.project, 'job-started', { job: job.summary() });
    const stop = job.subscribe((e: JobEvent) => {
      this.publish(job.project, 'job', jobEventData(job.id, e));
      if (e.event !== 'end') return;
      stop();
      if (job.state === 'done' && job.bundle) {
        const bundle = job.bundle;
        void onModel(bundle)
          .then((project) => this.publish(job.project, 'model', { bundle, project }))
          .catch(() => this.publish(job.project, 'model', { bundle, project: null }));
      }
    });
  }
}

/** A job event as the project stream sends it: which job, and the event as the job's own stream sends it. */
export function jobEventData(jobId: string, e: JobEvent): { job: string; id: number; event: string; data: unknown } {
  return { job: jobId, id: e.id, event: e.event, data: e.data };
}

/** A project as GET /v1/projects/{project} shows it: classes with counts, the running job, the model and its staleness. */
export async function projectView(store: ProjectStore, jobs: JobManager, project: string) {
  const s = await store.summary(project);
  const job = jobs.active(s.name);
  return { ...s, activeJob: job ? job.summary() : null, model: await modelState(store, s.name) };
}

/** Publish a change of the project's classes or photos, with the project's new view (when someone is listening). */
export async function publishChange(
  deps: { store: ProjectStore; jobs: JobManager; events: ProjectEvents },
  project: string,
  event: 'classes' | 'photos',
  data: Record<string, unknown>,
): Promise<void> {
  if (!deps.events.watched(project)) return;
  const view = await projectView(deps.store, deps.jobs, project).catch(() => null);
  deps.events.publish(project, event, { ...data, project: view });
}
