#!/usr/bin/env node
// Load check of `tl serve` (loopback only): N concurrent clients POST real JPEGs to /v1/models/{name}/predict for
// D seconds (autocannon, programmatically). Reports throughput, latency percentiles, errors / non-2xx responses, the
// micro-batcher's batch sizes and the server's RSS (sampled from /proc) before, during and after.
// The server runs as a child process (the built CLI), so its RSS is its own.
//
//   npm run build && node dist/bench/serve-load.js [--connections 32] [--duration 20] [--bundle DIR] [--images N]
//
// Without --bundle, a classifier is trained first on a hymenoptera subset (a few seconds; features cached in a
// temporary TL_CACHE_DIR). Results go to stdout and bench-results/serve-load.json.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { createRequire } from 'node:module';

const thisFile = fileURLToPath(import.meta.url);
const root = [resolve(dirname(thisFile), '..'), resolve(dirname(thisFile), '../..')].find((d) => existsSync(join(d, 'package.json')))!;
const CLI = join(root, 'dist/src/cli/main.js');

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

async function modelStats(url: string, model: string): Promise<{ images: number; batches: number; largestBatch: number } | null> {
  try {
    const r = (await (await fetch(`${url}/v1/models/${model}`)).json()) as { stats: { images: number; batches: number; largestBatch: number } };
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
  const bodies = opts.images.map((p) => readFileSync(p));
  const target = `${opts.url}/v1/models/${encodeURIComponent(opts.model)}/predict`;
  // Warm-up: a few requests so the backbone's first-run costs are not in the numbers or the RSS baseline.
  for (const b of bodies.slice(0, 4)) await (await fetch(target, { method: 'POST', body: b, headers: { 'content-type': 'image/jpeg' } })).arrayBuffer();
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
          return { images, batches: n, meanBatch: n ? Math.round((images / n) * 100) / 100 : 0, largestBatch: statsAfter.largestBatch };
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
    latencyMs: { p50: result.latency.p50, p90: result.latency.p90, p99: result.latency.p99, max: result.latency.max, mean: Math.round(result.latency.average * 10) / 10 },
    rssMB: { before, quarter, peak, after },
    batches,
  };
}

/** Start the built CLI's `serve` on a free loopback port; resolves with its URL and process. */
export function startServeChild(args: string[], env: NodeJS.ProcessEnv): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(process.execPath, [CLI, 'serve', '--port', '0', ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
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

function arg(name: string, fallback?: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : fallback;
}

async function main(): Promise<void> {
  const modelsDir = process.env.TL_MODELS_DIR || resolve(root, '../shared/models');
  const datasetsDir = process.env.TL_DATASETS_DIR || resolve(root, '../shared/datasets');
  const hym = join(datasetsDir, 'hymenoptera_data');
  const work = mkdtempSync(join(tmpdir(), 'tl-serve-load-'));
  const childEnv = { ...process.env, TL_MODELS_DIR: modelsDir, TL_OFFLINE: '1', TL_CACHE_DIR: join(work, 'cache') };
  let bundle = arg('bundle');
  let child: ChildProcess | undefined;
  try {
    if (!bundle) {
      const { env } = await import('../src/env.js');
      env.modelsDir = modelsDir;
      env.cacheDir = childEnv.TL_CACHE_DIR;
      env.allowDownloads = false;
      const { trainClassifier } = await import('../src/classifier/train.js');
      const subset = join(work, 'subset');
      for (const cls of ['ants', 'bees']) {
        mkdirSync(join(subset, cls), { recursive: true });
        for (const f of readdirSync(join(hym, 'train', cls)).sort().slice(0, 30)) symlinkSync(join(hym, 'train', cls, f), join(subset, cls, f));
      }
      process.stderr.write('training a small classifier to serve (hymenoptera, 30 images per class)...\n');
      const r = await trainClassifier(subset, { seed: 0 });
      bundle = join(work, 'hymenoptera');
      await r.classifier.save(bundle);
      await r.classifier.dispose();
    }
    const nImages = Number(arg('images', '16'));
    const images = ['ants', 'bees'].flatMap((c) => readdirSync(join(hym, 'val', c)).sort().slice(0, Math.ceil(nImages / 2)).map((f) => join(hym, 'val', c, f)));
    const started = await startServeChild(['--bundle', bundle, '--name', 'bench', '--projects', join(work, 'projects')], childEnv);
    child = started.child;
    const connections = Number(arg('connections', '32'));
    const durationSeconds = Number(arg('duration', '20'));
    process.stderr.write(`load: ${connections} clients for ${durationSeconds} s against ${started.url} (${images.length} JPEGs, ${cpus().length} CPUs)...\n`);
    const report = await runLoad({ url: started.url, model: 'bench', images, connections, durationSeconds, serverPid: child.pid });
    const exit = await stopChild(child);
    child = undefined;
    const full = { ...report, images: images.length, cpus: cpus().length, cpuModel: cpus()[0]?.model, node: process.version, serverExitCode: exit, date: new Date().toISOString() };
    mkdirSync(join(root, 'bench-results'), { recursive: true });
    writeFileSync(join(root, 'bench-results/serve-load.json'), JSON.stringify(full, null, 2) + '\n');
    const r = report;
    process.stdout.write(
      [
        `requests      ${r.requests} in ${r.durationSeconds} s  (${r.throughputPerSecond} req/s)`,
        `errors        ${r.errors}  non-2xx ${r.non2xx}  timeouts ${r.timeouts}`,
        `latency ms    p50 ${r.latencyMs.p50}  p90 ${r.latencyMs.p90}  p99 ${r.latencyMs.p99}  max ${r.latencyMs.max}`,
        `batching      ${r.batches ? `${r.batches.batches} forward passes, mean ${r.batches.meanBatch} images, largest ${r.batches.largestBatch}` : 'n/a'}`,
        `server RSS MB after warm-up ${r.rssMB.before}  at 1/4 of the run ${r.rssMB.quarter}  peak ${r.rssMB.peak}  at the end ${r.rssMB.after}`,
        `server exit   ${exit}`,
        '',
      ].join('\n'),
    );
    if (r.errors || r.non2xx || r.timeouts) process.exitCode = 1;
  } finally {
    if (child) await stopChild(child);
    rmSync(work, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  main().catch((err) => {
    process.stderr.write(`${(err as Error).stack ?? err}\n`);
    process.exit(1);
  });
}
