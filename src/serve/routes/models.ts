// The bundles served with --bundle, and the service routes: health, the API description, the backbones.
import type { FastifyInstance } from 'fastify';
import { listModels } from '../../backbone/registry.js';
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
      listModels().map((m) => ({
        id: m.id,
        title: m.title,
        featureDim: m.feature.dim,
        default: m.id === DEFAULT_MODEL_ID,
      })),
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
