// Where onnxruntime runs: in a worker thread by default, so that image decoding on the main thread overlaps inference.
// onnxruntime-node's session.run is synchronous on the calling thread (its promise only defers the start), so in the
// main thread every forward pass stalls the extraction pipeline: no file read, hash or decode is started meanwhile.
// Measured on 2 cores (cats/dogs, MobileNetV2 int8): 291 → 323 images/s end to end. env.onnxWorker = false (TL_ORT_WORKER=0) runs it here.
import './ort-env.js';
import ort from 'onnxruntime-node';
import type { Worker } from 'node:worker_threads';
import { startModuleWorker } from '../../../util/worker.js';
import { env } from '../../../util/env.js';

export interface SessionInit {
  bytes: Uint8Array;
  threads: number;
}

export interface SessionOutput {
  data: Float32Array;
  dims: number[];
}

/** A float32 input → named float32 outputs, wherever the session lives. */
export interface OnnxSession {
  readonly inputName: string;
  run(data: Float32Array, dims: number[], outputs: string[]): Promise<SessionOutput[]>;
  release(): Promise<void>;
}

export function sessionOptions(threads: number): ort.InferenceSession.SessionOptions {
  return {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
    executionMode: 'sequential',
    // Spinning intra-op threads busy-wait between ops and steal the CPU that image decoding needs (2 cores here):
    // measured +15-25% end-to-end extraction throughput with spinning off.
    extra: { session: { intra_op: { allow_spinning: '0' } } },
  };
}

export async function createSession(init: SessionInit): Promise<OnnxSession> {
  if (env.onnxWorker) {
    try {
      return await WorkerSession.start(init);
    } catch {
      // No worker threads here (or it failed to start): run in this thread, slower but the same numbers.
    }
  }
  return InProcessSession.create(init);
}

class InProcessSession implements OnnxSession {
  private constructor(private readonly session: ort.InferenceSession) {}
  static async create(init: SessionInit): Promise<InProcessSession> {
    return new InProcessSession(await ort.InferenceSession.create(init.bytes, sessionOptions(init.threads)));
  }
  get inputName(): string {
    return this.session.inputNames[0];
  }
  async run(data: Float32Array, dims: number[], outputs: string[]): Promise<SessionOutput[]> {
    const out = await this.session.run({ [this.inputName]: new ort.Tensor('float32', data, dims) }, outputs);
    return outputs.map((o) => ({ data: out[o].data as Float32Array, dims: out[o].dims.map(Number) }));
  }
  release(): Promise<void> {
    return this.session.release();
  }
}

export type ToSessionWorker = { type: 'run'; id: number; data: Float32Array; dims: number[]; outputs: string[] };
export type FromSessionWorker =
  | { type: 'ready'; inputName: string }
  | { type: 'result'; id: number; outputs: SessionOutput[] }
  | { type: 'error'; id: number; message: string };

class WorkerSession implements OnnxSession {
  private nextId = 0;
  private pending = new Map<number, { resolve: (o: SessionOutput[]) => void; reject: (e: Error) => void }>();
  private failure?: Error;
  private constructor(
    private readonly worker: Worker,
    readonly inputName: string,
  ) {
    worker.on('message', (m: FromSessionWorker) => {
      if (m.type === 'ready') return;
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (!this.pending.size) worker.unref();
      if (m.type === 'result') p.resolve(m.outputs);
      else p.reject(new Error(m.message));
    });
    const fail = (e: Error) => {
      this.failure ??= e;
      for (const p of this.pending.values()) p.reject(e);
      this.pending.clear();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`onnxruntime worker exited (code ${code})`)));
    // An idle worker must not keep the process alive (a caller that forgets dispose() still exits). After the
    // listeners: on Node 20 adding a 'message' listener refs the worker's port again, undoing an earlier unref().
    worker.unref();
  }

  static async start(init: SessionInit): Promise<WorkerSession> {
    const worker = startModuleWorker(import.meta.url, 'session-worker', { workerData: init });
    const inputName = await new Promise<string>((resolve, reject) => {
      worker.once('message', (m: FromSessionWorker) =>
        m.type === 'ready'
          ? resolve(m.inputName)
          : reject(new Error(m.type === 'error' ? m.message : 'unexpected reply')),
      );
      worker.once('error', reject);
      worker.once('exit', (code) => reject(new Error(`onnxruntime worker exited (code ${code})`)));
    }).catch(async (err) => {
      await worker.terminate();
      throw err;
    });
    return new WorkerSession(worker, inputName);
  }

  run(data: Float32Array, dims: number[], outputs: string[]): Promise<SessionOutput[]> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.ref();
      const msg: ToSessionWorker = { type: 'run', id, data, dims, outputs };
      this.worker.postMessage(msg, [data.buffer as ArrayBuffer]);
    });
  }

  async release(): Promise<void> {
    this.failure ??= new Error('the backbone was disposed');
    await this.worker.terminate();
  }
}
