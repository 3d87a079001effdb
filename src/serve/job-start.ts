// Starting a training job: validate the request and the project, record the request in the project (pending-jobs.ts)
// and hand the job to the runner. The train route calls it; so does the server at start-up for every job a killed or
// stopped server left pending, with the job's own id.
import type { ServeContext } from './context.js';
import { conflict } from './errors.js';
import type { Job } from './jobs.js';
import { projectView } from './project-events.js';
import { clearPendingJob, pendingJobs, savePendingJob } from './pending-jobs.js';
import { parseTrainRequest, requireTrainable } from './training.js';

export async function startTrainingJob(
  ctx: ServeContext,
  project: string,
  body: unknown,
  resume?: { id: string; startedAt: string },
): Promise<Job> {
  const { store, jobs } = ctx;
  const s = await store.summary(project);
  const options = parseTrainRequest(body);
  const active = jobs.active(s.name);
  if (active) throw conflict(`project "${s.name}" is already training (job ${active.id})`, 'already_training');
  requireTrainable(s);
  const job = jobs.create(s.name, resume?.id);
  ctx.events.trackJob(job, () => projectView(store, jobs, s.name));
  const projectDir = store.dir(s.name);
  await savePendingJob(projectDir, {
    id: job.id,
    request: body ?? {},
    startedAt: resume?.startedAt ?? job.startedAt.toISOString(),
  });
  if (resume) job.emit('resumed', { startedAt: resume.startedAt });
  const run = ctx.runner
    .run(job, options)
    // A job the closing server stopped (cancelled, though no client asked) keeps its request: the next start resumes it.
    .then(() => (job.state === 'cancelled' && !job.cancelRequested ? undefined : clearPendingJob(projectDir)))
    .catch((err: Error) => ctx.log(`training job ${job.id} of ${s.name}: ${err.stack ?? err.message}`))
    .finally(() => ctx.running.delete(run));
  ctx.running.add(run);
  return job;
}

/** Start again every job a killed or stopped server left pending; one that can no longer start is logged and dropped. */
export async function resumePendingJobs(ctx: ServeContext): Promise<Job[]> {
  const started: Job[] = [];
  const pending = await pendingJobs(ctx.store.root, (project, why) =>
    ctx.log(`project ${project}: its job.json cannot be read (${why}); left as it is, no job resumed`),
  );
  for (const { project, job } of pending) {
    try {
      started.push(await startTrainingJob(ctx, project, job.request, { id: job.id, startedAt: job.startedAt }));
      ctx.log(`resumed training job ${job.id} of ${project} (started ${job.startedAt})`);
    } catch (err) {
      ctx.log(`training job ${job.id} of ${project} cannot resume: ${(err as Error).message}`);
      await clearPendingJob(ctx.store.dir(project)).catch(() => {});
    }
  }
  return started;
}
