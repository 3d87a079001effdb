// A served model: a loaded Classifier plus its micro-batcher. Prediction = preprocess (sharp, in parallel on the
// libuv pool) → batched backbone.embed → Classifier.predictFeature.
import { basename, resolve } from 'node:path';
import { Classifier, type Prediction } from '../classifier/classifier.js';
import { preprocess } from '../data/image.js';
import { TlError } from '../util/errors.js';
import { MicroBatcher, QueueFullError, type BatcherOptions } from './batcher.js';
import { HttpError, undecodable } from './errors.js';

export interface PredictTiming {
  /** Decode + resize + normalize (sharp). */
  decodeMs: number;
  /** Waiting for a batch to form or for the previous forward pass. */
  queueMs: number;
  /** The backbone forward pass of the whole batch. */
  embedMs: number;
  /** Images in that forward pass. */
  batchSize: number;
  totalMs: number;
}

export interface ServedPrediction extends Prediction {
  timing: PredictTiming;
}

export interface ModelInfo {
  name: string;
  labels: string[];
  backbone: string;
  createdAt: string;
  bundle: string;
  accuracy?: number;
  stats: { images: number; batches: number; largestBatch: number };
}

export class ServedModel {
  readonly batcher: MicroBatcher;
  /** Predictions started and not finished: dispose() waits for them (a model may be replaced mid-request). */
  private inflight = 0;
  private drained: (() => void)[] = [];

  private constructor(
    readonly name: string,
    readonly dir: string,
    readonly classifier: Classifier,
    batching: BatcherOptions,
  ) {
    this.batcher = new MicroBatcher((inputs) => classifier.backbone.embed(inputs), batching);
  }

  static async load(name: string, dir: string, batching: BatcherOptions = {}): Promise<ServedModel> {
    return new ServedModel(name, resolve(dir), await Classifier.load(dir), batching);
  }

  static wrap(name: string, dir: string, classifier: Classifier, batching: BatcherOptions = {}): ServedModel {
    return new ServedModel(name, resolve(dir), classifier, batching);
  }

  info(): ModelInfo {
    const m = this.classifier.data.metrics as { accuracy?: number } | undefined;
    return {
      name: this.name,
      labels: this.classifier.labels,
      backbone: this.classifier.data.backbone.id,
      createdAt: this.classifier.data.createdAt,
      bundle: basename(this.dir),
      ...(typeof m?.accuracy === 'number' ? { accuracy: m.accuracy } : {}),
      stats: { ...this.batcher.stats },
    };
  }

  async predict(bytes: Buffer, top: number): Promise<ServedPrediction> {
    this.inflight++;
    try {
      return await this.predictNow(bytes, top);
    } finally {
      if (--this.inflight === 0) this.drained.splice(0).forEach((d) => d());
    }
  }

  private async predictNow(bytes: Buffer, top: number): Promise<ServedPrediction> {
    const t0 = performance.now();
    let input: Float32Array;
    try {
      input = await preprocess(bytes, this.classifier.backbone.input);
    } catch (err) {
      if (err instanceof TlError) throw undecodable(`cannot decode the image: ${err.message}`);
      throw err;
    }
    const decodeMs = performance.now() - t0;
    let r;
    try {
      r = await this.batcher.submit(input);
    } catch (err) {
      if (err instanceof QueueFullError) throw new HttpError(503, 'busy', err.message);
      throw err;
    }
    const p = this.classifier.predictFeature(r.feature, Math.min(Math.max(1, top), this.classifier.labels.length));
    const round = (v: number) => Math.round(v * 100) / 100;
    return {
      ...p,
      timing: {
        decodeMs: round(decodeMs),
        queueMs: round(r.queueMs),
        embedMs: round(r.embedMs),
        batchSize: r.batchSize,
        totalMs: round(performance.now() - t0),
      },
    };
  }

  /** Wait for queued predictions, then free the backbone. */
  async dispose(): Promise<void> {
    if (this.inflight > 0) await new Promise<void>((r) => this.drained.push(r));
    await this.batcher.idle();
    await this.classifier.dispose();
  }
}
