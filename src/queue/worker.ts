// `tl worker`: a BullMQ Worker that embeds shards of images. It loads each backbone a job asks for once (the zoo,
// checksums and TL_MODELS_DIR rules of loadFeatureBackbone), refuses a job whose model it cannot reproduce exactly
// (weights hash, preprocessing, feature tensor: the store's model key), and embeds with the same decode +
// preprocessing code as local extraction, so the vectors are byte-identical. Crash safety is BullMQ's: a job whose
// worker stops renewing its lock (SIGKILL, lost machine) is moved back to the queue by another worker's stalled check.
import { Worker, UnrecoverableError, type Job } from 'bullmq';
import type { Backbone } from '../backbone/types.js';
import { loadFeatureBackbone } from '../backbone/load.js';
import { modelKeyFor } from '../features/store.js';
import { preprocess } from '../data/image.js';
import { readImageBytes } from '../data/image-file.js';
import { sha256 } from '../util/hash.js';
import { redisOptions } from './connection.js';
import {
  EMBED_JOB_VERSION,
  EMBED_QUEUE,
  QUEUE_PREFIX,
  encodeVectors,
  processName,
  type EmbedJobData,
  type EmbedJobResult,
} from './jobs.js';

export interface WorkerOptions {
  url: string;
  /** Images per forward pass (default 32). */
  batchSize?: number;
  /** Jobs in hand at once (default 1: the backbone already uses every core). */
  concurrency?: number;
  /** How long a job stays ours without a lock renewal; a dead worker's job is retried after about this (default 30 s). */
  lockDurationMs?: number;
  /** One line per event worth telling (refusals, Redis lost and back). */
  log?: (line: string) => void;
}

export interface WorkerSummary {
  jobs: number;
  images: number;
  refused: number;
}

/** Files decoded at once within a job. */
const DECODE_CONCURRENCY = 4;

export class EmbedWorker {
  readonly name = processName();
  readonly summary: WorkerSummary = { jobs: 0, images: 0, refused: 0 };
  private readonly backbones = new Map<string, Promise<Backbone>>();
  private readonly worker: Worker<EmbedJobData, EmbedJobResult>;
  private readonly batchSize: number;
  private readonly log: (line: string) => void;

  constructor(opts: WorkerOptions) {
    this.batchSize = opts.batchSize ?? 32;
    this.log = opts.log ?? (() => {});
    const lockDuration = opts.lockDurationMs ?? 30_000;
    this.worker = new Worker<EmbedJobData, EmbedJobResult>(EMBED_QUEUE, (job) => this.process(job), {
      connection: redisOptions(opts.url),
      prefix: QUEUE_PREFIX,
      concurrency: opts.concurrency ?? 1,
      lockDuration,
      stalledInterval: lockDuration,
      // A job whose worker died twice is still retried (a third death fails it, with BullMQ's reason).
      maxStalledCount: 2,
      autorun: false,
    });
    let down = false;
    this.worker.on('error', (err) => {
      if (down) return;
      down = true;
      this.log(`lost Redis (${(err as NodeJS.ErrnoException).code ?? err.message}); reconnecting`);
    });
    this.worker.on('ready', () => {
      if (down) this.log('Redis is back; taking jobs again');
      down = false;
    });
  }

  /** Connect and take jobs until stop(). */
  async start(): Promise<void> {
    void this.worker.run();
    await this.worker.waitUntilReady();
  }

  /** Finish the jobs in hand, take no more, release the backbones. */
  async stop(): Promise<WorkerSummary> {
    await this.worker.close();
    for (const b of this.backbones.values()) await b.then((x) => x.dispose()).catch(() => {});
    return this.summary;
  }

  private refuse(job: Job<EmbedJobData>, reason: string): never {
    this.summary.refused++;
    this.log(`refused job ${job.id}: ${reason}`);
    // Unrecoverable: the coordinator fails with this reason instead of the job bouncing between workers.
    throw new UnrecoverableError(`worker ${this.name} refused it: ${reason}`);
  }

  private async backboneFor(job: Job<EmbedJobData>): Promise<Backbone> {
    const { model } = job.data;
    let loading = this.backbones.get(model.id);
    if (!loading) {
      loading = loadFeatureBackbone(model.id);
      this.backbones.set(model.id, loading);
    }
    let backbone: Backbone;
    try {
      backbone = await loading;
    } catch (err) {
      return this.refuse(job, `cannot load model ${model.id} here: ${(err as Error).message}`);
    }
    const here = modelKeyFor(backbone);
    if (here.weightsHash !== model.weightsHash)
      return this.refuse(
        job,
        `model ${model.id} here has weights hash ${here.weightsHash.slice(0, 16)}…, the job's is ${model.weightsHash.slice(0, 16)}… (different model files or registration)`,
      );
    if (here.key !== model.key)
      return this.refuse(
        job,
        `model ${model.id} here makes other features (preprocessing or feature tensor differ: another tl version?)`,
      );
    return backbone;
  }

  private async process(job: Job<EmbedJobData, EmbedJobResult>): Promise<EmbedJobResult> {
    if (job.data.v !== EMBED_JOB_VERSION)
      this.refuse(
        job,
        `job format ${job.data.v}, this worker reads format ${EMBED_JOB_VERSION} (update tl on every machine)`,
      );
    const backbone = await this.backboneFor(job);
    const { images, model } = job.data;
    const inputs: (Float32Array | undefined)[] = new Array(images.length);
    const failures: EmbedJobResult['failures'] = [];
    let next = 0;
    const decode = async () => {
      while (next < images.length) {
        const index = next++;
        const img = images[index];
        try {
          const bytes = img.bytes !== undefined ? Buffer.from(img.bytes, 'base64') : await readImageBytes(img.path);
          if (sha256(bytes) !== img.hash)
            throw new Error(`${img.path} changed since the coordinator read it (its sha256 differs)`);
          inputs[index] = await preprocess(bytes, backbone.input);
        } catch (err) {
          failures.push({ index, reason: (err as Error).message });
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(DECODE_CONCURRENCY, images.length) }, decode));
    const vectors: (Float32Array | undefined)[] = new Array(images.length);
    const ready = inputs.flatMap((x, i) => (x ? [i] : []));
    for (let s = 0; s < ready.length; s += this.batchSize) {
      const batch = ready.slice(s, s + this.batchSize);
      const out = await backbone.embed(batch.map((i) => inputs[i]!));
      batch.forEach((i, k) => (vectors[i] = out[k]));
      await job.updateProgress(Math.min(s + this.batchSize, ready.length));
    }
    this.summary.jobs++;
    this.summary.images += ready.length;
    return { worker: this.name, vectors: encodeVectors(vectors, model.dim), failures };
  }
}
