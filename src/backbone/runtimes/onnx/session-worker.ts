// Worker-thread entry of onnx-session.ts: one onnxruntime session; runs requests in arrival order.
import { parentPort, workerData } from 'node:worker_threads';
import ort from 'onnxruntime-node';
import { sessionOptions, type FromSessionWorker, type SessionInit, type ToSessionWorker } from './session.js';

if (!parentPort) throw new Error('onnx-session-worker must run in a worker thread');
const port = parentPort;
const init = workerData as SessionInit;
try {
  const session = await ort.InferenceSession.create(init.bytes, sessionOptions(init.threads));
  const inputName = session.inputNames[0];
  let queue: Promise<void> = Promise.resolve();
  port.on('message', (m: ToSessionWorker) => {
    queue = queue.then(async () => {
      try {
        const out = await session.run({ [inputName]: new ort.Tensor('float32', m.data, m.dims) }, m.outputs);
        const outputs = m.outputs.map((o) => ({ data: out[o].data as Float32Array, dims: out[o].dims.map(Number) }));
        port.postMessage({ type: 'result', id: m.id, outputs } satisfies FromSessionWorker, [
          ...new Set(outputs.map((o) => o.data.buffer as ArrayBuffer)),
        ]);
      } catch (err) {
        port.postMessage({
          type: 'error',
          id: m.id,
          message: err instanceof Error ? err.message : String(err),
        } satisfies FromSessionWorker);
      }
    });
  });
  port.postMessage({ type: 'ready', inputName } satisfies FromSessionWorker);
} catch (err) {
  port.postMessage({
    type: 'error',
    id: -1,
    message: err instanceof Error ? err.message : String(err),
  } satisfies FromSessionWorker);
}
