// Finds a WebGPU adapter through Dawn's Node bindings (the `webgpu` npm package: a prebuilt dawn.node, nothing
// downloaded at install). A hardware adapter comes from Dawn's default backend (Vulkan on Linux: a driver with
// libvulkan1 and its ICD file). Without one, Mesa's software OpenGL ES (llvmpipe) runs the same WebGPU code slowly:
// useful to test the GPU path on CI, never what `auto` picks.
/// <reference types="@webgpu/types" />
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { env } from '../../util/env.js';

export interface GpuAdapterSummary {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** A CPU rasterizer (llvmpipe, lavapipe, SwiftShader, ...) or an adapter Dawn marks as a fallback. */
  software: boolean;
  /** Which Dawn backend gave it: the platform default, or OpenGL ES (the software path). */
  backend: 'default' | 'opengles';
}

export interface OpenedAdapter {
  gpu: GPU;
  adapter: GPUAdapter;
  summary: GpuAdapterSummary;
}

const SOFTWARE_NAMES = /llvmpipe|softpipe|lavapipe|swiftshader|software|basic render/i;

/** Whether an adapter is a CPU rasterizer: Dawn's fallback flag, or a known software renderer's name. */
export function isSoftwareAdapter(info: {
  vendor?: string;
  architecture?: string;
  device?: string;
  description?: string;
  isFallbackAdapter?: boolean;
}): boolean {
  if (info.isFallbackAdapter) return true;
  return [info.vendor, info.architecture, info.device, info.description].some((s) => !!s && SOFTWARE_NAMES.test(s));
}

type DawnModule = typeof import('webgpu');
let dawn: Promise<DawnModule | undefined> | undefined;

/** Whether XDG_RUNTIME_DIR names a folder only this user may use, as the XDG spec (and libwayland) requires. */
function usableRuntimeDir(dir: string | undefined): boolean {
  if (!dir) return false;
  try {
    const st = statSync(dir);
    return st.isDirectory() && (st.mode & 0o077) === 0 && st.uid === process.getuid?.();
  } catch {
    return false;
  }
}

/**
 * Mesa's EGL may try the Wayland platform while Dawn looks for adapters; libwayland then prints "error:
 * XDG_RUNTIME_DIR is invalid or not set in the environment." on stderr, even on runs that succeed (ssh, sudo, CI: no
 * session folder). A private empty folder for this process makes it fail quietly instead (no compositor socket there).
 */
export function ensureRuntimeDir(): void {
  if (process.platform !== 'linux' || usableRuntimeDir(process.env.XDG_RUNTIME_DIR)) return;
  const dir = mkdtempSync(join(tmpdir(), 'tl-xdg-runtime-'));
  process.env.XDG_RUNTIME_DIR = dir;
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
}

/** dawn.node, with its WebGPU globals (GPUBufferUsage, ...) installed for tfjs-backend-webgpu; undefined if it does not load. */
function loadDawn(): Promise<DawnModule | undefined> {
  if (!dawn) ensureRuntimeDir();
  dawn ??= import('webgpu').then(
    (m) => {
      Object.assign(globalThis, m.globals);
      return m;
    },
    () => undefined,
  );
  return dawn;
}

/** tfjs-backend-webgpu checks `navigator.gpu` before it runs (Node 20 has no navigator; Node 21+ has one without gpu). */
function exposeGpu(gpu: GPU): void {
  const g = globalThis as { navigator?: { gpu?: GPU } };
  if (!g.navigator)
    Object.defineProperty(globalThis, 'navigator', { value: { gpu }, configurable: true, writable: true });
  else if (!g.navigator.gpu) Object.defineProperty(g.navigator, 'gpu', { value: gpu, configurable: true });
}

function summarize(adapter: GPUAdapter, backend: GpuAdapterSummary['backend']): GpuAdapterSummary {
  const i = adapter.info as GPUAdapter['info'] & { isFallbackAdapter?: boolean };
  const flagged = (adapter as GPUAdapter & { isFallbackAdapter?: boolean }).isFallbackAdapter;
  const summary = {
    vendor: i.vendor ?? '',
    architecture: i.architecture ?? '',
    device: i.device ?? '',
    description: i.description ?? '',
  };
  return {
    ...summary,
    software: isSoftwareAdapter({ ...summary, isFallbackAdapter: !!(i.isFallbackAdapter || flagged) }),
    backend,
  };
}

const cache = new Map<string, Promise<OpenedAdapter | undefined>>();

/**
 * A hardware adapter if the machine has one; with `allowSoftware`, otherwise Mesa's software OpenGL ES adapter.
 * undefined when neither exists (or dawn.node cannot load on this platform). Opened once per process.
 */
export function openAdapter(opts: { allowSoftware: boolean }): Promise<OpenedAdapter | undefined> {
  // TL_WEBGPU=off: look for no adapter at all, as on a machine without one (tests, or to keep the GPU idle).
  if (!env.webgpu) return Promise.resolve(undefined);
  const key = opts.allowSoftware ? 'any' : 'hardware';
  let p = cache.get(key);
  if (!p) {
    p = (async () => {
      const m = await loadDawn();
      if (!m) return undefined;
      // Without the Vulkan loader Dawn's default backend on Linux only prints a warning: skip asking it.
      const hardware = vulkanLoaderMissing()
        ? undefined
        : await tryAdapter(m, [], { powerPreference: 'high-performance' }, 'default');
      if (hardware && !hardware.summary.software) return hardware;
      if (!opts.allowSoftware) return undefined;
      if (hardware) return hardware;
      // Mesa's EGL needs no display server on the surfaceless platform; Dawn's GLES backend only offers the
      // 'compatibility' feature level there.
      process.env.EGL_PLATFORM ||= 'surfaceless';
      return tryAdapter(m, ['backend=opengles'], { featureLevel: 'compatibility' }, 'opengles');
    })();
    cache.set(key, p);
  }
  return p;
}

/** Linux without libvulkan.so.1 in the usual library folders (or LD_LIBRARY_PATH): no hardware adapter can exist. */
function vulkanLoaderMissing(): boolean {
  if (process.platform !== 'linux') return false;
  const dirs = [
    ...(process.env.LD_LIBRARY_PATH ?? '').split(':').filter(Boolean),
    `/usr/lib/${process.arch === 'arm64' ? 'aarch64' : 'x86_64'}-linux-gnu`,
    '/usr/lib64',
    '/usr/lib',
    '/usr/local/lib',
    '/lib64',
    '/lib',
  ];
  return !dirs.some((d) => existsSync(join(d, 'libvulkan.so.1')));
}

async function tryAdapter(
  m: DawnModule,
  flags: string[],
  request: Record<string, string>,
  backend: GpuAdapterSummary['backend'],
): Promise<OpenedAdapter | undefined> {
  try {
    const gpu = m.create(flags);
    exposeGpu(gpu);
    const adapter = await gpu.requestAdapter(request as never);
    return adapter ? { gpu, adapter, summary: summarize(adapter, backend) } : undefined;
  } catch {
    return undefined;
  }
}
