// What training produced: the results of a bundle, the list of bundles, a bundle as a .tar, its HTML report.
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { PROJECT_ERRORS, binary, errorResponses, json, pathParams, ref } from '../api-schemas.js';
import type { RouteOptions } from '../context.js';
import { notFound } from '../errors.js';
import { imageUrls } from '../image-urls.js';
import { modelState } from '../project-models.js';
import { bundleDownloadName, stripProjectDir, type Misclassified } from '../training.js';
import { tarFolder } from '../tar.js';

type P = { Params: { project: string } };
type PB = { Params: { project: string; stamp: string } };

const PROJECT = { project: 'project name' };
const PROJECT_STAMP = { project: 'project name', stamp: 'bundle stamp, or "latest" for the newest' };

interface Metrics {
  accuracy: number;
  count: number;
  macroF1: number;
  logLoss: number;
  perClass: { label: string; precision: number; recall: number; f1: number; support: number }[];
  confusion: number[][];
}

export async function bundleRoutes(app: FastifyInstance, { ctx }: RouteOptions): Promise<void> {
  const { store } = ctx;

  app.get<P & { Querystring: { bundle?: string } }>(
    '/v1/projects/:project/results',
    {
      schema: {
        summary:
          'Results of the latest (or ?bundle=STAMP) training: accuracy, per-class, confusion matrix, misclassified images with probabilities, curve',
        params: pathParams(PROJECT),
        querystring: { type: 'object', properties: { bundle: { type: 'string' } } },
        response: { 200: json(ref('Results'), 'results'), ...errorResponses(...PROJECT_ERRORS, 'no_bundle') },
      },
    },
    async (req) => {
      const p = (await store.meta(req.params.project)).name;
      const { stamp, dir } = await store.bundleDir(p, req.query.bundle);
      const readJson = async <T>(file: string, fallback: T): Promise<T> => {
        try {
          return JSON.parse(await readFile(join(dir, file), 'utf8')) as T;
        } catch {
          return fallback;
        }
      };
      const manifest = await readJson<{
        labels: string[];
        createdAt: string;
        backbone: { id: string };
        config: Record<string, unknown>;
      }>('classifier.json', {
        labels: [],
        createdAt: '',
        backbone: { id: '' },
        config: {},
      });
      const metrics = await readJson<Metrics>('metrics.json', {
        accuracy: 0,
        count: 0,
        macroF1: 0,
        logLoss: 0,
        perClass: [],
        confusion: [],
      });
      const mis = await readJson<Misclassified[]>('misclassified.json', []);
      const history = await readJson<unknown[]>('history.json', []);
      const training = await readJson<{
        timings?: { totalSeconds: number; extractSeconds: number; trainSeconds: number };
        plan?: { choice: string; reason: string; timeBudget: number } | null;
      }>('training.json', {});
      const misclassified = await Promise.all(
        mis.map(async (m) => {
          const file = m.image.split('/').pop() ?? '';
          const where = await store.findImage(p, file);
          return { ...m, file, ...(where ? imageUrls(p, where) : { url: null, thumbnailUrl: null }) };
        }),
      );
      const latest = (await store.latestBundle(p)) === stamp;
      return {
        project: p,
        bundle: stamp,
        // Whether the latest model still matches the project's classes and photos (null for an older bundle).
        model: latest ? await modelState(store, p) : null,
        createdAt: manifest.createdAt,
        backbone: manifest.backbone.id,
        rung: manifest.config.strategy ?? 'head',
        splits: manifest.config.splits ?? null,
        timings: training.timings ?? null,
        plan: training.plan ?? null,
        exportsUrl: `/v1/projects/${encodeURIComponent(p)}/bundles/${stamp}/exports`,
        labels: manifest.labels,
        evaluatedOn: manifest.config.evaluatedOn ?? null,
        trainImages: manifest.config.trainImages ?? null,
        valImages: manifest.config.valImages ?? null,
        accuracy: metrics.accuracy,
        count: metrics.count,
        macroF1: metrics.macroF1,
        logLoss: metrics.logLoss,
        // Per-class accuracy is the recall of the class: correct / images of the class.
        perClass: metrics.perClass.map((c) => ({ ...c, accuracy: c.recall })),
        confusion: metrics.confusion,
        misclassified,
        history,
        downloadUrl: `/v1/projects/${encodeURIComponent(p)}/bundles/${stamp}/download`,
        reportUrl: `/v1/projects/${encodeURIComponent(p)}/bundles/${stamp}/report`,
      };
    },
  );

  const bundleList = {
    type: 'object',
    properties: {
      bundles: {
        type: 'array',
        items: { type: 'object', properties: { stamp: { type: 'string' }, downloadUrl: { type: 'string' } } },
      },
    },
  };
  app.get<P>(
    '/v1/projects/:project/bundles',
    {
      schema: {
        summary: 'Trained bundles, newest first',
        params: pathParams(PROJECT),
        response: { 200: json(bundleList, 'bundles'), ...errorResponses(...PROJECT_ERRORS) },
      },
    },
    async (req) => {
      const p = (await store.meta(req.params.project)).name;
      return {
        bundles: (await store.bundleStamps(p))
          .reverse()
          .map((stamp) => ({ stamp, downloadUrl: `/v1/projects/${encodeURIComponent(p)}/bundles/${stamp}/download` })),
      };
    },
  );

  const bundleFor = async (req: FastifyRequest<PB>) =>
    store.bundleDir(req.params.project, req.params.stamp === 'latest' ? undefined : req.params.stamp);
  app.get<PB>(
    '/v1/projects/:project/bundles/:stamp/download',
    {
      schema: {
        summary: 'The bundle folder as a .tar stream (stamp "latest" for the newest)',
        params: pathParams(PROJECT_STAMP),
        response: {
          200: binary('application/x-tar', 'the bundle folder'),
          ...errorResponses(...PROJECT_ERRORS, 'no_bundle'),
        },
      },
    },
    async (req, reply) => {
      const p = (await store.meta(req.params.project)).name;
      const { stamp, dir } = await bundleFor(req);
      const name = bundleDownloadName(p, stamp);
      // Bundles trained before paths were saved relative to the project still name its folder: take it out.
      const stream = await tarFolder(dir, name, (text) => stripProjectDir(text, store.dir(p)));
      reply.header('content-disposition', `attachment; filename="${name}.tar"`).type('application/x-tar');
      return reply.send(stream);
    },
  );
  app.get<PB>(
    '/v1/projects/:project/bundles/:stamp/report',
    {
      schema: {
        summary: 'The HTML report of a bundle',
        params: pathParams(PROJECT_STAMP),
        response: {
          200: { description: 'the report', content: { 'text/html': { schema: { type: 'string' } } } },
          ...errorResponses(...PROJECT_ERRORS, 'no_bundle', 'no_report'),
        },
      },
    },
    async (req, reply) => {
      const p = (await store.meta(req.params.project)).name;
      const { dir } = await bundleFor(req);
      const path = join(dir, 'report.html');
      if (!existsSync(path)) throw notFound('this bundle has no report.html', 'no_report');
      return reply.type('text/html; charset=utf-8').send(stripProjectDir(await readFile(path, 'utf8'), store.dir(p)));
    },
  );
}
