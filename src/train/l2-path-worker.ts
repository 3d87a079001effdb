/** Worker-thread entry: runs regularization paths sent by select-l2.ts (one fold per message). */
import { parentPort } from 'node:worker_threads';
import { runPath, type PathJob } from './l2-path.js';

if (!parentPort) throw new Error('l2-path-worker must run in a worker thread');
const port = parentPort;
port.on('message', (message: { id: number; job: PathJob }) => {
  try {
    port.postMessage({ id: message.id, scores: runPath(message.job) });
  } catch (error) {
    port.postMessage({ id: message.id, error: error instanceof Error ? error.message : String(error) });
  }
});
