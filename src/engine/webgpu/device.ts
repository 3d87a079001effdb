// Which device a TF.js engine runs on: `cpu` (wasm), `webgpu`, or `auto` (a hardware GPU adapter when one exists,
// else cpu; a software adapter is never chosen by auto, only by an explicit `webgpu`).
import { TlError } from '../../util/errors.js';
import { openAdapter, type OpenedAdapter } from './adapter.js';

export const DEVICES = ['cpu', 'webgpu', 'auto'] as const;
export type DeviceRequest = (typeof DEVICES)[number];
export type ResolvedDevice = { kind: 'cpu'; why: string } | { kind: 'webgpu'; opened: OpenedAdapter };

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
