// The TF.js engine every trainable tail runs on (whatever runtime runs the frozen part), chosen by device: `cpu` is
// wasm with our convolution-gradient kernels; `webgpu` is tfjs-backend-webgpu on a WebGPU adapter
// (src/engine/webgpu/tf-device.ts); `auto` is webgpu on a hardware adapter, else cpu. The trainer asks for an engine
// by device and never branches on it.
import type * as tfjs from '@tensorflow/tfjs';
import { tfWasm } from '../backbone/runtimes/tfjs/tfjs.js';
import { registerWasmGradKernels } from '../engine/wasm-grad-kernels.js';
import type { DeviceRequest } from '../engine/webgpu/device-request.js';
import { env } from '../util/env.js';

export interface TrainingTf {
  tf: typeof tfjs;
  /** TF.js backend name: 'wasm', 'webgpu', or 'cpu' when wasm failed. */
  backend: string;
  /** What the setup line says: "cpu (wasm)", "webgpu (llvmpipe ..., software)". */
  device: string;
  note?: string;
}

/**
 * TF.js with the backend of `device` active (default: env.device, TL_DEVICE, else cpu). TF.js has one engine per
 * thread with one active backend, so a webgpu engine stays active for the rest of the run: the TF.js frozen part
 * (extraction) runs there too, and the rung-1 head kernel (src/solvers/wasm-objective.ts) then uses its JavaScript kernel.
 */
export async function trainingTf(device?: DeviceRequest | string): Promise<TrainingTf> {
  const request = device ?? env.device ?? 'cpu';
  // wasm first in every case: a later first call of tfWasm() (a TF.js model loading) would switch the backend.
  const cpu = await cpuTf();
  if (request === 'cpu') return cpu;
  const { tfOnGpu } = await import('../engine/webgpu/tf-device.js');
  const gpu = await tfOnGpu(request, device === undefined ? 'TL_DEVICE' : '--device');
  if ('why' in gpu) return { ...cpu, device: `${cpu.device}; auto: ${gpu.why}` };
  return { tf: gpu.tf, backend: 'webgpu', device: gpu.device };
}

/** wasm with the convolution-gradient kernels; 'cpu' only if wasm fails. Made the active backend again if needed. */
async function cpuTf(): Promise<TrainingTf> {
  try {
    const tf = await tfWasm();
    registerWasmGradKernels(tf);
    // tfWasm() sets IS_TEST (to silence tfjs's banner), which also turns on a per-kernel data-id check that misfires
    // on gradients of fused convs (tfjs-layers Conv2D). Leaks are checked by the epochs' tf.memory() and the backend's
    // data-id count instead (see the tests).
    tf.env().set('IS_TEST', false);
    if (tf.getBackend() !== 'wasm') await tf.setBackend('wasm');
    return { tf, backend: 'wasm', device: 'cpu (wasm)' };
  } catch (err) {
    const tf = await import('@tensorflow/tfjs');
    await tf.setBackend('cpu');
    return {
      tf,
      backend: 'cpu',
      device: 'cpu',
      note: `wasm backend failed (${(err as Error).message}); training on the slow 'cpu' backend`,
    };
  }
}
