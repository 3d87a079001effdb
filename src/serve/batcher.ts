// A small micro-batcher: requests arriving within a few milliseconds of each other share one backbone forward pass.
// While a batch runs, new requests queue; when it finishes they go at once (up to maxBatch), so batches grow with load
// and a lone request waits at most maxWaitMs.

export interface BatcherOptions {
  /** Most images per forward pass. */
  maxBatch?: number;
  /** How long the first queued image waits for company when the backbone is idle. */
  maxWaitMs?: number;
  /** Queued images beyond which submit() refuses (the server answers 503). */
  maxQueue?: number;
}

export interface BatchedResult {
  feature: Float32Array;
  /** Images in the forward pass this one was part of. */
  batchSize: number;
  queueMs: number;
  embedMs: number;
}

interface Pending {
  input: Float32Array;
  enqueued: number;
  resolve: (r: BatchedResult) => void;
  reject: (e: unknown) => void;
}

export class QueueFullError extends Error {
  constructor() {
    super('the server is busy (prediction queue full); retry shortly');
  }
}

export class MicroBatcher {
  readonly maxBatch: number;
  readonly maxWaitMs: number;
  readonly maxQueue: number;
  private queue: Pending[] = [];
  private running = false;
  private timer: NodeJS.Timeout | undefined;
  private idleWaiters: (() => void)[] = [];
  readonly stats = { images: 0, batches: 0, largestBatch: 0 };

  constructor(
    private readonly embed: (inputs: Float32Array[]) => Promise<Float32Array[]>,
    opts: BatcherOptions = {},
  ) {
    this.maxBatch = Math.max(1, opts.maxBatch ?? 16);
    this.maxWaitMs = Math.max(0, opts.maxWaitMs ?? 4);
    this.maxQueue = Math.max(this.maxBatch, opts.maxQueue ?? 512);
  }

  get pending(): number {
    return this.queue.length + (this.running ? 1 : 0);
  }

  submit(input: Float32Array): Promise<BatchedResult> {
    if (this.queue.length >= this.maxQueue) return Promise.reject(new QueueFullError());
    return new Promise<BatchedResult>((resolve, reject) => {
      this.queue.push({ input, enqueued: performance.now(), resolve, reject });
      this.schedule();
    });
  }

  /** Resolves once nothing is queued or running (used before disposing the backbone). */
  idle(): Promise<void> {
    if (!this.running && this.queue.length === 0) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  private schedule(): void {
    if (this.running) return; // the running batch picks the queue up when it ends
    if (this.queue.length >= this.maxBatch || this.maxWaitMs === 0) {
      this.flush();
      return;
    }
    this.timer ??= setTimeout(() => this.flush(), this.maxWaitMs);
  }

  private flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.running || this.queue.length === 0) return;
    const batch = this.queue.splice(0, this.maxBatch);
    this.running = true;
    const start = performance.now();
    this.embed(batch.map((p) => p.input))
      .then((features) => {
        const embedMs = performance.now() - start;
        this.stats.images += batch.length;
        this.stats.batches++;
        this.stats.largestBatch = Math.max(this.stats.largestBatch, batch.length);
        batch.forEach((p, i) =>
          p.resolve({ feature: features[i], batchSize: batch.length, queueMs: start - p.enqueued, embedMs }),
        );
      })
      .catch((err) => batch.forEach((p) => p.reject(err)))
      .finally(() => {
        this.running = false;
        // Whatever queued meanwhile has already waited a whole forward pass: run it now.
        if (this.queue.length) this.flush();
        else this.idleWaiters.splice(0).forEach((w) => w());
      });
  }
}
