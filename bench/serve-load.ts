#!/usr/bin/env node
// Load check of `tl serve` (loopback only): N concurrent clients POST real JPEGs to /v1/models/{name}/predict for
// D seconds (autocannon, programmatically). Reports throughput, latency percentiles, errors / non-2xx responses, the
// micro-batcher's batch sizes and the server's RSS (sampled from /proc) before, during and after.
// The server runs as a child process (the built CLI), so its RSS is its own.
//
//   npm run bench:serve-load -- [--connections 32] [--duration 20] [--bundle DIR] [--images N]
//
// Without --bundle, a classifier is trained first on a hymenoptera subset (a few seconds; features cached in a
// temporary TL_CACHE_DIR). Results go to stdout and bench-results/serve-load.json.
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { runLoad, startServeChild, stopChild } from '../src/serve/load-check.js';
import { benchArgs } from './args.js';

const thisFile = fileURLToPath(import.meta.url);
const root = [resolve(dirname(thisFile), '..'), resolve(dirname(thisFile), '../..')].find((d) =>
  existsSync(join(d, 'package.json')),
)!;

const USAGE = 'npm run bench:serve-load -- [--connections 32] [--duration 20] [--bundle DIR] [--images 16]';

async function main(): Promise<void> {
  const args = benchArgs(USAGE, { connections: '32', duration: '20', bundle: undefined, images: '16' });
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
