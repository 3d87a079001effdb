// `tl serve`: one Fastify server for the web app (static files at /) and the versioned JSON API under /v1.
// This module sets the server up (limits, parsers, the host check, errors as JSON) and registers the routes, one
// plugin per job (routes/); their schemas make the OpenAPI document (@fastify/swagger) served at /v1/openapi.json.
import { basename, resolve } from 'node:path';
import type { ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import Fastify, { type FastifyInstance } from 'fastify';
import multipart from '@fastify/multipart';
import swagger from '@fastify/swagger';
import { TlError } from '../util/errors.js';
import { VERSION } from '../util/version.js';
import { COMMON_ERRORS, COMPONENT_SCHEMAS, errorResponses } from './api-schemas.js';
import type { BatcherOptions } from './batcher.js';
import type { ServeContext } from './context.js';
import { errorBody } from './errors.js';
import { jsonErrorHandler } from './error-handler.js';
import { checkRequestHost, isLoopbackName } from './host-check.js';
import { JobManager } from './jobs.js';
import { resumePendingJobs } from './job-start.js';
import { ChildProcessRunner, InProcessRunner, type TrainingRunner } from './job-runner.js';
import { QueueRunner, type QueueServeOptions } from './queue-jobs.js';
import { ServedModel } from './models.js';
import { ProjectEvents } from './project-events.js';
import { ProjectModels } from './project-models.js';
import { ProjectStore } from './projects.js';
import { archiveRoutes } from './routes/archive.js';
import { bundleRoutes } from './routes/bundles.js';
import { exportRoutes } from './routes/exports.js';
import { imageRoutes } from './routes/images.js';
import { jobRoutes } from './routes/jobs.js';
import { modelRoutes, serviceRoutes } from './routes/models.js';
import { planRoutes } from './routes/plan.js';
import { predictRoutes } from './routes/predict.js';
import { projectEventRoutes } from './routes/project-events.js';
import { projectRoutes } from './routes/projects.js';
import { defaultWebDir, webRoutes } from './routes/web.js';

export { defaultWebDir };

export interface ServeOptions {
  /** Default 127.0.0.1: only this machine can connect. */
  host?: string;
  /** Default 8765; 0 picks a free port. */
  port?: number;
  /** Where projects live (created if missing). */
  projectsDir: string;
  /** Trained bundles to serve under /v1/models/{name}. */
  bundles?: { name: string; dir: string }[];
  /** Largest image accepted, in bytes (raw body or one multipart file). Default 20 MiB. */
  maxImageBytes?: number;
  /** Most files in one multipart request. Default 1000. */
  maxFiles?: number;
  batch?: BatcherOptions;
  /** Built web app folder; default dist/web of this package; null serves no web app. */
  webDir?: string | null;
  /** Project models kept loaded at once (least recently used are unloaded). Default 4. */
  maxLoadedProjects?: number;
  /** Server-side log lines (errors with stacks, requests when verbose). */
  log?: (line: string) => void;
  verbose?: boolean;
  /**
   * Where training jobs run: 'child' (default) a child process each, so training never holds up requests;
   * 'in-process' the server's own event loop (tests that reach inside a run).
   */
  trainIn?: 'child' | 'in-process';
  /**
   * Run training jobs on `tl worker`s through this BullMQ queue instead (overrides trainIn). Workers must see the
   * projects folder at the same path: they train on its images and save the bundle into it.
   */
  queue?: QueueServeOptions;
}

export interface TlServer {
  app: FastifyInstance;
  url: string;
  port: number;
  store: ProjectStore;
  jobs: JobManager;
  /** Every route registered (method, URL), as the OpenAPI document should list them. */
  routes: { method: string; url: string }[];
  /** With `queue`: the training queue (its Redis version, the workers connected). */
  queue?: { redisVersion: string; workerCount(): Promise<number> };
  close(): Promise<void>;
}

const MODEL_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export function modelNameFor(dir: string): string {
  return (
    basename(resolve(dir))
      .replace(/[^A-Za-z0-9._-]+/g, '-')
      .replace(/^[^A-Za-z0-9]+/, '')
      .slice(0, 64) || 'model'
  );
}

export async function createServer(opts: ServeOptions): Promise<Omit<TlServer, 'url' | 'port'>> {
  const maxImageBytes = opts.maxImageBytes ?? 20 * 1024 * 1024;
  const maxFiles = opts.maxFiles ?? 1000;
  const batching = opts.batch ?? {};
  const log = opts.log ?? (() => {});
  const host = opts.host ?? '127.0.0.1';
  const store = new ProjectStore(resolve(opts.projectsDir));
  await store.init();
  const jobs = new JobManager();
  const running = new Set<Promise<void>>();
  const projectModels = new ProjectModels(store, batching, opts.maxLoadedProjects ?? 4);
  const sseClients = new Set<ServerResponse>();
  const runnerDeps = { store, projectModels, batching, log };
  const runner: TrainingRunner = opts.queue
    ? await QueueRunner.connect(opts.queue, runnerDeps)
    : opts.trainIn === 'in-process'
      ? new InProcessRunner(runnerDeps)
      : new ChildProcessRunner(runnerDeps);

  // Served bundles, each under its own name.
  const models = new Map<string, ServedModel>();
  try {
    for (const b of opts.bundles ?? []) {
      if (!MODEL_NAME_RE.test(b.name))
        throw new TlError(`invalid model name "${b.name}"`, 'Use 1-64 letters, digits, . _ - (set it with --name).');
      if (models.has(b.name))
        throw new TlError(`two bundles are both named "${b.name}"`, 'Give each its own name with --name.');
      models.set(b.name, await ServedModel.load(b.name, b.dir, batching));
    }
  } catch (err) {
    await Promise.all([...models.values()].map((m) => m.dispose()));
    await runner.close(0);
    throw err;
  }

  const app = Fastify({
    logger: false,
    bodyLimit: maxImageBytes,
    forceCloseConnections: true,
    return503OnClosing: true,
  });

  // Image bytes as the raw body; text/plain and JSON keep Fastify's parsers (and are refused by predict with 415).
  app.addContentTypeParser(/^image\//i, { parseAs: 'buffer', bodyLimit: maxImageBytes }, (_req, body, done) =>
    done(null, body),
  );
  app.addContentTypeParser(
    'application/octet-stream',
    { parseAs: 'buffer', bodyLimit: maxImageBytes },
    (_req, body, done) => done(null, body),
  );
  await app.register(multipart, {
    limits: { fileSize: maxImageBytes, files: maxFiles, fields: 20, parts: maxFiles + 20, headerPairs: 100 },
  });

  // Loopback-only by default: refuse other Host names (DNS rebinding) and cross-origin writes (CSRF from web pages).
  const loopbackOnly = isLoopbackName(host.replace(/^\[(.*)\]$/, '$1'));
  let ownPort = 0;
  app.addHook('onRequest', async (req, reply) => {
    ownPort ||= (app.server.address() as AddressInfo | null)?.port ?? opts.port ?? 8765;
    const check = checkRequestHost(
      { method: req.method, host: req.headers.host, origin: req.headers.origin },
      { loopbackOnly, port: ownPort },
    );
    if (!check.ok) return reply.code(check.status).send(errorBody(check.status, check.code, check.message));
  });
  if (opts.verbose)
    app.addHook('onResponse', async (req, reply) =>
      log(`${req.method} ${req.url} ${reply.statusCode} ${reply.elapsedTime.toFixed(1)} ms`),
    );

  app.setErrorHandler(jsonErrorHandler({ maxImageBytes, maxFiles, log }));

  app.setNotFoundHandler((req, reply) => {
    reply
      .code(404)
      .send(errorBody(404, 'route_not_found', `no route ${req.method} ${req.url.split('?')[0].slice(0, 200)}`));
  });

  // The route schemas describe requests and responses for the OpenAPI document; the handlers check their input
  // themselves (zod bodies, names, ?top) with the API's own messages, and replies are plain JSON.stringify, so a
  // schema never changes what a route accepts or sends.
  app.setValidatorCompiler(() => () => true);
  app.setSerializerCompiler(() => (data) => JSON.stringify(data));
  for (const schema of COMPONENT_SCHEMAS) app.addSchema(schema);
  const routes: { method: string; url: string }[] = [];
  app.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) if (method !== 'HEAD') routes.push({ method, url: route.url });
    // Every /v1 route can answer the host check's 403 and a 500.
    if (route.url.startsWith('/v1/') && !route.schema?.hide)
      route.schema = {
        ...route.schema,
        response: { ...errorResponses(...COMMON_ERRORS), ...(route.schema?.response as object) },
      };
  });
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'tl serve API',
        version: VERSION,
        description:
          'Local HTTP API of the tl transfer-learning toolkit: predict with trained classifier bundles, and manage projects (classes, images, training, results, bundle download). JSON in and out; errors are {"error":{"status","code","message"}}.',
      },
      servers: [{ url: '/' }],
    },
    // Component schemas keep their $id as their name (#/components/schemas/Project).
    refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => String(json.$id ?? `def-${i}`) },
  });

  const ctx: ServeContext = {
    store,
    jobs,
    runner,
    models,
    projectModels,
    batching,
    maxImageBytes,
    maxFiles,
    log,
    running,
    events: new ProjectEvents(),
    sseClients,
    startedAt: Date.now(),
  };
  await app.register(serviceRoutes, { ctx });
  await app.register(modelRoutes, { ctx });
  await app.register(predictRoutes, { ctx });
  await app.register(projectRoutes, { ctx });
  await app.register(imageRoutes, { ctx });
  await app.register(jobRoutes, { ctx });
  await app.register(bundleRoutes, { ctx });
  await app.register(exportRoutes, { ctx });
  await app.register(planRoutes, { ctx });
  await app.register(archiveRoutes, { ctx });
  await app.register(projectEventRoutes, { ctx });
  await app.register(webRoutes, { webDir: opts.webDir === undefined ? defaultWebDir() : opts.webDir });

  const close = async () => {
    for (const res of sseClients) res.end();
    // Runs stop at their next check; one stuck in a long step is killed after 15 s.
    await runner.close(15_000);
    await Promise.allSettled([...running]);
    await app.close();
    await projectModels.closeAll();
    await Promise.all([...models.values()].map((m) => m.dispose().catch(() => {})));
  };

  // Jobs a killed or stopped server left running start again (a fine-tuning run from its last checkpoint).
  await resumePendingJobs(ctx);

  return { app, store, jobs, routes, close, queue: runner instanceof QueueRunner ? runner.queue : undefined };
}

/** Create the server and listen; resolves with its URL once it accepts connections. */
export async function startServer(opts: ServeOptions): Promise<TlServer> {
  const s = await createServer(opts);
  const host = opts.host ?? '127.0.0.1';
  try {
    await s.app.listen({ host, port: opts.port ?? 8765 });
  } catch (err) {
    await s.close();
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'EADDRINUSE')
      throw new TlError(
        `port ${opts.port} on ${host} is already in use`,
        'Pick another with --port (0 picks a free one).',
      );
    if (e.code === 'EADDRNOTAVAIL' || e.code === 'ENOTFOUND')
      throw new TlError(`cannot listen on ${host}: no such local address`);
    if (e.code === 'EACCES')
      throw new TlError(
        `no permission to listen on port ${opts.port}`,
        'Ports below 1024 need privileges; use --port 8765.',
      );
    throw err;
  }
  const addr = s.app.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : (opts.port ?? 8765);
  const shown = host.includes(':') ? `[${host}]` : host === '0.0.0.0' ? '127.0.0.1' : host;
  return { ...s, port, url: `http://${shown}:${port}` };
}
