// The bundles served with --bundle, and the service routes: health, the API description, the backbones.
import type { FastifyInstance } from 'fastify';
import { listModels } from '../../backbone/registry.js';
import { locateModel } from '../../backbone/resolve.js';
import { fineTuneRefusal } from '../../finetune/refusal.js';
import { env } from '../../util/env.js';
import { DEFAULT_MODEL_ID } from '../../backbone/zoo.js';
import { VERSION } from '../../util/version.js';
import { errorResponses, json, pathParams, ref } from '../api-schemas.js';
import { servedModel, type RouteOptions } from '../context.js';

export async function serviceRoutes(app: FastifyInstance, { ctx }: RouteOptions): Promise<void> {
  app.get(
    '/v1/health',
    { schema: { summary: 'Liveness and version', response: { 200: json(ref('Health'), 'ok') } } },
    async () => ({
      status: 'ok',
      version: VERSION,
      uptimeSeconds: Math.round((Date.now() - ctx.startedAt) / 1000),
      models: [...ctx.models.keys()],
      jobsRunning: ctx.jobs.all().filter((j) => !j.finished).length,
    }),
  );

  app.get(
    '/v1/openapi.json',
    {
      schema: {
        summary: 'This API description (OpenAPI 3.1), generated from the route schemas',
        response: { 200: json({ type: 'object' }, 'the OpenAPI document') },
      },
    },
    async () => app.swagger(),
  );

  const backbone = {
    type: 'object',
    properties: {
      id: { type: 'string' },
      title: { type: 'string' },
      featureDim: { type: 'integer' },
      default: { type: 'boolean' },
      onDisk: { type: 'boolean', description: 'its files are here (TL_MODELS_DIR or the cache): no download' },
      downloadBytes: { type: 'integer', description: 'what training with it would download first (0 when on disk)' },
      canRun: {
        type: 'boolean',
        description: 'on disk, or downloads are allowed (false offline: choosing it would fail)',
      },
      imagenet: {
        type: 'object',
        properties: {
          value: { type: 'number' },
          metric: { type: 'string', enum: ['top-1', 'linear', 'zero-shot'] },
        },
      },
      goodFor: { type: 'string' },
      fineTunable: {
        type: 'boolean',
        description:
          'rungs 2-3 can train it (ImageNet CNN classifiers); feature extractors and transformers are rung 1 only',
      },
      unverified: { type: 'boolean', description: 'its files were never downloaded and run by the toolkit' },
    },
  };
  app.get(
    '/v1/backbones',
    {
      schema: {
        summary: 'Backbones training can use',
        response: { 200: json({ type: 'array', items: backbone }, 'backbones') },
      },
    },
    async () =>
      Promise.all(
        listModels().map(async (m) => {
          const located = locateModel(m);
          const onDisk = located !== undefined;
          return {
            id: m.id,
            title: m.title,
            featureDim: m.feature.dim,
            default: m.id === DEFAULT_MODEL_ID,
            onDisk,
            downloadBytes: onDisk ? 0 : m.files.reduce((a, f) => a + f.size, 0),
            canRun: onDisk || env.allowDownloads,
            imagenet: { value: m.imagenetTop1, metric: m.imagenetMetric ?? 'top-1' },
            goodFor: m.goodFor ?? '',
            // The trainer's own rule (a model file that cannot be read cannot be trained either).
            fineTunable: !(await fineTuneRefusal(m, located?.dir).catch((err: Error) => err)),
            unverified: m.unverified !== undefined,
          };
        }),
      ),
  );
}

export async function modelRoutes(app: FastifyInstance, { ctx }: RouteOptions): Promise<void> {
  app.get(
    '/v1/models',
    {
      schema: {
        summary: 'Served bundles (--bundle)',
        response: {
          200: json({ type: 'object', properties: { models: { type: 'array', items: ref('Model') } } }, 'models'),
        },
      },
    },
    async () => ({ models: [...ctx.models.values()].map((m) => m.info()) }),
  );
  app.get<{ Params: { name: string } }>(
    '/v1/models/:name',
    {
      schema: {
        summary: 'One served model',
        params: pathParams({ name: 'model name' }),
        response: { 200: json(ref('Model'), 'model'), ...errorResponses('model_not_found') },
      },
    },
    async (req) => servedModel(ctx, req.params.name).info(),
  );
}
