// Which device a TF.js engine runs on: `cpu` (wasm), `webgpu`, or `auto` (a hardware GPU adapter when one exists,
// else cpu; a software adapter is never chosen by auto, only by an explicit `webgpu`).
import { TlError } from '../../util/errors.js';
import { openAdapter, type OpenedAdapter, type GpuAdapterSummary } from './adapter.js';
import { DEVICES, isDeviceRequest, type DeviceRequest } from './device-request.js';

export { DEVICES, type DeviceRequest };
export type ResolvedDevice = { kind: 'cpu'; why: string } | { kind: 'webgpu'; opened: OpenedAdapter };

/** A device word from an option or TL_DEVICE, checked: anything else is one clear error line. */
export function parseDevice(v: string, source = '--device'): DeviceRequest {
  if (isDeviceRequest(v)) return v;
  throw new TlError(`${source} must be one of ${DEVICES.join(', ')}, got "${v}"`, 'cpu is the default.');
}

/** How a setup line names an adapter: "llvmpipe-llvm-15-0-6-256-bits, software", "NVIDIA H100, hardware". */
export function describeAdapter(s: GpuAdapterSummary): string {
  // Dawn's GLES backend slugs Mesa's renderer name: 'llvmpipe-llvm-15-0-6-256-bits-'.
  const name = (s.device || s.description || s.vendor || 'unknown adapter').replace(/-+$/, '');
  return `${name}, ${s.software ? 'software' : 'hardware'}`;
}

export async function resolveDevice(request: DeviceRequest): Promise<ResolvedDevice> {
  if (request === 'cpu') return { kind: 'cpu', why: 'asked for' };
  const opened = await openAdapter({ allowSoftware: request === 'webgpu' });
  if (opened) return { kind: 'webgpu', opened };
  if (request === 'auto') return { kind: 'cpu', why: 'no hardware GPU adapter' };
  throw new TlError(
    'device webgpu: no WebGPU adapter found',
    'A GPU needs a Vulkan driver (libvulkan1 and the vendor ICD, e.g. the NVIDIA driver); software rendering needs Mesa (apt-get install libegl1 libgles2 libegl-mesa0 libgl1-mesa-dri). Or use --device cpu.',
  );
}
