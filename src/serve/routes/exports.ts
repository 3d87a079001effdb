// Deployable exports of a project's bundle (issue 25 item 1): make one (ONNX or TF.js, what `tl export` makes, with its
// agreement check), list them, download one as a .tar, read one file (what a browser page running it loads), with
// copy-paste snippets that run it.
import { createReadStream, existsSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { PROJECT_ERRORS, binary, errorResponses, json, pathParams } from '../api-schemas.js';
import type { RouteOptions } from '../context.js';
import { badRequest, notFound } from '../errors.js';
import type { ExportFormat } from '../../export/export.js';
import { exportSnippets } from '../export-snippets.js';
import { EXPORT_FORMATS, exportDir, makeExport, readExport, type ExportInfo } from '../exports.js';
import { tarFolder } from '../tar.js';
import { bundleDownloadName } from '../training.js';

type PB = { Params: { project: string; stamp: string } };
type PBF = { Params: { project: string; stamp: string; format: string } };
type PBFF = { Params: { project: string; stamp: string; format: string; file: string } };

const PARAMS = { project: 'project name', stamp: 'bundle stamp, or "latest" for the newest' };
const EXPORT_VIEW = {
  type: 'object',
  properties: {
    format: { type: 'string', enum: EXPORT_FORMATS },
    backbone: { type: 'string' },
    labels: { type: 'array', items: { type: 'string' } },
    files: { type: 'array', items: { type: 'object' } },
    check: {
      type: 'object',
      description:
        'the export run beside the bundle on the validation photos: top1Agreement, maxProbDiff, bundleAccuracy, exportAccuracy, images; or {reason} when it could not run',
    },
    metadata: { type: 'object', description: "the export's metadata.json (input, preprocessing, outputs)" },
    snippets: { type: 'object', description: 'browser (HTML page) and node (script) code that runs the export' },
    downloadUrl: { type: 'string' },
    filesUrl: { type: 'string', description: 'append a file name of the export to read it' },
    exportedAt: { type: 'string' },
  },
};

function formatOf(value: unknown): ExportFormat {
  if (typeof value === 'string' && (EXPORT_FORMATS as string[]).includes(value)) return value as ExportFormat;
  throw badRequest(
    `export format must be one of ${EXPORT_FORMATS.join(', ')}, got ${JSON.stringify(value)?.slice(0, 40)}`,
    'invalid_format',
  );
}

export async function exportRoutes(app: FastifyInstance, { ctx }: RouteOptions): Promise<void> {
  const { store } = ctx;
  const bundleOf = async (req: FastifyRequest<PB>) => {
    const p = (await store.meta(req.params.project)).name;
    const { stamp, dir } = await store.bundleDir(p, req.params.stamp === 'latest' ? undefined : req.params.stamp);
    return { p, stamp, dir };
  };
  const view = (p: string, stamp: string, e: ExportInfo) => {
    const base = `/v1/projects/${encodeURIComponent(p)}/bundles/${stamp}/exports/${e.format}`;
    return {
      format: e.format,
      backbone: e.metadata.source.backbone,
      labels: e.metadata.labels,
      files: e.files,
      check: e.check,
      problems: e.problems,
      metadata: e.metadata,
      snippets: exportSnippets(e.metadata),
      downloadUrl: `${base}/download`,
      filesUrl: `${base}/files/`,
      exportedAt: e.exportedAt,
    };
  };

  app.get<PB>(
    '/v1/projects/:project/bundles/:stamp/exports',
    {
      schema: {
        summary: 'The exports made of a bundle (ONNX, TF.js), each with its agreement check and snippets',
        params: pathParams(PARAMS),
        response: {
          200: json(
            {
              type: 'object',
              properties: { bundle: { type: 'string' }, exports: { type: 'array', items: EXPORT_VIEW } },
            },
            'exports',
          ),
          ...errorResponses(...PROJECT_ERRORS, 'no_bundle'),
        },
      },
    },
    async (req) => {
      const { p, stamp } = await bundleOf(req);
      const made = await Promise.all(EXPORT_FORMATS.map((f) => readExport(store, p, stamp, f)));
      return { bundle: stamp, exports: made.filter((e) => e !== undefined).map((e) => view(p, stamp, e)) };
    },
  );

  app.post<PB & { Body: { format?: unknown } }>(
    '/v1/projects/:project/bundles/:stamp/exports',
    {
      schema: {
        summary:
          'Export the bundle as ONNX or TF.js (what `tl export` makes; a fine-tuned bundle carries its trained blocks) and run the export beside the bundle on up to 100 validation photos. Takes seconds to a minute; runs in its own process.',
        params: pathParams(PARAMS),
        body: {
          type: 'object',
          required: ['format'],
          properties: { format: { type: 'string', enum: EXPORT_FORMATS } },
        },
        response: {
          201: json(EXPORT_VIEW, 'the export'),
          ...errorResponses(...PROJECT_ERRORS, 'no_bundle', 'invalid_format', 'export_failed'),
        },
      },
    },
    async (req, reply) => {
      const { p, stamp, dir } = await bundleOf(req);
      const body = (req.body ?? {}) as Record<string, unknown>;
      const unknown = Object.keys(body).filter((k) => k !== 'format');
      if (unknown.length) throw badRequest(`unknown field "${unknown[0]}"; known: format`, 'invalid_format');
      const format = formatOf(body.format);
      const e = await makeExport(store, p, stamp, dir, format);
      reply.code(201).send(view(p, stamp, e));
    },
  );

  const madeExport = async (req: FastifyRequest<PBF>) => {
    const { p, stamp } = await bundleOf(req);
    const format = formatOf(req.params.format);
    const e = await readExport(store, p, stamp, format);
    if (!e) throw notFound(`bundle ${stamp} has no ${format} export yet; make it with POST .../exports`, 'no_export');
    return { p, stamp, format, e, dir: exportDir(store, p, stamp, format) };
  };

  app.get<PBF>(
    '/v1/projects/:project/bundles/:stamp/exports/:format/download',
    {
      schema: {
        summary: 'The export folder as a .tar (model, metadata.json, unknown-references.bin)',
        params: pathParams({ ...PARAMS, format: 'onnx or tfjs' }),
        response: {
          200: binary('application/x-tar', 'the export folder'),
          ...errorResponses(...PROJECT_ERRORS, 'no_bundle', 'invalid_format', 'no_export'),
        },
      },
    },
    async (req, reply) => {
      const { p, stamp, format, dir } = await madeExport(req);
      const name = `${bundleDownloadName(p, stamp)}-${format}`;
      const stream = await tarFolder(dir, name);
      reply.header('content-disposition', `attachment; filename="${name}.tar"`).type('application/x-tar');
      return reply.send(stream);
    },
  );

  app.get<PBFF>(
    '/v1/projects/:project/bundles/:stamp/exports/:format/files/:file',
    {
      schema: {
        summary:
          'One file of the export (model.onnx, model.json, weights.bin, metadata.json): what a page running it loads',
        params: pathParams({ ...PARAMS, format: 'onnx or tfjs', file: 'a file name of the export' }),
        response: {
          200: binary('application/octet-stream', 'the file'),
          ...errorResponses(...PROJECT_ERRORS, 'no_bundle', 'invalid_format', 'no_export'),
        },
      },
    },
    async (req, reply) => {
      const { e, dir } = await madeExport(req);
      const file = req.params.file;
      if (!e.files.some((f) => f.name === file) || !existsSync(join(dir, file)))
        throw notFound(
          `the export has no file "${file.slice(0, 80)}"; it has ${e.files.map((f) => f.name).join(', ')}`,
          'no_export',
        );
      const type = file.endsWith('.json') ? 'application/json' : 'application/octet-stream';
      return reply.type(type).send(createReadStream(join(dir, file)));
    },
  );
}
