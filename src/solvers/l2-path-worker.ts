/** Worker-thread entry: runs regularization path steps sent by select-l2.ts (one fold's step per message). */
import { parentPort } from 'node:worker_threads';
import { runPathOnKernel, type PathJob } from './l2-path.js';

if (!parentPort) throw new Error('l2-path-worker must run in a worker thread');
const port = parentPort;
port.on('message', async (message: { id: number; job: PathJob }) => {
  try {
    const step = await runPathOnKernel(message.job);
    port.postMessage({ id: message.id, step }, [step.theta.buffer as ArrayBuffer]);
  } catch (error) {
    port.postMessage({ id: message.id, error: error instanceof Error ? error.message : String(error) });
  }
});
