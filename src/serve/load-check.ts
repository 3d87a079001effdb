// Load on a running `tl serve` (loopback): concurrent clients POST real JPEGs to /v1/models/{name}/predict
// (autocannon, a devDependency loaded only when runLoad is called); throughput, latency, errors, the micro-batcher's
// batch sizes and the server's RSS. What bench/serve-load.ts (20 s, a report) and test/integration/serve-load.test.ts (3 s,
// assertions) share; not part of the library's exports.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { readImageBytesSync } from '../data/image-file.js';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { packageRoot } from '../util/assets.js';

export interface LoadOptions {
  /** Base URL of a running server, e.g. http://127.0.0.1:8765 */
  url: string;
  model: string;
  /** JPEG files cycled through by every client. */
  images: string[];
  connections?: number;
  durationSeconds?: number;
  /** Server process id, for RSS samples (Linux /proc). */
  serverPid?: number;
}

export interface LoadReport {
  connections: number;
  durationSeconds: number;
  requests: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  throughputPerSecond: number;
  latencyMs: { p50: number; p90: number; p99: number; max: number; mean: number };
  /** before: after warm-up; quarter: a quarter into the run (the working set under load); after: at the end. */
  rssMB: { before: number | null; quarter: number | null; peak: number | null; after: number | null };
  batches: { images: number; batches: number; meanBatch: number; largestBatch: number } | null;
}

interface AutocannonResult {
  requests: { total: number; average: number };
  latency: { p50: number; p90: number; p99: number; max: number; average: number };
  non2xx: number;
  errors: number;
  timeouts: number;
  duration: number;
}
type Autocannon = (opts: Record<string, unknown>) => Promise<AutocannonResult>;

export function rssMB(pid: number): number | null {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Math.round(Number(m[1]) / 102.4) / 10 : null;
  } catch {
    return null;
  }
}

async function modelStats(
  url: string,
  model: string,
): Promise<{ images: number; batches: number; largestBatch: number } | null> {
  try {
    const r = (await (await fetch(`${url}/v1/models/${model}`)).json()) as {
      stats: { images: number; batches: number; largestBatch: number };
    };
    return r.stats;
  } catch {
    return null;
  }
}

/** Run the load against a running server. */
export async function runLoad(opts: LoadOptions): Promise<LoadReport> {
  const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon;
  const connections = opts.connections ?? 32;
  const duration = opts.durationSeconds ?? 20;
  const bodies = opts.images.map((p) => readImageBytesSync(p));
  const target = `${opts.url}/v1/models/${encodeURIComponent(opts.model)}/predict`;
  // Warm-up: a few requests so the backbone's first-run costs are not in the numbers or the RSS baseline.
  for (const b of bodies.slice(0, 4))
    await (await fetch(target, { method: 'POST', body: b, headers: { 'content-type': 'image/jpeg' } })).arrayBuffer();
  const statsBefore = await modelStats(opts.url, opts.model);
  const before = opts.serverPid ? rssMB(opts.serverPid) : null;
  let peak = before;
  let quarter: number | null = null;
  const t0 = Date.now();
  const sampler = setInterval(() => {
    const r = opts.serverPid ? rssMB(opts.serverPid) : null;
    if (r !== null && (peak === null || r > peak)) peak = r;
    if (quarter === null && Date.now() - t0 >= (duration * 1000) / 4) quarter = r;
  }, 250);
  let result: AutocannonResult;
  try {
    result = await autocannon({
      url: target,
      connections,
      duration,
      timeout: 30,
      requests: bodies.map((body) => ({ method: 'POST', headers: { 'content-type': 'image/jpeg' }, body })),
    });
  } finally {
    clearInterval(sampler);
  }
  const after = opts.serverPid ? rssMB(opts.serverPid) : null;
  const statsAfter = await modelStats(opts.url, opts.model);
  const batches =
    statsBefore && statsAfter
      ? (() => {
          const images = statsAfter.images - statsBefore.images;
          const n = statsAfter.batches - statsBefore.batches;
          return {
            images,
            batches: n,
            meanBatch: n ? Math.round((images / n) * 100) / 100 : 0,
            largestBatch: statsAfter.largestBatch,
          };
        })()
      : null;
  return {
    connections,
    durationSeconds: result.duration,
    requests: result.requests.total,
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    throughputPerSecond: Math.round(result.requests.average * 10) / 10,
    latencyMs: {
      p50: result.latency.p50,
      p90: result.latency.p90,
      p99: result.latency.p99,
      max: result.latency.max,
      mean: Math.round(result.latency.average * 10) / 10,
    },
    rssMB: { before, quarter, peak, after },
    batches,
  };
}

/** Start the built CLI's `serve` on a free loopback port; resolves with its URL and process. */
export function startServeChild(args: string[], env: NodeJS.ProcessEnv): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(
    process.execPath,
    [join(packageRoot(), 'dist/src/cli/main.js'), 'serve', '--port', '0', ...args],
    { env, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  return new Promise((resolvePromise, reject) => {
    let out = '';
    let err = '';
    const timer = setTimeout(() => reject(new Error(`tl serve did not start in 60 s\n${out}\n${err}`)), 60_000);
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolvePromise({ url: m[1], child });
      }
    });
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`tl serve exited with ${code}\n${out}\n${err}`));
    });
  });
}

export function stopChild(child: ChildProcess): Promise<number | null> {
  return new Promise((r) => {
    if (child.exitCode !== null) return r(child.exitCode);
    child.once('exit', (code) => r(code));
    child.kill('SIGTERM');
  });
}
