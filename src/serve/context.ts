// What the route plugins share: the server's stores, loaded models, limits and the bookkeeping close() needs.
import type { ServerResponse } from 'node:http';
import type { BatcherOptions } from './batcher.js';
import { notFound } from './errors.js';
import type { JobManager } from './jobs.js';
import type { TrainingRunner } from './job-runner.js';
import type { ServedModel } from './models.js';
import type { ProjectEvents } from './project-events.js';
import type { ProjectModels } from './project-models.js';
import type { ProjectStore } from './projects.js';

export interface ServeContext {
  store: ProjectStore;
  jobs: JobManager;
  /** Runs training jobs (a child process each, by default). */
  runner: TrainingRunner;
  /** Bundles served with --bundle, by name. */
  models: Map<string, ServedModel>;
  /** Project classifiers loaded for prediction. */
  projectModels: ProjectModels;
  batching: BatcherOptions;
  maxImageBytes: number;
  maxFiles: number;
  log: (line: string) => void;
  /** Training runs in progress (close() waits for them). */
  running: Set<Promise<void>>;
  /** The projects' live streams: routes publish each change here (project-events.ts). */
  events: ProjectEvents;
  /** Open event streams (close() ends them). */
  sseClients: Set<ServerResponse>;
  /** Date.now() when the server was created. */
  startedAt: number;
}

/** A plugin's options: Fastify passes them to the plugin as its second argument. */
export interface RouteOptions {
  ctx: ServeContext;
}

/** The bundle served under `name`, or 404 model_not_found naming the ones that are. */
export function servedModel(ctx: ServeContext, name: string): ServedModel {
  const m = ctx.models.get(name);
  if (m) return m;
  const served = ctx.models.size
    ? `; served: ${[...ctx.models.keys()].join(', ')}`
    : ' (none are served; start tl serve with --bundle DIR)';
  throw notFound(`no model named "${name.slice(0, 80)}"${served}`, 'model_not_found');
}
