// `tl serve`: one Fastify server for the web app (static files at /) and the versioned JSON API under /v1.
import { createReadStream, existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname, extname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AddressInfo } from 'node:net';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import multipart from '@fastify/multipart';
import fastifyStatic from '@fastify/static';
import { TlError } from '../util/errors.js';
import { VERSION } from '../version.js';
import { listModels } from '../backbone/registry.js';
import { DEFAULT_MODEL_ID } from '../backbone/zoo.js';
import type { BatcherOptions } from './batcher.js';
import { HttpError, badRequest, conflict, errorBody, malformedMultipart, notFound, unprocessable, unsupportedType } from './errors.js';
import { JobManager, type Job } from './jobs.js';
import { ServedModel } from './models.js';
import { ProjectStore, formatBytes, validateName, type ImageEntry } from './projects.js';
import { tarFolder } from './tar.js';
import { bundleDownloadName, parseTrainRequest, runProjectTraining, stripProjectDir, type Misclassified } from './training.js';
import { openApiDocument } from './openapi.js';
import { checkRequestHost, isLoopbackName } from './host-check.js';
import { checkImage } from './image-types.js';
import { UploadBatch, type UploadResult } from './uploads.js';
import { ClassNameBody, CreateProjectBody, parseBody } from './bodies.js';

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
}

export interface TlServer {
  app: FastifyInstance;
  url: string;
  port: number;
  store: ProjectStore;
  jobs: JobManager;
  close(): Promise<void>;
}

const MODEL_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const IMAGE_TYPES: Record<string, string> = { jpg: 'image/jpeg', png: 'image/png', webp: 'image/webp', tif: 'image/tiff', avif: 'image/avif' };

/** The package root (holds package.json), found from this file's place in src/ or dist/src/. */
function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    dir = dirname(dir);
  }
  return process.cwd();
}

export function defaultWebDir(): string {
  return join(packageRoot(), 'dist', 'web');
}

export function modelNameFor(dir: string): string {
  return basename(resolve(dir)).replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^[^A-Za-z0-9]+/, '').slice(0, 64) || 'model';
}

/** Loaded project classifiers (latest bundle of each), least recently used unloaded first. */
class ProjectModels {
  private loaded = new Map<string, { stamp: string; model: ServedModel }>();
  private loading = new Map<string, Promise<ServedModel>>();

  constructor(
    private store: ProjectStore,
    private batching: BatcherOptions,
    private max: number,
  ) {}

  async get(project: string): Promise<ServedModel> {
    const { stamp, dir } = await this.store.bundleDir(project);
    const cur = this.loaded.get(project);
    if (cur?.stamp === stamp) {
      this.loaded.delete(project);
      this.loaded.set(project, cur);
      return cur.model;
    }
    const key = `${project}\n${stamp}`;
    let p = this.loading.get(key);
    if (!p) {
      p = ServedModel.load(project, dir, this.batching)
        .then((m) => {
          this.set(project, stamp, m);
          return m;
        })
        .finally(() => this.loading.delete(key));
      this.loading.set(key, p);
    }
    return p;
  }

  set(project: string, stamp: string, model: ServedModel): void {
    const old = this.loaded.get(project);
    this.loaded.delete(project);
    this.loaded.set(project, { stamp, model });
    if (old && old.model !== model) void old.model.dispose().catch(() => {});
    while (this.loaded.size > this.max) {
      const [name, entry] = this.loaded.entries().next().value as [string, { stamp: string; model: ServedModel }];
      this.loaded.delete(name);
      void entry.model.dispose().catch(() => {});
    }
  }

  drop(project: string): void {
    const old = this.loaded.get(project);
    this.loaded.delete(project);
    if (old) void old.model.dispose().catch(() => {});
  }

  async closeAll(): Promise<void> {
    const all = [...this.loaded.values()];
    this.loaded.clear();
    await Promise.all(all.map((e) => e.model.dispose().catch(() => {})));
  }
}

function parseTop(q: unknown, fallback = 3): number {
  const v = (q as { top?: string } | undefined)?.top;
  if (v === undefined || v === '') return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 1000) throw badRequest(`top must be a positive integer, got "${String(v).slice(0, 20)}"`, 'invalid_top');
  return n;
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
  const sseClients = new Set<import('node:http').ServerResponse>();

  // Served bundles, each under its own name.
  const models = new Map<string, ServedModel>();
  try {
    for (const b of opts.bundles ?? []) {
      if (!MODEL_NAME_RE.test(b.name)) throw new TlError(`invalid model name "${b.name}"`, 'Use 1-64 letters, digits, . _ - (set it with --name).');
      if (models.has(b.name)) throw new TlError(`two bundles are both named "${b.name}"`, 'Give each its own name with --name.');
      models.set(b.name, await ServedModel.load(b.name, b.dir, batching));
    }
  } catch (err) {
    await Promise.all([...models.values()].map((m) => m.dispose()));
    throw err;
  }

  const app = Fastify({ logger: false, bodyLimit: maxImageBytes, forceCloseConnections: true, return503OnClosing: true });

  // Image bytes as the raw body; text/plain and JSON keep Fastify's parsers (and are refused by predict with 415).
  app.addContentTypeParser(/^image\//i, { parseAs: 'buffer', bodyLimit: maxImageBytes }, (_req, body, done) => done(null, body));
  app.addContentTypeParser('application/octet-stream', { parseAs: 'buffer', bodyLimit: maxImageBytes }, (_req, body, done) => done(null, body));
  await app.register(multipart, { limits: { fileSize: maxImageBytes, files: maxFiles, fields: 20, parts: maxFiles + 20, headerPairs: 100 } });

  // Loopback-only by default: refuse other Host names (DNS rebinding) and cross-origin writes (CSRF from web pages).
  const loopbackOnly = isLoopbackName(host.replace(/^\[(.*)\]$/, '$1'));
  let ownPort = 0;
  app.addHook('onRequest', async (req, reply) => {
    ownPort ||= (app.server.address() as AddressInfo | null)?.port ?? opts.port ?? 8765;
    const check = checkRequestHost({ method: req.method, host: req.headers.host, origin: req.headers.origin }, { loopbackOnly, port: ownPort });
    if (!check.ok) return reply.code(check.status).send(errorBody(check.status, check.code, check.message));
  });
  if (opts.verbose) app.addHook('onResponse', async (req, reply) => log(`${req.method} ${req.url} ${reply.statusCode} ${reply.elapsedTime.toFixed(1)} ms`));

  app.setErrorHandler((err: Error & { statusCode?: number; code?: string }, req, reply) => {
    let status = err.statusCode && err.statusCode >= 400 && err.statusCode < 600 ? err.statusCode : 500;
    let code = 'internal_error';
    let message = 'internal server error';
    const malformed = malformedMultipart(err);
    if (malformed) [status, code, message] = [malformed.statusCode, malformed.code, malformed.message];
    else if (err instanceof HttpError) {
      code = err.code;
      message = err.message;
    } else if (err instanceof TlError) {
      status = 500;
      code = 'tl_error';
      message = err.message + ((err as TlError).hint ? ` (${(err as TlError).hint})` : '');
    } else {
      switch (err.code) {
        case 'FST_ERR_CTP_BODY_TOO_LARGE':
          [status, code, message] = [413, 'payload_too_large', `the request body is larger than the ${formatBytes(maxImageBytes)} limit`];
          break;
        case 'FST_REQ_FILE_TOO_LARGE':
          [status, code, message] = [413, 'payload_too_large', `a file is larger than the ${formatBytes(maxImageBytes)} limit`];
          break;
        case 'FST_FILES_LIMIT':
        case 'FST_PARTS_LIMIT':
        case 'FST_FIELDS_LIMIT':
          [status, code, message] = [413, 'too_many_parts', `too many files or fields in one request (at most ${maxFiles} files)`];
          break;
        case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
        case 'FST_INVALID_MULTIPART_CONTENT_TYPE':
          [status, code, message] = [415, 'unsupported_media_type', `unsupported Content-Type "${String(req.headers['content-type'] ?? '').slice(0, 60)}"`];
          break;
        default:
          if (status < 500) {
            code = String(err.code ?? 'bad_request').toLowerCase();
            message = (err.message || 'bad request').split('\n')[0].slice(0, 300);
          }
      }
    }
    if (status >= 500 && !(err instanceof HttpError) && !malformed) log(`error on ${req.method} ${req.url}: ${err.stack ?? err.message}`);
    if (reply.sent || reply.raw.headersSent) return;
    reply.code(status).type('application/json; charset=utf-8').send(errorBody(status, code, message));
  });

  app.setNotFoundHandler((req, reply) => {
    reply.code(404).send(errorBody(404, 'route_not_found', `no route ${req.method} ${req.url.split('?')[0].slice(0, 200)}`));
  });

  // ---------- service ----------
  const started = Date.now();
  app.get('/v1/health', async () => ({
    status: 'ok',
    version: VERSION,
    uptimeSeconds: Math.round((Date.now() - started) / 1000),
    models: [...models.keys()],
    jobsRunning: jobs.all().filter((j) => !j.finished).length,
  }));
  app.get('/v1/openapi.json', async () => openApiDocument(VERSION));
  app.get('/v1/backbones', async () => listModels().map((m) => ({ id: m.id, title: m.title, featureDim: m.feature.dim, default: m.id === DEFAULT_MODEL_ID })));

  // ---------- prediction ----------
  async function predictRequest(req: FastifyRequest, reply: FastifyReply, model: ServedModel) {
    const top = parseTop(req.query);
    const t0 = performance.now();
    if (req.isMultipart()) {
      const files: { name: string; mimetype: string; data: Buffer }[] = [];
      for await (const part of req.parts()) {
        if (part.type !== 'file') continue;
        files.push({ name: part.filename || `file${files.length + 1}`, mimetype: part.mimetype, data: await part.toBuffer() });
      }
      if (!files.length) throw badRequest('the multipart body has no file part; send images as file fields (e.g. curl -F file=@photo.jpg)', 'no_files');
      const results = await Promise.all(
        files.map(async (f) => {
          try {
            if (!f.data.length) throw unprocessable(`"${f.name}" is empty (0 bytes)`, 'undecodable_image');
            await checkImage(f.data, f.mimetype, f.name);
            return { file: f.name, ...(await model.predict(f.data, top)) };
          } catch (err) {
            if (err instanceof HttpError) return { file: f.name, error: { status: err.statusCode, code: err.code, message: err.message } };
            throw err;
          }
        }),
      );
      return reply.send({ model: model.name, results, timing: { totalMs: Math.round((performance.now() - t0) * 100) / 100 } });
    }
    const type = String(req.headers['content-type'] ?? '');
    const body = req.body as unknown;
    if (/^image\//i.test(type) || /^application\/octet-stream/i.test(type)) {
      if (!Buffer.isBuffer(body) || body.length === 0) throw unprocessable('the request body is empty; send the image bytes', 'undecodable_image');
      await checkImage(body, type);
      return reply.send({ model: model.name, ...(await model.predict(body, top)) });
    }
    throw unsupportedType(
      type
        ? `unsupported Content-Type "${type.slice(0, 60)}": send the image bytes with Content-Type image/jpeg, image/png, image/webp, ... or multipart/form-data with one or more files`
        : 'no Content-Type: send the image bytes with Content-Type image/jpeg, image/png, image/webp, ... or multipart/form-data',
    );
  }

  function servedModel(name: string): ServedModel {
    const m = models.get(name);
    if (!m) throw notFound(`no model named "${name.slice(0, 80)}"${models.size ? `; served: ${[...models.keys()].join(', ')}` : ' (none are served; start tl serve with --bundle DIR)'}`, 'model_not_found');
    return m;
  }

  app.get('/v1/models', async () => ({ models: [...models.values()].map((m) => m.info()) }));
  app.get<{ Params: { name: string } }>('/v1/models/:name', async (req) => servedModel(req.params.name).info());
  app.post<{ Params: { name: string } }>('/v1/models/:name/predict', async (req, reply) => predictRequest(req, reply, servedModel(req.params.name)));

  // ---------- projects ----------
  type P = { Params: { project: string } };
  type PC = { Params: { project: string; class: string } };
  type PCF = { Params: { project: string; class: string; file: string } };
  const imageUrls = (project: string, img: { class: string; file: string }) => {
    const base = `/v1/projects/${encodeURIComponent(project)}/classes/${encodeURIComponent(img.class)}/images/${img.file}`;
    return { url: base, thumbnailUrl: `${base}/thumbnail` };
  };
  const withJob = async (project: string) => {
    const s = await store.summary(project);
    const job = jobs.active(s.name);
    return { ...s, activeJob: job ? job.summary() : null };
  };

  app.get('/v1/projects', async () => store.list());
  app.post('/v1/projects', async (req, reply) => {
    const b = parseBody(CreateProjectBody, req.body);
    reply.code(201).send(await store.create(b.name, b.classes ?? []));
  });
  app.get<P>('/v1/projects/:project', async (req) => withJob(req.params.project));
  app.delete<P>('/v1/projects/:project', async (req, reply) => {
    const name = validateName('project', req.params.project);
    await store.remove(name);
    projectModels.drop(name);
    reply.code(204).send();
  });

  app.post<P>('/v1/projects/:project/classes', async (req, reply) => {
    reply.code(201).send(await store.addClass(req.params.project, parseBody(ClassNameBody, req.body).name));
  });
  app.patch<PC>('/v1/projects/:project/classes/:class', async (req) => store.renameClass(req.params.project, req.params.class, parseBody(ClassNameBody, req.body).name));
  app.delete<PC>('/v1/projects/:project/classes/:class', async (req) => store.removeClass(req.params.project, req.params.class));

  app.get<P & { Querystring: { class?: string } }>('/v1/projects/:project/images', async (req) => {
    const p = validateName('project', req.params.project);
    const images: (ImageEntry & { url: string; thumbnailUrl: string })[] = (await store.images(p, req.query.class)).map((i) => ({ ...i, ...imageUrls(p, i) }));
    return { images };
  });

  app.post<PC>('/v1/projects/:project/classes/:class/images', async (req, reply) => {
    const p = await store.requireClass(req.params.project, req.params.class);
    const cls = req.params.class;
    if (!req.isMultipart()) throw unsupportedType('upload images as multipart/form-data with one or more file fields');
    // All or nothing: files are staged and committed only once the whole request was received; a refused request
    // (too many files, a malformed or aborted body) stores nothing. Receiving is cheap (no decoding), so the file
    // limit stops a too-large request early.
    const batch = new UploadBatch(await store.uploadTarget(p, cls), maxImageBytes);
    let stored: UploadResult[] = [];
    try {
      // throwFileSizeLimit: false: an oversized file is reported per file (part.file.truncated), the others are kept.
      const partsOptions = { limits: { fileSize: maxImageBytes, files: maxFiles, fields: 20, parts: maxFiles + 20 }, throwFileSizeLimit: false } as unknown as Parameters<typeof req.parts>[0];
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
    if (!added.length && !rejected.length) throw badRequest('no file in the upload; send images as multipart file fields', 'no_files');
    if (!added.length) {
      const first = rejected[0];
      return reply.code(first.status).send({ ...errorBody(first.status, first.code, rejected.map((r) => r.message).join('; ')), rejected });
    }
    return reply.code(201).send({ added: added.filter((a) => !a.duplicate), duplicates: added.filter((a) => a.duplicate), rejected, project: await store.summary(p) });
  });

  app.get<PCF>('/v1/projects/:project/classes/:class/images/:file', async (req, reply) => {
    const path = await store.imagePath(req.params.project, req.params.class, req.params.file);
    reply.header('cache-control', 'private, max-age=3600').type(IMAGE_TYPES[extname(path).slice(1)] ?? 'application/octet-stream');
    return reply.send(createReadStream(path));
  });
  app.get<PCF>('/v1/projects/:project/classes/:class/images/:file/thumbnail', async (req, reply) => {
    const buf = await store.thumbnail(req.params.project, req.params.class, req.params.file);
    // The file name is the content hash: the thumbnail under this URL never changes.
    reply.header('cache-control', 'private, max-age=31536000, immutable').type('image/jpeg');
    return reply.send(buf);
  });
  app.delete<PCF>('/v1/projects/:project/classes/:class/images/:file', async (req, reply) => {
    await store.removeImage(req.params.project, req.params.class, req.params.file);
    reply.code(204).send();
  });

  // ---------- training ----------
  app.post<P>('/v1/projects/:project/train', async (req, reply) => {
    const s = await store.summary(req.params.project);
    const options = parseTrainRequest(req.body);
    if (jobs.active(s.name)) throw conflict(`project "${s.name}" is already training (job ${jobs.active(s.name)!.id})`, 'already_training');
    if (s.classes.length < 2) throw unprocessable(`a classifier needs at least two classes; "${s.name}" has ${s.classes.length}`, 'not_enough_classes');
    const empty = s.classes.filter((c) => c.images === 0);
    if (empty.length) throw unprocessable(`class${empty.length > 1 ? 'es' : ''} without images: ${empty.map((c) => `"${c.name}"`).join(', ')}; add photos or remove ${empty.length > 1 ? 'them' : 'it'}`, 'empty_class');
    const job = jobs.create(s.name);
    const run = runProjectTraining(
      job,
      store,
      options,
      async (stamp, dir, classifier) => projectModels.set(s.name, stamp, ServedModel.wrap(s.name, dir, classifier, batching)),
      log,
    ).finally(() => running.delete(run));
    running.add(run);
    reply.code(202).header('location', `/v1/jobs/${job.id}`).send({ job: job.summary(), eventsUrl: `/v1/jobs/${job.id}/events` });
  });

  const getJob = (id: string): Job => {
    const job = jobs.get(id);
    if (!job) throw notFound(`no job "${id.slice(0, 40)}"`, 'job_not_found');
    return job;
  };
  app.get<P>('/v1/projects/:project/jobs', async (req) => {
    const p = (await store.meta(req.params.project)).name;
    return { jobs: jobs.forProject(p).map((j) => j.summary()) };
  });
  app.get<{ Params: { id: string } }>('/v1/jobs/:id', async (req) => getJob(req.params.id).summary());
  const cancel = async (req: FastifyRequest<{ Params: { id: string } }>, reply: FastifyReply) => {
    const job = getJob(req.params.id);
    jobs.cancel(job.id);
    reply.code(job.finished ? 200 : 202).send(job.summary());
  };
  app.post<{ Params: { id: string } }>('/v1/jobs/:id/cancel', cancel);
  app.delete<{ Params: { id: string } }>('/v1/jobs/:id', cancel);

  // Server-Sent Events: every event of the job so far (or after Last-Event-ID), then live ones until it ends.
  app.get<{ Params: { id: string } }>('/v1/jobs/:id/events', async (req, reply) => {
    const job = getJob(req.params.id);
    const lastSeen = Number(req.headers['last-event-id'] ?? (req.query as { after?: string }).after ?? -1);
    const after = Number.isFinite(lastSeen) ? lastSeen : -1;
    if (job.finished && after >= job.lastId) return reply.code(204).send(); // 204 tells EventSource to stop reconnecting
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache, no-transform', connection: 'keep-alive', 'x-accel-buffering': 'no' });
    res.write('retry: 1500\n\n');
    const send = (e: { id: number; event: string; data: unknown }) => res.write(`id: ${e.id}\nevent: ${e.event}\ndata: ${JSON.stringify(e.data)}\n\n`);
    for (const e of job.events) if (e.id > after) send(e);
    if (job.finished) return void res.end();
    sseClients.add(res);
    const heartbeat = setInterval(() => res.write(': keep-alive\n\n'), 15_000);
    const stop = () => {
      clearInterval(heartbeat);
      unsubscribe();
      sseClients.delete(res);
    };
    const unsubscribe = job.subscribe((e) => {
      send(e);
      if (e.event === 'end') {
        stop();
        res.end();
      }
    });
    res.on('close', stop);
  });

  // ---------- results, bundles, prediction with the latest bundle ----------
  app.get<P & { Querystring: { bundle?: string } }>('/v1/projects/:project/results', async (req) => {
    const p = (await store.meta(req.params.project)).name;
    const { stamp, dir } = await store.bundleDir(p, req.query.bundle);
    const readJson = async <T>(file: string, fallback: T): Promise<T> => {
      try {
        return JSON.parse(await readFile(join(dir, file), 'utf8')) as T;
      } catch {
        return fallback;
      }
    };
    const manifest = await readJson<{ labels: string[]; createdAt: string; backbone: { id: string }; config: Record<string, unknown> }>('classifier.json', { labels: [], createdAt: '', backbone: { id: '' }, config: {} });
    const metrics = await readJson<{ accuracy: number; count: number; macroF1: number; logLoss: number; perClass: { label: string; precision: number; recall: number; f1: number; support: number }[]; confusion: number[][] }>('metrics.json', {
      accuracy: 0,
      count: 0,
      macroF1: 0,
      logLoss: 0,
      perClass: [],
      confusion: [],
    });
    const mis = await readJson<Misclassified[]>('misclassified.json', []);
    const history = await readJson<unknown[]>('history.json', []);
    const misclassified = await Promise.all(
      mis.map(async (m) => {
        const file = m.image.split('/').pop() ?? '';
        const where = await store.findImage(p, file);
        return { ...m, file, ...(where ? imageUrls(p, where) : { url: null, thumbnailUrl: null }) };
      }),
    );
    return {
      project: p,
      bundle: stamp,
      createdAt: manifest.createdAt,
      backbone: manifest.backbone.id,
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
  });

  app.get<P>('/v1/projects/:project/bundles', async (req) => {
    const p = (await store.meta(req.params.project)).name;
    return { bundles: (await store.bundleStamps(p)).reverse().map((stamp) => ({ stamp, downloadUrl: `/v1/projects/${encodeURIComponent(p)}/bundles/${stamp}/download` })) };
  });
  type PB = { Params: { project: string; stamp: string } };
  const bundleFor = async (req: FastifyRequest<PB>) => store.bundleDir(req.params.project, req.params.stamp === 'latest' ? undefined : req.params.stamp);
  app.get<PB>('/v1/projects/:project/bundles/:stamp/download', async (req, reply) => {
    const p = (await store.meta(req.params.project)).name;
    const { stamp, dir } = await bundleFor(req);
    const name = bundleDownloadName(p, stamp);
    // Bundles trained before paths were saved relative to the project still name its folder: take it out.
    const stream = await tarFolder(dir, name, (text) => stripProjectDir(text, store.dir(p)));
    reply.header('content-disposition', `attachment; filename="${name}.tar"`).type('application/x-tar');
    return reply.send(stream);
  });
  app.get<PB>('/v1/projects/:project/bundles/:stamp/report', async (req, reply) => {
    const p = (await store.meta(req.params.project)).name;
    const { dir } = await bundleFor(req);
    const path = join(dir, 'report.html');
    if (!existsSync(path)) throw notFound('this bundle has no report.html', 'no_report');
    return reply.type('text/html; charset=utf-8').send(stripProjectDir(await readFile(path, 'utf8'), store.dir(p)));
  });
  app.post<P>('/v1/projects/:project/predict', async (req, reply) => {
    const p = validateName('project', req.params.project);
    return predictRequest(req, reply, await projectModels.get(p));
  });

  // ---------- the web app ----------
  const webDir = opts.webDir === undefined ? defaultWebDir() : opts.webDir;
  if (webDir && existsSync(join(webDir, 'index.html'))) {
    await app.register(fastifyStatic, {
      root: resolve(webDir),
      prefix: '/',
      index: ['index.html'],
      setHeaders: (reply, path) => {
        // Vite names built assets by content hash; index.html must always be revalidated.
        reply.header('cache-control', /[/\\]assets[/\\]/.test(path) ? 'public, max-age=31536000, immutable' : 'no-cache');
      },
    });
  } else if (webDir !== null) {
    app.get('/', async (_req, reply) =>
      reply
        .type('text/html; charset=utf-8')
        .send(
          '<!doctype html><meta charset="utf-8"><title>tl serve</title><p>The web app is not built. Run <code>npm run build</code> in the tl package, then restart <code>tl serve</code>. The API is available under <a href="/v1/health">/v1</a> (<a href="/v1/openapi.json">OpenAPI</a>).</p>',
        ),
    );
  }

  const close = async () => {
    for (const j of jobs.all()) jobs.cancel(j.id);
    for (const res of sseClients) res.end();
    // Cancelled jobs stop at their next check; do not wait forever for one stuck in a long step.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.allSettled([...running]), new Promise((r) => (timer = setTimeout(r, 15_000)))]);
    clearTimeout(timer);
    await app.close();
    await projectModels.closeAll();
    await Promise.all([...models.values()].map((m) => m.dispose().catch(() => {})));
  };

  return { app, store, jobs, close };
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
    if (e.code === 'EADDRINUSE') throw new TlError(`port ${opts.port} on ${host} is already in use`, 'Pick another with --port (0 picks a free one).');
    if (e.code === 'EADDRNOTAVAIL' || e.code === 'ENOTFOUND') throw new TlError(`cannot listen on ${host}: no such local address`);
    if (e.code === 'EACCES') throw new TlError(`no permission to listen on port ${opts.port}`, 'Ports below 1024 need privileges; use --port 8765.');
    throw err;
  }
  const addr = s.app.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : (opts.port ?? 8765);
  const shown = host.includes(':') ? `[${host}]` : host === '0.0.0.0' ? '127.0.0.1' : host;
  return { ...s, port, url: `http://${shown}:${port}` };
}
