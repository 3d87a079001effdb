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

// ---------------------------------------------------------------------------------------------------------------
// Responsiveness while a job trains (issue 25 item 5): one client asks /v1/health and predicts one photo in turn,
// with a short pause between requests, first on an idle server, then while a training job on a project runs (its
// photos embedded with a fresh cache). The p99 of each, idle and during training, says whether training blocks the
// server's event loop.

export interface LatencyStats {
  count: number;
  p50: number;
  p99: number;
  max: number;
}

export interface TrainingLoadReport {
  idle: { health: LatencyStats; predict: LatencyStats };
  training: { health: LatencyStats; predict: LatencyStats };
  /** Seconds the job ran, and how it ended. */
  jobSeconds: number;
  jobState: string;
  /** Requests that did not answer 200 (any phase). */
  failures: number;
}

export interface TrainingLoadOptions {
  url: string;
  /** A served model (--bundle) to predict with. */
  model: string;
  /** JPEG for the predict requests. */
  image: string;
  /** A project with photos, and the training request to start on it. */
  project: string;
  trainBody: Record<string, unknown>;
  idleSeconds?: number;
  /** Pause between two requests of one client. */
  pauseMs?: number;
}

export function latencyStats(ms: number[]): LatencyStats {
  const s = [...ms].sort((a, b) => a - b);
  const at = (q: number) => (s.length ? s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)] : NaN);
  const r1 = (v: number) => Math.round(v * 10) / 10;
  return { count: s.length, p50: r1(at(0.5)), p99: r1(at(0.99)), max: r1(s.at(-1) ?? NaN) };
}

/** Measure health and predict latencies idle, then while a training job runs; resolves when the job has ended. */
export async function runTrainingLoad(opts: TrainingLoadOptions): Promise<TrainingLoadReport> {
  const pause = opts.pauseMs ?? 25;
  const photo = readImageBytesSync(opts.image);
  let failures = 0;
  const timed = async (f: () => Promise<Response>): Promise<number> => {
    const t = performance.now();
    const res = await f();
    await res.arrayBuffer();
    if (res.status !== 200) failures++;
    return performance.now() - t;
  };
  const health = () => timed(() => fetch(`${opts.url}/v1/health`));
  const predict = () =>
    timed(() =>
      fetch(`${opts.url}/v1/models/${encodeURIComponent(opts.model)}/predict`, {
        method: 'POST',
        body: photo,
        headers: { 'content-type': 'image/jpeg' },
      }),
    );
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  /**
   * One client alternating health and predict until `until` resolves: a health request never waits behind one of
   * our own predictions (a TF.js forward pass runs on the server's event loop), so each measures what the training
   * does to it.
   */
  const measure = async (until: Promise<unknown>) => {
    let stop = false;
    void until.finally(() => (stop = true));
    const h: number[] = [];
    const p: number[] = [];
    while (!stop) {
      h.push(await health());
      await sleep(pause);
      p.push(await predict());
      await sleep(pause);
    }
    return { health: latencyStats(h), predict: latencyStats(p) };
  };
  for (let i = 0; i < 5; i++) await predict(); // warm-up: the backbone's first runs are not idle latency
  failures = 0;
  const idle = await measure(sleep((opts.idleSeconds ?? 5) * 1000));
  const t0 = Date.now();
  const started = await fetch(`${opts.url}/v1/projects/${encodeURIComponent(opts.project)}/train`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(opts.trainBody),
  });
  const body = (await started.json()) as { job?: { id: string } };
  if (started.status !== 202 || !body.job) throw new Error(`training did not start: ${JSON.stringify(body)}`);
  let jobState = 'running';
  const ended = (async () => {
    while (!['done', 'failed', 'cancelled'].includes(jobState)) {
      await sleep(250);
      jobState = ((await (await fetch(`${opts.url}/v1/jobs/${body.job!.id}`)).json()) as { state: string }).state;
    }
  })();
  const training = await measure(ended);
  return { idle, training, jobSeconds: (Date.now() - t0) / 1000, jobState, failures };
}
