// Training jobs: start one on a project, list, show, cancel, and follow it as Server-Sent Events.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { JSON_BODY_ERRORS, PROJECT_ERRORS, errorResponses, json, noContent, pathParams, ref } from '../api-schemas.js';
import type { RouteOptions } from '../context.js';
import { conflict, notFound } from '../errors.js';
import type { Job } from '../jobs.js';
import { startTrainingJob } from '../job-start.js';
import { openEventStream } from './event-stream.js';

type P = { Params: { project: string } };
type J = { Params: { id: string } };

const JOB_ID = { id: 'job id' };
const EVENTS_SUMMARY =
  'Server-Sent Events: state, dataset, backbone, extract-start, extract (done/total, imagesPerSecond), extract-done, select-l2, progress (step, trainLoss, trainAcc, valLoss, valAcc), finetune-step (epoch, of, done/total, imagesPerSecond), finetune-epoch (epoch, seconds), finetune-budget (epochs, of: the time budget holds fewer epochs than planned), saving, done (accuracy, bundle), failed (message), end. Replays past events; honours Last-Event-ID.';

export async function jobRoutes(app: FastifyInstance, { ctx }: RouteOptions): Promise<void> {
  const { store, jobs } = ctx;

  app.post<P>(
    '/v1/projects/:project/train',
    {
      schema: {
        summary:
          'Start training on the project images (seeded stratified split). Returns a job; follow it with /v1/jobs/{id}/events.',
        params: pathParams({ project: 'project name' }),
        body: ref('TrainOptions'),
        response: {
          202: json({ type: 'object', properties: { job: ref('Job'), eventsUrl: { type: 'string' } } }, 'started'),
          ...errorResponses(
            ...JSON_BODY_ERRORS,
            'invalid_option',
            ...PROJECT_ERRORS,
            'already_training',
            'not_enough_classes',
            'empty_class',
          ),
        },
      },
    },
    async (req, reply) => {
      const job = await startTrainingJob(ctx, req.params.project, req.body);
      reply
        .code(202)
        .header('location', `/v1/jobs/${job.id}`)
        .send({ job: job.summary(), eventsUrl: `/v1/jobs/${job.id}/events` });
    },
  );

  const getJob = (id: string): Job => {
    const job = jobs.get(id);
    if (!job) throw notFound(`no job "${id.slice(0, 40)}"`, 'job_not_found');
    return job;
  };

  app.get<P>(
    '/v1/projects/:project/jobs',
    {
      schema: {
        summary: 'Jobs of the project since the server started',
        params: pathParams({ project: 'project name' }),
        response: {
          200: json({ type: 'object', properties: { jobs: { type: 'array', items: ref('Job') } } }, 'jobs'),
          ...errorResponses(...PROJECT_ERRORS),
        },
      },
    },
    async (req) => {
      const p = (await store.meta(req.params.project)).name;
      return { jobs: jobs.forProject(p).map((j) => j.summary()) };
    },
  );

  app.get<J>(
    '/v1/jobs/:id',
    {
      schema: {
        summary: 'Job state and the last event of each type',
        params: pathParams(JOB_ID),
        response: { 200: json(ref('Job'), 'job'), ...errorResponses('job_not_found') },
      },
    },
    async (req) => getJob(req.params.id).summary(),
  );

  // The answer says what will happen: 202 only when the job will end cancelled; 409 when it has ended or will end done.
  const cancel = async (req: FastifyRequest<J>, reply: FastifyReply) => {
    const job = getJob(req.params.id);
    if (job.finished) throw conflict(`job ${job.id} has already finished: ${job.state}`, 'job_finished');
    if (job.saving)
      throw conflict(
        `job ${job.id} has finished training and is saving its classifier; it can no longer be cancelled and will end done`,
        'job_saving',
      );
    jobs.cancel(job.id);
    reply.code(202).send(job.summary());
  };
  const cancelSchema = {
    summary: 'Cancel the job',
    params: pathParams(JOB_ID),
    response: {
      202: json(ref('Job'), 'cancelling: the job will end cancelled, saving nothing'),
      ...errorResponses('job_not_found', 'job_finished', 'job_saving'),
    },
  };
  app.post<J>('/v1/jobs/:id/cancel', { schema: cancelSchema }, cancel);
  app.delete<J>('/v1/jobs/:id', { schema: cancelSchema }, cancel);

  // Server-Sent Events: every event of the job so far (or after Last-Event-ID), then live ones until it ends.
  app.get<J>(
    '/v1/jobs/:id/events',
    {
      schema: {
        summary: EVENTS_SUMMARY,
        params: pathParams(JOB_ID),
        querystring: {
          type: 'object',
          properties: { after: { type: 'integer', description: 'replay events after this id (as Last-Event-ID)' } },
        },
        response: {
          200: { description: 'the event stream', content: { 'text/event-stream': { schema: { type: 'string' } } } },
          204: noContent('the job has ended and the client has seen every event'),
          ...errorResponses('job_not_found'),
        },
      },
    },
    async (req, reply) => {
      const job = getJob(req.params.id);
      const lastSeen = Number(req.headers['last-event-id'] ?? (req.query as { after?: string }).after ?? -1);
      const after = Number.isFinite(lastSeen) ? lastSeen : -1;
      if (job.finished && after >= job.lastId) return reply.code(204).send(); // 204 tells EventSource to stop reconnecting
      let unsubscribe = () => {};
      const { res, stop } = openEventStream(reply, ctx.sseClients, () => unsubscribe());
      const send = (e: { id: number; event: string; data: unknown }) =>
        res.write(`id: ${e.id}\nevent: ${e.event}\ndata: ${JSON.stringify(e.data)}\n\n`);
      for (const e of job.events) if (e.id > after) send(e);
      if (job.finished) {
        stop();
        return void res.end();
      }
      unsubscribe = job.subscribe((e) => {
        send(e);
        if (e.event === 'end') {
          stop();
          res.end();
        }
      });
    },
  );
}
