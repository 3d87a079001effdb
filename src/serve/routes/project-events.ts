// GET /v1/projects/{project}/events: the project's live stream (Server-Sent Events), so every open tab stays current.
// It starts with `hello` (the project as GET /v1/projects/{project} shows it) and the events of the running job so
// far, then sends each change as it happens (project-events.ts lists them); a comment line every 15 s keeps proxies
// from closing it. A reconnecting client gets a fresh `hello` (no replay by Last-Event-ID: the state is in it).
import type { FastifyInstance } from 'fastify';
import { PROJECT_ERRORS, errorResponses, pathParams } from '../api-schemas.js';
import type { RouteOptions } from '../context.js';
import { jobEventData, projectView, type ProjectEvent } from '../project-events.js';
import { openEventStream } from './event-stream.js';

type P = { Params: { project: string } };

const SUMMARY =
  'Server-Sent Events of one project, for live pages: hello (the project, with its model and whether it is stale), classes (added/renamed/removed), photos (added/removed), job (every event of its training jobs: {job, id, event, data}), model (a training saved a new model), project-removed. Each change carries the project as GET /v1/projects/{project} shows it.';

export async function projectEventRoutes(app: FastifyInstance, { ctx }: RouteOptions): Promise<void> {
  app.get<P>(
    '/v1/projects/:project/events',
    {
      schema: {
        summary: SUMMARY,
        params: pathParams({ project: 'project name' }),
        response: {
          200: { description: 'the event stream', content: { 'text/event-stream': { schema: { type: 'string' } } } },
          ...errorResponses(...PROJECT_ERRORS),
        },
      },
    },
    async (req, reply) => {
      const name = (await ctx.store.meta(req.params.project)).name;
      // Listen before reading the state, so nothing that happens meanwhile is missed.
      let queue: ProjectEvent[] | null = [];
      let send = (e: ProjectEvent): void => void queue!.push(e);
      const unsubscribe = ctx.events.subscribe(name, (e) => send(e));
      let view: Awaited<ReturnType<typeof projectView>>;
      try {
        view = await projectView(ctx.store, ctx.jobs, name);
      } catch (err) {
        unsubscribe();
        throw err;
      }
      const { res, stop } = openEventStream(reply, ctx.sseClients, unsubscribe);
      const write = (e: ProjectEvent) => res.write(`event: ${e.event}\ndata: ${JSON.stringify(e.data)}\n\n`);
      write({ event: 'hello', data: { project: view } });
      // The running job's events so far (a page opened or reloaded mid-training draws its progress from them).
      const job = ctx.jobs.active(name);
      const replayed = job?.lastId ?? -1;
      for (const e of job?.events ?? []) write({ event: 'job', data: jobEventData(job!.id, e) });
      send = (e) => {
        write(e);
        if (e.event === 'project-removed') {
          stop();
          res.end();
        }
      };
      const pending = queue;
      queue = null;
      for (const e of pending) {
        const d = e.data as { job?: string; id?: number };
        if (e.event === 'job' && job && d.job === job.id && (d.id ?? -1) <= replayed) continue;
        send(e);
      }
    },
  );
}
