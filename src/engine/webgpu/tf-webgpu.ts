// TF.js on a WebGPU adapter (tfjs-backend-webgpu on Dawn). The package's own backend factory asks for an adapter
// without a feature level, which finds nothing on a 'compatibility'-only adapter (Mesa's software GLES), so the
// backend is registered here on the device of the adapter we opened.
//
// Reading tensors: under Node only asynchronous reads (`await t.data()`) work on this backend; `dataSync()` needs a
// browser OffscreenCanvas and throws.
import type * as tfjs from '@tensorflow/tfjs';
import type { OpenedAdapter } from './adapter.js';

let registered: Promise<typeof tfjs> | undefined;

/**
 * TF.js with 'webgpu' as its active backend, on this adapter's device (registered once per process: TF.js has one
 * engine, and an adapter gives one device). Each call makes webgpu the active backend again.
 */
export async function tfWebgpu(opened: OpenedAdapter): Promise<typeof tfjs> {
  const tf = await register(opened);
  // tfjs prints a "use tfjs-node" banner on first use under Node unless IS_TEST is on (as tfWasm does).
  const wasTest = tf.env().getBool('IS_TEST');
  tf.env().set('IS_TEST', true);
  const ok = await tf.setBackend('webgpu');
  tf.env().set('IS_TEST', wasTest);
  if (!ok) throw new Error('TF.js webgpu backend failed to initialize');
  return tf;
}

function register(opened: OpenedAdapter): Promise<typeof tfjs> {
  registered ??= (async () => {
    const tf = await import('@tensorflow/tfjs');
    const { WebGPUBackend } = await import('@tensorflow/tfjs-backend-webgpu');
    const { adapter } = opened;
    const l = adapter.limits;
    // The limits tfjs-backend-webgpu's own factory asks for: the adapter's, not WebGPU's lower defaults.
    const device = await adapter.requestDevice({
      requiredLimits: {
        maxComputeWorkgroupStorageSize: l.maxComputeWorkgroupStorageSize,
        maxComputeWorkgroupsPerDimension: l.maxComputeWorkgroupsPerDimension,
        maxStorageBufferBindingSize: l.maxStorageBufferBindingSize,
        maxBufferSize: l.maxBufferSize,
        maxComputeWorkgroupSizeX: l.maxComputeWorkgroupSizeX,
        maxComputeInvocationsPerWorkgroup: l.maxComputeInvocationsPerWorkgroup,
      },
    });
    if (tf.findBackendFactory('webgpu')) tf.removeBackend('webgpu');
    tf.registerBackend('webgpu', () => {
      const backend = new WebGPUBackend(device as never, adapter.info as never);
      // Its tf.profile warning (no timestamp-query) asks to restart Chrome with a flag: nothing a Node user can do.
      (backend as unknown as { hasTimestampQueryWarned: boolean }).hasTimestampQueryWarned = true;
      return backend;
    });
    return tf;
  })();
  return registered;
}
