#!/usr/bin/env node
// Load check of `tl serve` (loopback only): N concurrent clients POST real JPEGs to /v1/models/{name}/predict for
// D seconds (autocannon, programmatically). Reports throughput, latency percentiles, errors / non-2xx responses, the
// micro-batcher's batch sizes and the server's RSS (sampled from /proc) before, during and after.
// The server runs as a child process (the built CLI), so its RSS is its own.
//
//   npm run bench:serve-load -- [--connections 32] [--duration 20] [--bundle DIR] [--images N]
//   npm run bench:serve-load -- --while-training [--photos 240] [--model mobilenet-v1-0.25]
//
// --while-training: the server's responsiveness while a job trains (issue 25): p50/p99 of /v1/health and of one
// predict, idle and while a job embeds --photos hymenoptera photos with --model (fresh cache), to
// bench-results/serve-load-training.json.
//
// Without --bundle, a classifier is trained first on a hymenoptera subset (a few seconds; features cached in a
// temporary TL_CACHE_DIR). Results go to stdout and bench-results/serve-load.json.
import type { ChildProcess } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { runLoad, runTrainingLoad, startServeChild, stopChild } from '../src/serve/load-check.js';
import { benchArgs } from './args.js';

const thisFile = fileURLToPath(import.meta.url);
const root = [resolve(dirname(thisFile), '..'), resolve(dirname(thisFile), '../..')].find((d) =>
  existsSync(join(d, 'package.json')),
)!;

const USAGE =
  'npm run bench:serve-load -- [--connections 32] [--duration 20] [--bundle DIR] [--images 16] | --while-training [--photos 240] [--model mobilenet-v1-0.25]';

/** Health and predict latencies idle and while a job on a project of `photos` photos trains with `model`. */
async function whileTraining(root: string, photos: number, model: string): Promise<void> {
  const modelsDir = process.env.TL_MODELS_DIR || resolve(root, '../shared/models');
  const hym = join(process.env.TL_DATASETS_DIR || resolve(root, '../shared/datasets'), 'hymenoptera_data');
  const work = mkdtempSync(join(tmpdir(), 'tl-serve-load-train-'));
  const cacheDir = join(work, 'cache');
  let child: ChildProcess | undefined;
  try {
    const { env } = await import('../src/util/env.js');
    Object.assign(env, { modelsDir, cacheDir, allowDownloads: false });
    const { trainClassifier } = await import('../src/training/train.js');
    const subset = join(work, 'subset');
    for (const cls of ['ants', 'bees']) {
      mkdirSync(join(subset, cls), { recursive: true });
      for (const f of readdirSync(join(hym, 'val', cls))
        .sort()
        .slice(0, 8))
        symlinkSync(join(hym, 'val', cls, f), join(subset, cls, f));
    }
    const r = await trainClassifier(subset, { seed: 0, strategy: 'head', model });
    await r.classifier.save(join(work, 'bundle'));
    await r.classifier.dispose();
    const started = await startServeChild(
      ['--bundle', join(work, 'bundle'), '--name', 'bench', '--projects', join(work, 'projects')],
      { ...process.env, TL_MODELS_DIR: modelsDir, TL_OFFLINE: '1', TL_CACHE_DIR: cacheDir },
    );
    child = started.child;
    const post = (path: string, init: RequestInit) => fetch(`${started.url}${path}`, { method: 'POST', ...init });
    await post('/v1/projects', {
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'busy', classes: ['ants', 'bees'] }),
    });
    for (const cls of ['ants', 'bees']) {
      const files = readdirSync(join(hym, 'train', cls))
        .sort()
        .slice(0, Math.ceil(photos / 2));
      for (let i = 0; i < files.length; i += 40) {
        const form = new FormData();
        for (const f of files.slice(i, i + 40))
          form.append('file', new Blob([readFileSync(join(hym, 'train', cls, f))], { type: 'image/jpeg' }), f);
        await (await post(`/v1/projects/busy/classes/${cls}/images`, { body: form })).arrayBuffer();
      }
    }
    process.stderr.write(`measuring idle, then while a job embeds ${photos} photos with ${model}...\n`);
    const report = await runTrainingLoad({
      url: started.url,
      model: 'bench',
      image: join(hym, 'val', 'bees', readdirSync(join(hym, 'val', 'bees')).sort()[20]),
      project: 'busy',
      trainBody: { seed: 0, strategy: 'head', model },
    });
    const full = {
      ...report,
      photos,
      model,
      cpus: cpus().length,
      node: process.version,
      date: new Date().toISOString(),
    };
    mkdirSync(join(root, 'bench-results'), { recursive: true });
    writeFileSync(join(root, 'bench-results/serve-load-training.json'), JSON.stringify(full, null, 2) + '\n');
    const line = (what: string, s: { p50: number; p99: number; max: number; count: number }) =>
      `${what.padEnd(22)} p50 ${s.p50} ms  p99 ${s.p99} ms  max ${s.max} ms  (${s.count} requests)`;
    process.stdout.write(
      [
        line('health, idle', report.idle.health),
        line('health, training', report.training.health),
        line('predict, idle', report.idle.predict),
        line('predict, training', report.training.predict),
        `job ${report.jobState} in ${report.jobSeconds.toFixed(1)} s; ${report.failures} failed requests`,
        '',
      ].join('\n'),
    );
  } finally {
    if (child) await stopChild(child);
    rmSync(work, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const args = benchArgs(
    USAGE,
    { connections: '32', duration: '20', bundle: undefined, images: '16', photos: '240', model: 'mobilenet-v1-0.25' },
    ['while-training'],
  );
  if (args['while-training']) return whileTraining(root, Number(args.photos), args.model);
  const modelsDir = process.env.TL_MODELS_DIR || resolve(root, '../shared/models');
  const datasetsDir = process.env.TL_DATASETS_DIR || resolve(root, '../shared/datasets');
  const hym = join(datasetsDir, 'hymenoptera_data');
  const work = mkdtempSync(join(tmpdir(), 'tl-serve-load-'));
  const childEnv = { ...process.env, TL_MODELS_DIR: modelsDir, TL_OFFLINE: '1', TL_CACHE_DIR: join(work, 'cache') };
  let bundle = args.bundle;
  let child: ChildProcess | undefined;
  try {
    if (!bundle) {
      const { env } = await import('../src/util/env.js');
      env.modelsDir = modelsDir;
      env.cacheDir = childEnv.TL_CACHE_DIR;
      env.allowDownloads = false;
      const { trainClassifier } = await import('../src/training/train.js');
      const subset = join(work, 'subset');
      for (const cls of ['ants', 'bees']) {
        mkdirSync(join(subset, cls), { recursive: true });
        for (const f of readdirSync(join(hym, 'train', cls))
          .sort()
          .slice(0, 30))
          symlinkSync(join(hym, 'train', cls, f), join(subset, cls, f));
      }
      process.stderr.write('training a small classifier to serve (hymenoptera, 30 images per class)...\n');
      const r = await trainClassifier(subset, { seed: 0 });
      bundle = join(work, 'hymenoptera');
      await r.classifier.save(bundle);
      await r.classifier.dispose();
    }
    const nImages = Number(args.images);
    const images = ['ants', 'bees'].flatMap((c) =>
      readdirSync(join(hym, 'val', c))
        .sort()
        .slice(0, Math.ceil(nImages / 2))
        .map((f) => join(hym, 'val', c, f)),
    );
    const started = await startServeChild(
      ['--bundle', bundle, '--name', 'bench', '--projects', join(work, 'projects')],
      childEnv,
    );
    child = started.child;
    const connections = Number(args.connections);
    const durationSeconds = Number(args.duration);
    process.stderr.write(
      `load: ${connections} clients for ${durationSeconds} s against ${started.url} (${images.length} JPEGs, ${cpus().length} CPUs)...\n`,
    );
    const report = await runLoad({
      url: started.url,
      model: 'bench',
      images,
      connections,
      durationSeconds,
      serverPid: child.pid,
    });
    const exit = await stopChild(child);
    child = undefined;
    const full = {
      ...report,
      images: images.length,
      cpus: cpus().length,
      cpuModel: cpus()[0]?.model,
      node: process.version,
      serverExitCode: exit,
      date: new Date().toISOString(),
    };
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
