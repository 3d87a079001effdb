// The words `--device` / `env.device` accept, in a module with no dependencies: the CLI parses the option without
// loading anything of the GPU path (`tl --version` and `tl predict` stay as light as before).
export const DEVICES = ['cpu', 'webgpu', 'auto'] as const;
export type DeviceRequest = (typeof DEVICES)[number];

export function isDeviceRequest(v: string): v is DeviceRequest {
  return (DEVICES as readonly string[]).includes(v);
}
