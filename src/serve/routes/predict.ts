// Prediction: POST an image (raw body) or several (multipart) to a served bundle or to a project's latest bundle.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { IMAGE_ERRORS, PROJECT_ERRORS, errorResponses, imageBody, json, pathParams, ref } from '../api-schemas.js';
import { servedModel, type RouteOptions } from '../context.js';
import { HttpError, badRequest, unprocessable, unsupportedType } from '../errors.js';
import { checkImage } from '../image-types.js';
import type { ServedModel } from '../models.js';
import { validateName } from '../projects.js';

function parseTop(q: unknown, fallback = 3): number {
  const v = (q as { top?: string } | undefined)?.top;
  if (v === undefined || v === '') return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 1000)
    throw badRequest(`top must be a positive integer, got "${String(v).slice(0, 20)}"`, 'invalid_top');
  return n;
}

async function predictRequest(req: FastifyRequest, reply: FastifyReply, model: ServedModel) {
  const top = parseTop(req.query);
  const t0 = performance.now();
  if (req.isMultipart()) {
    const files: { name: string; mimetype: string; data: Buffer }[] = [];
    for await (const part of req.parts()) {
      if (part.type !== 'file') continue;
      files.push({
        name: part.filename || `file${files.length + 1}`,
        mimetype: part.mimetype,
        data: await part.toBuffer(),
      });
    }
    if (!files.length)
      throw badRequest(
        'the multipart body has no file part; send images as file fields (e.g. curl -F file=@photo.jpg)',
        'no_files',
      );
    const results = await Promise.all(
      files.map(async (f) => {
        try {
          if (!f.data.length) throw unprocessable(`"${f.name}" is empty (0 bytes)`, 'undecodable_image');
          await checkImage(f.data, f.mimetype, f.name);
          return { file: f.name, ...(await model.predict(f.data, top)) };
        } catch (err) {
          if (err instanceof HttpError)
            return { file: f.name, error: { status: err.statusCode, code: err.code, message: err.message } };
          throw err;
        }
      }),
    );
    return reply.send({
      model: model.name,
      results,
      timing: { totalMs: Math.round((performance.now() - t0) * 100) / 100 },
    });
  }
  const type = String(req.headers['content-type'] ?? '');
  const body = req.body as unknown;
  if (/^image\//i.test(type) || /^application\/octet-stream/i.test(type)) {
    if (!Buffer.isBuffer(body) || body.length === 0)
      throw unprocessable('the request body is empty; send the image bytes', 'undecodable_image');
    await checkImage(body, type);
    return reply.send({ model: model.name, ...(await model.predict(body, top)) });
  }
  throw unsupportedType(
    type
      ? `unsupported Content-Type "${type.slice(0, 60)}": send the image bytes with Content-Type image/jpeg, image/png, image/webp, ... or multipart/form-data with one or more files`
      : 'no Content-Type: send the image bytes with Content-Type image/jpeg, image/png, image/webp, ... or multipart/form-data',
  );
}

const predictSchema = (
  summary: string,
  params: Record<string, string>,
  notFoundCodes: Parameters<typeof errorResponses>,
) => ({
  summary,
  params: pathParams(params),
  querystring: {
    type: 'object',
    properties: {
      top: { type: 'integer', minimum: 1, maximum: 1000, default: 3, description: 'classes to return per image' },
    },
  },
  body: imageBody,
  response: {
    200: json(
      { oneOf: [ref('Prediction'), ref('BatchPrediction')] },
      'Raw body: one Prediction. Multipart: a BatchPrediction (per-file results; a file that cannot be read has an error instead).',
    ),
    ...errorResponses('invalid_top', ...IMAGE_ERRORS, 'busy', ...notFoundCodes),
  },
});

export async function predictRoutes(app: FastifyInstance, { ctx }: RouteOptions): Promise<void> {
  app.post<{ Params: { name: string } }>(
    '/v1/models/:name/predict',
    {
      schema: predictSchema('Classify one image (raw body) or several (multipart)', { name: 'model name' }, [
        'model_not_found',
      ]),
    },
    async (req, reply) => predictRequest(req, reply, servedModel(ctx, req.params.name)),
  );

  app.post<{ Params: { project: string } }>(
    '/v1/projects/:project/predict',
    {
      schema: predictSchema("Classify with the project's latest bundle", { project: 'project name' }, [
        ...PROJECT_ERRORS,
        'no_bundle',
      ]),
    },
    async (req, reply) => {
      const p = validateName('project', req.params.project);
      return predictRequest(req, reply, await ctx.projectModels.get(p));
    },
  );
}
