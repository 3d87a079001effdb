// Data-parallel minibatch steps for fine-tuning (tail + softmax on cached cut activations; rung 3: the whole network on
// the images, each shard in micro-batches that fit its own wasm heap).
//
// TF.js's wasm backend runs single-threaded under Node, so one Adam step uses one core. Here every minibatch is split
// into contiguous shards: shard 0 runs on this thread (on the caller's own variables), shards 1.. run in worker
// threads, each with its own TF.js wasm instance and an identical copy of the tail + head weights. Each shard returns
// the gradient of ITS PART of the full-batch loss: sum over its images of w*CE / (sum of w over the whole batch)
// (w = 1 without class weights), and shard 0 also carries the L2 term, so the shards' gradients add up exactly to the
// serial full-batch gradient. They are summed in shard order (fixed: deterministic for a seed), the caller's two Adam
// optimizers step on this thread, and the updated weights are sent to the workers (cheaper and safer than keeping
// several Adam states in step: the workers hold no optimizer state at all).
//
// If a worker cannot start, `startParallelSteps` returns undefined (the caller keeps its serial step). If a worker dies
// mid-training, the remaining steps compute every shard on this thread: same shards, same order, same numbers.
import { availableParallelism } from 'node:os';
import type { Worker } from 'node:worker_threads';
import { startModuleWorker } from '../util/worker.js';
import { env } from '../util/env.js';
import type * as tfjs from '@tensorflow/tfjs';
import { findModel } from '../backbone/registry.js';
import { DEFAULT_MODEL_ID } from '../backbone/zoo.js';
import { loadNetwork, type Network, type TrainableTail } from './network.js';
import { shardGrads, batchNorm, applySummedGrads, type ShardModel, type ShardResult } from './step.js';

export { shardGrads, type ShardModel, type ShardResult } from './step.js';

type TF = typeof tfjs;

/** Contiguous shard bounds [start, end) of a batch of n over p shards; shard 0 (this thread) gets the smallest. */
export function shardBounds(n: number, p: number): [number, number][] {
  const sizes = Array.from({ length: p }, (_, i) => Math.floor(n / p) + (p - 1 - i < n % p ? 1 : 0));
  const out: [number, number][] = [];
  let s = 0;
  for (const k of sizes) {
    out.push([s, s + k]);
    s += k;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Messages

export interface InitMessage {
  type: 'init';
  net: Network;
  cut: string;
  cutShape: [number, number, number];
  replace?: number[];
  seed: number;
  K: number;
  keys: string[];
  tail: Float32Array[];
  W: Float32Array;
  b: Float32Array;
  mean: Float32Array;
  std: Float32Array;
  sw?: Float32Array;
  /** Images per forward/backward pass in this worker's shard (its own heap bounds it; see ShardModel.microBatch). */
  microBatch?: number;
}
export interface StepMessage {
  type: 'step';
  id: number;
  data: Float32Array;
  ys: Int32Array;
  n: number;
  norm: number;
}
export interface WeightsMessage {
  type: 'weights';
  tail: Float32Array[];
  W: Float32Array;
  b: Float32Array;
}
export type ToWorker = InitMessage | StepMessage | WeightsMessage;
export type FromWorker =
  | { type: 'ready' }
  | { type: 'grads'; id: number; grads: (Float32Array | null)[]; loss: number; correct: number; ms: number }
  | { type: 'error'; message: string };

function startWorker(): Worker {
  return startModuleWorker(import.meta.url, 'parallel-worker');
}

/** One worker with a promise-per-reply channel (replies come in request order). */
class Channel {
  private waiting: { resolve: (m: FromWorker) => void; reject: (e: Error) => void }[] = [];
  private failed?: Error;
  constructor(readonly worker: Worker) {
    worker.on('message', (m: FromWorker) => {
      const w = this.waiting.shift();
      if (!w) return;
      if (m.type === 'error') w.reject(new Error(m.message));
      else w.resolve(m);
    });
    const fail = (e: Error) => {
      this.failed ??= e;
      for (const w of this.waiting.splice(0)) w.reject(e);
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`fine-tuning worker exited with code ${code}`)));
  }
  /** Sends a message that gets a reply. */
  request(m: ToWorker, transfer: ArrayBuffer[] = []): Promise<FromWorker> {
    if (this.failed) return Promise.reject(this.failed);
    return new Promise((resolve, reject) => {
      this.waiting.push({ resolve, reject });
      this.worker.postMessage(m, transfer);
    });
  }
  /** Sends a message without a reply (weights). */
  send(m: ToWorker, transfer: ArrayBuffer[] = []): void {
    if (!this.failed) this.worker.postMessage(m, transfer);
  }
}

export interface ParallelState {
  tf: TF;
  tail: TrainableTail;
  K: number;
  l2: number;
  Wv: tfjs.Variable;
  bv: tfjs.Variable;
  meanT: tfjs.Tensor;
  stdT: tfjs.Tensor;
  swT?: tfjs.Tensor;
  optHead: tfjs.Optimizer;
  optTail: tfjs.Optimizer;
  /** Images per forward/backward pass in each shard (every thread has its own wasm heap); default: the whole shard. */
  microBatch?: number;
  /** Decoupled weight decay, applied here after the summed step (see ShardModel.weightDecay). */
  weightDecay?: number;
}

export interface ParallelOptions {
  /** Shards per step = threads (this one + threads-1 workers). Default: env.trainThreads (TL_TRAIN_THREADS), else min(2, cores). */
  threads?: number;
  /** The backbone the tail came from (rebuilt in each worker): a Network, or the model id / path to load it. */
  net?: Network;
  model?: string;
  modelPath?: string;
  seed?: number;
  /** Training images and batch size: small jobs (batch < 16 or fewer than 4 batches) stay serial (a worker takes ~1 s to start). */
  images?: number;
  batchSize?: number;
}

/** How many shards a fine-tuning step would use here (1 = serial). */
export function defaultTrainThreads(): number {
  return env.trainThreads ?? Math.min(2, availableParallelism());
}

/** How many data-parallel runs started workers in this process (for tests and diagnostics). */
export const parallelStats = { started: 0 };

// Asynchronous reads: a webgpu tensor cannot be read synchronously under Node.
const copy = async (v: tfjs.Tensor): Promise<Float32Array> => Float32Array.from((await v.data()) as Float32Array);

export class ParallelSteps {
  private nextId = 0;
  /** Milliseconds of the last step: shard 0 here, waiting for the workers after it, the slowest worker's compute, summing + Adam + sending weights. */
  lastTimings = { mainMs: 0, waitMs: 0, workerMs: 0, applyMs: 0 };
  private local = false;
  readonly tailVars: tfjs.Variable[];
  private constructor(
    private readonly s: ParallelState,
    private channels: Channel[],
    readonly threads: number,
  ) {
    this.tailVars = [...s.tail.variables.values()];
  }

  /** Starts threads-1 workers holding copies of the current weights; undefined if threads < 2 or a worker fails to start. */
  static async start(s: ParallelState, opts: ParallelOptions = {}): Promise<ParallelSteps | undefined> {
    const threads = opts.threads ?? defaultTrainThreads();
    if (threads < 2) return undefined;
    // The workers replicate a wasm engine over CPU cores; a step on another backend (one GPU) stays on this thread.
    if (s.tf.getBackend() !== 'wasm') return undefined;
    if (opts.batchSize !== undefined && (opts.batchSize < 16 || (opts.images ?? Infinity) < 4 * opts.batchSize))
      return undefined;
    const channels: Channel[] = [];
    try {
      const net = opts.net ?? (await loadNetwork(findModel(opts.model ?? DEFAULT_MODEL_ID), { path: opts.modelPath }));
      const keys = [...s.tail.variables.keys()];
      const tailVars = [...s.tail.variables.values()];
      for (let i = 1; i < threads; i++) channels.push(new Channel(startWorker()));
      const [tail, W, b, mean, std, sw] = await Promise.all([
        Promise.all(tailVars.map(copy)),
        copy(s.Wv),
        copy(s.bv),
        copy(s.meanT),
        copy(s.stdT),
        s.swT ? copy(s.swT) : undefined,
      ]);
      const init = (): InitMessage => ({
        type: 'init',
        net: structuredClone(net),
        cut: s.tail.cut,
        cutShape: s.tail.inputShape,
        replace: s.tail.replace,
        seed: opts.seed ?? 0,
        K: s.K,
        keys,
        tail,
        W,
        b,
        mean,
        std,
        sw,
        microBatch: s.microBatch,
      });
      await Promise.all(channels.map((ch) => ch.request(init())));
      parallelStats.started++;
      return new ParallelSteps(s, channels, threads);
    } catch {
      await Promise.all(channels.map((ch) => ch.worker.terminate()));
      return undefined;
    }
  }

  /**
   * One Adam step on a minibatch (n images, NHWC rows in `data`), identical in meaning to the serial step.
   * Returns tensors like the serial step: loss = full-batch loss * n, correct = #argmax hits.
   */
  async step(data: Float32Array, ys: Int32Array, n: number): Promise<{ loss: tfjs.Tensor; correct: tfjs.Tensor }> {
    const { tf, tail, swT, l2 } = this.s;
    const [h, w, c] = tail.inputShape;
    const per = h * w * c;
    const bounds = shardBounds(n, this.threads);
    const norm = await batchNorm(swT, ys, n);
    const model: ShardModel = {
      tf,
      tail,
      tailVars: this.tailVars,
      Wv: this.s.Wv,
      bv: this.s.bv,
      meanT: this.s.meanT,
      stdT: this.s.stdT,
      swT,
      K: this.s.K,
      microBatch: this.s.microBatch,
      weightDecay: this.s.weightDecay,
    };
    const shardData = (k: number) => data.slice(bounds[k][0] * per, bounds[k][1] * per);
    const shardYs = (k: number) => ys.slice(bounds[k][0], bounds[k][1]);
    // Workers first, so they compute while this thread does shard 0.
    const pending: Promise<FromWorker>[] = [];
    if (!this.local) {
      for (let k = 1; k < this.threads; k++) {
        const d = shardData(k);
        const y = shardYs(k);
        const p = this.channels[k - 1].request({ type: 'step', id: this.nextId, data: d, ys: y, n: y.length, norm }, [
          d.buffer as ArrayBuffer,
          y.buffer as ArrayBuffer,
        ]);
        p.catch(() => {}); // handled below
        pending.push(p);
      }
      this.nextId++;
    }
    const t0 = performance.now();
    const mine = await shardGrads(model, shardData(0), shardYs(0), bounds[0][1] - bounds[0][0], norm, l2);
    const parts: ShardResult[] = [mine];
    const t1 = performance.now();
    let workerMs = 0;
    try {
      if (this.local) throw new Error('local');
      for (const p of pending) {
        const r = await p;
        if (r.type !== 'grads') throw new Error(`unexpected worker reply ${r.type}`);
        workerMs = Math.max(workerMs, r.ms);
        const vars = [...this.tailVars, this.s.Wv, this.s.bv];
        parts.push({
          grads: r.grads.map((g, i) => (g ? tf.tensor(g, vars[i].shape, 'float32') : undefined)),
          loss: r.loss,
          correct: r.correct,
        });
      }
    } catch {
      // A worker failed (or we already run locally): compute the remaining shards here, in the same order.
      for (const p of parts.splice(1)) tf.dispose(p.grads.filter((g): g is tfjs.Tensor => !!g));
      if (!this.local) await this.close();
      this.local = true;
      for (let k = 1; k < this.threads; k++)
        parts.push(await shardGrads(model, shardData(k), shardYs(k), bounds[k][1] - bounds[k][0], norm, 0));
    }
    const t2 = performance.now();
    applySummedGrads(model, this.s.optHead, this.s.optTail, parts);
    if (!this.local) {
      for (const ch of this.channels) {
        const msg: WeightsMessage = {
          type: 'weights',
          tail: await Promise.all(this.tailVars.map(copy)),
          W: await copy(this.s.Wv),
          b: await copy(this.s.bv),
        };
        ch.send(msg, [
          ...msg.tail.map((a) => a.buffer as ArrayBuffer),
          msg.W.buffer as ArrayBuffer,
          msg.b.buffer as ArrayBuffer,
        ]);
      }
    }
    this.lastTimings = { mainMs: t1 - t0, waitMs: t2 - t1, workerMs, applyMs: performance.now() - t2 };
    let loss = 0;
    let correct = 0;
    for (const p of parts) {
      loss += p.loss;
      correct += p.correct;
    }
    return { loss: tf.scalar(Math.fround(loss) * n), correct: tf.scalar(correct, 'int32') };
  }

  async close(): Promise<void> {
    const chs = this.channels;
    this.channels = [];
    this.local = true;
    await Promise.all(chs.map((ch) => ch.worker.terminate()));
  }
}

/** Starts data-parallel steps when more than one thread is available; undefined = use the serial step. */
export function startParallelSteps(s: ParallelState, opts: ParallelOptions = {}): Promise<ParallelSteps | undefined> {
  return ParallelSteps.start(s, opts);
}
