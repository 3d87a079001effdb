// The TF.js engine every trainable tail runs on (whatever runtime runs the frozen part).
import type * as tfjs from '@tensorflow/tfjs';
import { tfWasm } from '../backbone/tfjs-runtime.js';
import { registerWasmGradKernels } from '../engine/wasm-grad-kernels.js';

/** wasm with the convolution-gradient kernels; 'cpu' only if wasm fails. */
export async function trainingTf(): Promise<{ tf: typeof tfjs; backend: string; note?: string }> {
  try {
    const tf = await tfWasm();
    registerWasmGradKernels(tf);
    // tfWasm() sets IS_TEST (to silence tfjs's banner), which also turns on a per-kernel data-id check that misfires
    // on gradients of fused convs (tfjs-layers Conv2D). Leaks are checked by the epochs' tf.memory() and the backend's
    // data-id count instead (see the tests).
    tf.env().set('IS_TEST', false);
    return { tf, backend: 'wasm' };
  } catch (err) {
    const tf = await import('@tensorflow/tfjs');
    await tf.setBackend('cpu');
    return {
      tf,
      backend: 'cpu',
      note: `wasm backend failed (${(err as Error).message}); training on the slow 'cpu' backend`,
    };
  }
}
