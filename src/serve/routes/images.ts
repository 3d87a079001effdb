// A project's photos: list, upload (all or nothing per request), the original, its thumbnail, delete.
import { extname } from 'node:path';
import type { FastifyInstance } from 'fastify';
import {
  IMAGE_ERRORS,
  PROJECT_ERRORS,
  binary,
  errorResponses,
  json,
  multipartBody,
  noContent,
  pathParams,
  ref,
} from '../api-schemas.js';
import type { RouteOptions } from '../context.js';
import { badRequest, errorBody, unsupportedType } from '../errors.js';
import { imageUrls } from '../image-urls.js';
import { publishChange } from '../project-events.js';
import { validateName, type ImageEntry } from '../projects.js';
import { UploadBatch, type UploadResult } from '../uploads.js';

type PC = { Params: { project: string; class: string } };
type PCF = { Params: { project: string; class: string; file: string } };

const IMAGE_TYPES: Record<string, string> = {
  jpg: 'image/jpeg',
  png: 'image/png',
  webp: 'image/webp',
  tif: 'image/tiff',
  avif: 'image/avif',
};
const PROJECT_CLASS = { project: 'project name', class: 'class name' };
const PROJECT_CLASS_FILE = { ...PROJECT_CLASS, file: 'image file name (<sha256-prefix>.<ext>)' };

const image = {
  type: 'object',
  properties: {
    class: { type: 'string' },
    file: { type: 'string' },
    bytes: { type: 'integer' },
    addedAt: { type: 'string' },
    url: { type: 'string' },
    thumbnailUrl: { type: 'string' },
  },
};
const rejection = {
  type: 'object',
  properties: {
    file: { type: 'string' },
    status: { type: 'integer' },
    code: { type: 'string' },
    message: { type: 'string' },
  },
};
const uploadResult = {
  type: 'object',
  properties: {
    added: { type: 'array', items: image },
    duplicates: { type: 'array', items: image },
    rejected: { type: 'array', items: rejection },
    project: ref('Project'),
  },
};

export async function imageRoutes(app: FastifyInstance, { ctx }: RouteOptions): Promise<void> {
  const { store, maxImageBytes, maxFiles } = ctx;

  app.get<{ Params: { project: string }; Querystring: { class?: string } }>(
    '/v1/projects/:project/images',
    {
      schema: {
        summary: 'List images (optionally ?class=NAME) with original and thumbnail URLs',
        params: pathParams({ project: 'project name' }),
        querystring: { type: 'object', properties: { class: { type: 'string' } } },
        response: {
          200: json({ type: 'object', properties: { images: { type: 'array', items: image } } }, 'images'),
          ...errorResponses(...PROJECT_ERRORS, 'class_not_found'),
        },
      },
    },
    async (req) => {
      const p = validateName('project', req.params.project);
      const images: (ImageEntry & { url: string; thumbnailUrl: string })[] = (
        await store.images(p, req.query.class)
      ).map((i) => ({ ...i, ...imageUrls(p, i) }));
      return { images };
    },
  );

  app.post<PC>(
    '/v1/projects/:project/classes/:class/images',
    {
      schema: {
        summary:
          'Upload images (multipart, many files). Each is stored as <sha256-prefix>.<ext>; same bytes twice are kept once.',
        params: pathParams(PROJECT_CLASS),
        body: multipartBody,
        response: {
          201: json(
            uploadResult,
            'the accepted files are stored; each rejected file is listed with its status and code',
          ),
          ...errorResponses(...PROJECT_ERRORS, 'class_not_found', ...IMAGE_ERRORS),
        },
      },
    },
    async (req, reply) => {
      const p = await store.requireClass(req.params.project, req.params.class);
      const cls = req.params.class;
      if (!req.isMultipart())
        throw unsupportedType('upload images as multipart/form-data with one or more file fields');
      // All or nothing: files are staged and committed only once the whole request was received; a refused request
      // (too many files, a malformed or aborted body) stores nothing. Receiving is cheap (no decoding), so the file
      // limit stops a too-large request early.
      const batch = new UploadBatch(await store.uploadTarget(p, cls), maxImageBytes);
      let stored: UploadResult[] = [];
      try {
        // throwFileSizeLimit: false: an oversized file is reported per file (part.file.truncated), the others are kept.
        const partsOptions = {
          limits: { fileSize: maxImageBytes, files: maxFiles, fields: 20, parts: maxFiles + 20 },
          throwFileSizeLimit: false,
        } as unknown as Parameters<typeof req.parts>[0];
        for await (const part of req.parts(partsOptions)) {
          if (part.type !== 'file') continue;
          await batch.receive(part.file, part.filename || `file${batch.count + 1}`, part.mimetype);
        }
        await batch.check();
        if (batch.accepted) stored = await batch.commit();
      } finally {
        await batch.discard();
      }
      const added = stored.map((r) => ({ ...r, ...imageUrls(p, r) }));
      const rejected = batch.rejected;
      if (!added.length && !rejected.length)
        throw badRequest('no file in the upload; send images as multipart file fields', 'no_files');
      if (!added.length) {
        const first = rejected[0];
        return reply
          .code(first.status)
          .send({ ...errorBody(first.status, first.code, rejected.map((r) => r.message).join('; ')), rejected });
      }
      const fresh = added.filter((a) => !a.duplicate);
      if (fresh.length)
        await publishChange(ctx, p, 'photos', { change: 'added', class: cls, files: fresh.map((a) => a.file) });
      return reply.code(201).send({
        added: fresh,
        duplicates: added.filter((a) => a.duplicate),
        rejected,
        project: await store.summary(p),
      });
    },
  );

  const fileErrors = errorResponses(...PROJECT_ERRORS, 'class_not_found', 'image_not_found', 'undecodable_image');
  app.get<PCF>(
    '/v1/projects/:project/classes/:class/images/:file',
    {
      schema: {
        summary: 'The original image',
        params: pathParams(PROJECT_CLASS_FILE),
        response: { 200: binary('image/*', 'image bytes'), ...fileErrors },
      },
    },
    async (req, reply) => {
      const bytes = await store.readImage(req.params.project, req.params.class, req.params.file);
      reply
        .header('cache-control', 'private, max-age=3600')
        .type(IMAGE_TYPES[extname(req.params.file).slice(1)] ?? 'application/octet-stream');
      return reply.send(bytes);
    },
  );
  app.get<PCF>(
    '/v1/projects/:project/classes/:class/images/:file/thumbnail',
    {
      schema: {
        summary: 'A 160x160 JPEG thumbnail (cached on disk)',
        params: pathParams(PROJECT_CLASS_FILE),
        response: {
          200: binary('image/jpeg', 'the thumbnail'),
          ...errorResponses(...PROJECT_ERRORS, 'class_not_found', 'image_not_found', 'undecodable_image'),
        },
      },
    },
    async (req, reply) => {
      const buf = await store.thumbnail(req.params.project, req.params.class, req.params.file);
      // The file name is the content hash: the thumbnail under this URL never changes.
      reply.header('cache-control', 'private, max-age=31536000, immutable').type('image/jpeg');
      return reply.send(buf);
    },
  );
  app.delete<PCF>(
    '/v1/projects/:project/classes/:class/images/:file',
    {
      schema: {
        summary: 'Remove an image',
        params: pathParams(PROJECT_CLASS_FILE),
        response: { 204: noContent('deleted'), ...fileErrors },
      },
    },
    async (req, reply) => {
      await store.removeImage(req.params.project, req.params.class, req.params.file);
      await publishChange(ctx, validateName('project', req.params.project), 'photos', {
        change: 'removed',
        class: req.params.class,
        files: [req.params.file],
      });
      reply.code(204).send();
    },
  );
}
