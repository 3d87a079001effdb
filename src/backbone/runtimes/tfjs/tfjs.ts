// Starts TF.js on its WebAssembly backend (SIMD) under Node, without tfjs-node (which needs a native download).
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';

let ready: Promise<typeof tf> | undefined;

export function tfWasm(): Promise<typeof tf> {
  ready ??= (async () => {
    const require = createRequire(import.meta.url);
    const wasmDir = join(dirname(require.resolve('@tensorflow/tfjs-backend-wasm')), '/');
    setWasmPaths(wasmDir.endsWith('/') ? wasmDir : wasmDir + '/');
    // tfjs prints a "hi there, use tfjs-node" banner on first use under Node; it is not useful for our users.
    tf.env().set('IS_TEST', true);
    const before = new Set(process.listeners('uncaughtException'));
    const beforeRej = new Set(process.listeners('unhandledRejection'));
    const ok = await tf.setBackend('wasm');
    // Emscripten installs handlers that rethrow and print its whole minified source; our callers report errors.
    for (const l of process.listeners('uncaughtException'))
      if (!before.has(l)) process.removeListener('uncaughtException', l);
    for (const l of process.listeners('unhandledRejection'))
      if (!beforeRej.has(l)) process.removeListener('unhandledRejection', l);
    if (!ok) throw new Error('TF.js wasm backend failed to initialize');
    await tf.ready();
    // IS_TEST also turns on a kernel leak check that misfires on wasm's copying Identity during training.
    tf.env().set('IS_TEST', false);
    return tf;
  })();
  return ready;
}
