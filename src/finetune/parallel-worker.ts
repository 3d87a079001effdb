/** Worker-thread entry for data-parallel fine-tuning steps (see parallel.ts): its own TF.js wasm, a copy of the tail + head. */
import { parentPort } from 'node:worker_threads';
import type * as tfjs from '@tensorflow/tfjs';
import { assignTail, buildTrainableTail, trainingTf } from './network.js';
import { shardGrads, type FromWorker, type ShardModel, type ToWorker } from './parallel.js';

if (!parentPort) throw new Error('parallel-worker must run in a worker thread');
const port = parentPort;
let model: ShardModel | undefined;
let keys: string[] = [];

function setWeights(m: ShardModel, tail: Float32Array[], W: Float32Array, b: Float32Array): void {
  assignTail(
    m.tf,
    m.tail,
    keys.map((name, i) => ({ name, data: tail[i] })),
  );
  const { tf } = m;
  tf.tidy(() => {
    m.Wv.assign(tf.tensor(W, m.Wv.shape, 'float32'));
    m.bv.assign(tf.tensor(b, m.bv.shape, 'float32'));
  });
}

// Messages are handled strictly in order (weights before the next step), even though init is async.
let queue: Promise<void> = Promise.resolve();
port.on('message', (msg: ToWorker) => {
  queue = queue
    .then(() => handle(msg))
    .catch((error) => {
      const reply: FromWorker = { type: 'error', message: error instanceof Error ? error.message : String(error) };
      port.postMessage(reply);
    });
});

async function handle(msg: ToWorker): Promise<void> {
  if (msg.type === 'init') {
    // The workers replicate the wasm engine over CPU cores (parallel.ts starts them only when the run is on wasm).
    const { tf } = await trainingTf('cpu');
    const tail = await buildTrainableTail(tf, msg.net, msg.cut, msg.cutShape, { replace: msg.replace, seed: msg.seed });
    keys = msg.keys;
    const have = [...tail.variables.keys()];
    if (have.join('\n') !== keys.join('\n')) throw new Error('worker tail variables differ from the main thread');
    const Wv = tf.variable(tf.tensor2d(msg.W, [msg.K, msg.W.length / msg.K]), true, 'tl_par_head_W');
    const bv = tf.variable(tf.tensor1d(msg.b), true, 'tl_par_head_b');
    model = {
      tf,
      tail,
      tailVars: [...tail.variables.values()],
      Wv,
      bv,
      K: msg.K,
      meanT: tf.tensor1d(msg.mean),
      stdT: tf.tensor1d(msg.std),
      swT: msg.sw ? tf.tensor1d(msg.sw) : undefined,
      microBatch: msg.microBatch,
    };
    setWeights(model, msg.tail, msg.W, msg.b);
    port.postMessage({ type: 'ready' } satisfies FromWorker);
    return;
  }
  if (!model) throw new Error('parallel-worker: not initialized');
  if (msg.type === 'weights') {
    setWeights(model, msg.tail, msg.W, msg.b);
    return;
  }
  const t0 = performance.now();
  const r = await shardGrads(model, msg.data, msg.ys, msg.n, msg.norm, 0);
  const grads = await Promise.all(
    r.grads.map(async (g: tfjs.Tensor | undefined) => (g ? Float32Array.from((await g.data()) as Float32Array) : null)),
  );
  model.tf.dispose(r.grads.filter((g): g is tfjs.Tensor => !!g));
  const reply: FromWorker = {
    type: 'grads',
    id: msg.id,
    grads,
    loss: r.loss,
    correct: r.correct,
    ms: performance.now() - t0,
  };
  port.postMessage(
    reply,
    grads.flatMap((g) => (g ? [g.buffer as ArrayBuffer] : [])),
  );
}
