// A whole project as one .tar (photos, classes, trained bundles) and back: GET .../archive, POST /v1/projects/import.
import { Readable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { env } from '../../util/env.js';
import { formatBytes } from '../../util/format.js';
import { PROJECT_ERRORS, binary, errorResponses, json, pathParams, ref } from '../api-schemas.js';
import type { RouteOptions } from '../context.js';
import { badRequest, tooLarge, unsupportedType } from '../errors.js';
import {
  archiveFileName,
  importProjectArchive,
  projectArchive,
  removeStaleImports,
  type ImportResult,
} from '../project-archive.js';

type P = { Params: { project: string } };
type I = { Querystring: { name?: string } };

const TAR_TYPES = ['application/x-tar', 'application/tar', 'application/octet-stream'];

/** The body's chunks, without destroying the request when the import stops early. */
const chunks = (stream: Readable) => stream.iterator({ destroyOnReturn: false }) as AsyncIterable<Uint8Array>;

/**
 * Import from a body stream; a refused import first reads the rest of the body (up to the size limit), so the client
 * gets the answer rather than a connection reset for the bytes it was still sending.
 */
async function importFrom(stream: Readable, run: (body: AsyncIterable<Uint8Array>) => Promise<ImportResult>) {
  try {
    return await run(chunks(stream));
  } catch (err) {
    let left = env.maxArchiveBytes;
    try {
      for await (const c of chunks(stream)) if ((left -= (c as Uint8Array).length) < 0) break;
    } catch {
      // the body failed too: the error above is the answer
    }
    throw err;
  }
}

export async function archiveRoutes(app: FastifyInstance, { ctx }: RouteOptions): Promise<void> {
  const { store } = ctx;
  await removeStaleImports(store);

  // Archives are streamed, never buffered: these types reach the handler as the raw request (this plugin only).
  for (const type of TAR_TYPES) {
    if (app.hasContentTypeParser(type)) app.removeContentTypeParser(type);
    app.addContentTypeParser(type, (_req, payload, done) => done(null, payload));
  }

  app.get<P>(
    '/v1/projects/:project/archive',
    {
      schema: {
        summary:
          'The whole project as one .tar: tl-project.json (format version, tl version, classes, each photo with its class and sha256, the bundles), the photos, the trained bundles',
        params: pathParams({ project: 'project name' }),
        response: {
          200: binary('application/x-tar', 'the project archive'),
          ...errorResponses(...PROJECT_ERRORS),
        },
      },
    },
    async (req, reply) => {
      const p = (await store.meta(req.params.project)).name;
      const stream = await projectArchive(store, p);
      const file = archiveFileName(p);
      reply
        .header('content-disposition', `attachment; filename="${file}"; filename*=UTF-8''${encodeURIComponent(file)}`)
        .type('application/x-tar');
      return reply.send(stream);
    },
  );

  app.post<I>(
    '/v1/projects/import',
    {
      schema: {
        summary:
          'Recreate a project from its archive (GET .../archive): the tar as the raw body (application/x-tar) or as a multipart file field, with an optional new name (?name= or a "name" field before the file). All or nothing; an existing project is never overwritten.',
        querystring: { type: 'object', properties: { name: { type: 'string' } } },
        body: {
          content: {
            'application/x-tar': { schema: { type: 'string', format: 'binary' } },
            'multipart/form-data': {
              schema: {
                type: 'object',
                properties: { name: { type: 'string' }, file: { type: 'string', format: 'binary' } },
              },
            },
          },
        },
        response: {
          201: json(
            {
              type: 'object',
              properties: {
                project: ref('Project'),
                imported: {
                  type: 'object',
                  properties: { photos: { type: 'integer' }, bundles: { type: 'integer' } },
                },
              },
            },
            'the imported project',
          ),
          ...errorResponses(
            'invalid_name',
            'archive_invalid',
            'archive_truncated',
            'archive_unsafe_path',
            'malformed_multipart',
            'no_files',
            'project_exists',
            'payload_too_large',
            'unsupported_media_type',
            'unsupported_image_format',
            'archive_hash_mismatch',
            'archive_unsupported',
            'undecodable_image',
            'image_too_large',
          ),
        },
      },
    },
    async (req, reply) => {
      const maxBytes = env.maxArchiveBytes;
      const declared = Number(req.headers['content-length']);
      if (declared > maxBytes + 64 * 1024)
        throw tooLarge(
          `the archive is larger than the ${formatBytes(maxBytes)} limit (TL_MAX_ARCHIVE_BYTES); nothing was imported`,
        );
      const opts = { maxBytes, maxImageBytes: ctx.maxImageBytes };
      let result: ImportResult | undefined;
      if (req.isMultipart()) {
        let newName = req.query.name;
        const partsOptions = {
          limits: { fileSize: maxBytes + 1, files: 1, fields: 5, parts: 6 },
        } as unknown as Parameters<typeof req.parts>[0];
        for await (const part of req.parts(partsOptions)) {
          if (part.type === 'field') {
            if (part.fieldname === 'name' && typeof part.value === 'string' && part.value.trim()) newName = part.value;
            continue;
          }
          result = await importFrom(part.file, (body) => importProjectArchive(store, body, { ...opts, newName }));
          break;
        }
        if (!result) throw badRequest('no file in the upload; send the archive as a multipart file field', 'no_files');
      } else {
        const type = String(req.headers['content-type'] ?? '')
          .split(';')[0]
          .trim()
          .toLowerCase();
        if (!TAR_TYPES.includes(type))
          throw unsupportedType(
            `send the project archive as application/x-tar (or multipart/form-data), not "${type.slice(0, 60)}"`,
          );
        // An empty body reaches no parser: it reads as an archive that ends at once.
        const stream = req.body instanceof Readable ? req.body : Readable.from([]);
        result = await importFrom(stream, (body) =>
          importProjectArchive(store, body, { ...opts, newName: req.query.name || undefined }),
        );
      }
      reply.code(201).send({
        project: await store.summary(result.project),
        imported: { photos: result.photos, bundles: result.bundles },
      });
    },
  );
}
