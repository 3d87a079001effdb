#!/usr/bin/env node
// `npm run bench:scale`: extraction on the Redis queue (issue 26) beside local extraction, on this machine.
//
// Starts its own redis-server (free port, temp dir, AOF on, as the tests do), then embeds the same images into a fresh
// store each time: locally (extractFeatures in this process), and through the queue with 1 and 2 `tl worker` processes
// (the built CLI) with this process as the coordinator. Reports images/s of each, and the coordinator's cost per
// image: this process's CPU time (read + hash + cache lookup + job submit/poll + decode + store write) and Redis's
// (INFO cpu), per image, from which follows how many workers one coordinator core can feed.
// Options: --dataset NAME (default cats_and_dogs_filtered/train) --images N (default 1000) --model ID --out FILE
// --worker-concurrency K (jobs each worker holds at once; default 1).
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createServer } from 'node:net';
import { Redis } from 'ioredis';
import { benchArgs } from './args.js';
import { env } from '../src/util/env.js';
import { listImages } from '../src/data/files.js';
import { loadFeatureBackbone } from '../src/backbone/load.js';
import { extractFeatures } from '../src/features/extract.js';
import { FeatureStore } from '../src/features/store.js';
import { QueueExtractor } from '../src/queue/coordinator.js';
import { DEFAULT_MODEL_ID } from '../src/backbone/zoo.js';

const thisFile = fileURLToPath(import.meta.url);
const root = [resolve(dirname(thisFile), '..'), resolve(dirname(thisFile), '../..')].find((d) =>
  existsSync(join(d, 'package.json')),
)!;
env.modelsDir ||= resolve(root, '../shared/models');
const datasetsDir = env.datasetsDir || resolve(root, '../shared/datasets');
const CLI = join(root, 'dist/src/cli/main.js');

const args = benchArgs(
  'npm run bench:scale -- [--dataset cats_and_dogs_filtered/train] [--images 1000] [--model ID] [--out FILE] [--worker-concurrency 1]',
  {
    dataset: 'cats_and_dogs_filtered/train',
    images: '1000',
    model: DEFAULT_MODEL_ID,
    out: 'bench-results/scale.json',
    'worker-concurrency': '1',
  },
);

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as { port: number };
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

function waitForLine(child: ChildProcess, pattern: RegExp, stream = child.stderr!): Promise<void> {
  let seen = '';
  return new Promise((resolveP, reject) => {
    stream.on('data', (d: Buffer) => {
      seen += d.toString();
      if (pattern.test(seen)) resolveP();
    });
    child.once('exit', () => reject(new Error(`exited early: ${seen}`)));
  });
}

async function redisCpuSeconds(client: Redis): Promise<number> {
  const info = await client.info('cpu');
  const n = (k: string) => Number(new RegExp(`${k}:([\\d.]+)`).exec(info)?.[1] ?? 0);
  return n('used_cpu_user') + n('used_cpu_sys');
}

interface Row {
  run: string;
  workers: number;
  images: number;
  seconds: number;
  imagesPerSecond: number;
  coordinatorCpuMsPerImage: number;
  redisCpuMsPerImage?: number;
}

async function main(): Promise<void> {
  const n = Number(args.images);
  const tmp = mkdtempSync(join(tmpdir(), 'tl-bench-scale-'));
  const data = join(tmp, 'data');
  mkdirSync(data);
  const files = listImages(join(datasetsDir, args.dataset)).slice(0, n);
  files.forEach((f, i) => symlinkSync(f, join(data, `${String(i).padStart(6, '0')}-${f.split('/').pop()}`)));
  const paths = listImages(data);
  const port = await freePort();
  const url = `redis://127.0.0.1:${port}`;
  const redis = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--dir', tmp, '--save', '', '--appendonly', 'yes'],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  await waitForLine(redis, /Ready to accept connections/, redis.stdout!);
  const info = new Redis({ port, host: '127.0.0.1' });
  const backbone = await loadFeatureBackbone(args.model);
  const rows: Row[] = [];
  const childEnv = { ...process.env, TL_MODELS_DIR: env.modelsDir, TL_OFFLINE: '1', TL_CACHE_DIR: join(tmp, 'cache') };
  let run = 0;

  const measure = async (label: string, workers: number) => {
    const store = FeatureStore.open(join(tmp, `store-${++run}.sqlite`));
    const children = Array.from({ length: workers }, () =>
      spawn(process.execPath, [CLI, 'worker', '--queue', url, '--concurrency', args['worker-concurrency']], {
        env: childEnv,
        stdio: ['ignore', 'ignore', 'pipe'],
      }),
    );
    await Promise.all(children.map((c) => waitForLine(c, /takes jobs from/)));
    const remote = workers ? await QueueExtractor.connect(url) : undefined;
    const redisBefore = await redisCpuSeconds(info);
    const cpu = process.cpuUsage();
    const t0 = Date.now();
    const r = await extractFeatures(backbone, paths, { store, remote });
    const seconds = (Date.now() - t0) / 1000;
    const used = process.cpuUsage(cpu);
    const redisUsed = (await redisCpuSeconds(info)) - redisBefore;
    await remote?.close();
    store.close();
    for (const c of children) c.kill('SIGTERM');
    await Promise.all(children.map((c) => new Promise((r2) => c.once('exit', r2))));
    if (r.embedded !== paths.length) throw new Error(`${label}: embedded ${r.embedded} of ${paths.length}`);
    const row: Row = {
      run: label,
      workers,
      images: paths.length,
      seconds,
      imagesPerSecond: paths.length / seconds,
      coordinatorCpuMsPerImage: (used.user + used.system) / 1000 / paths.length,
      ...(workers ? { redisCpuMsPerImage: (redisUsed * 1000) / paths.length } : {}),
    };
    rows.push(row);
    console.log(
      `${label.padEnd(28)} ${row.imagesPerSecond.toFixed(1).padStart(7)} img/s  ${seconds.toFixed(1).padStart(6)} s  ` +
        `this process ${row.coordinatorCpuMsPerImage.toFixed(2)} ms CPU/img` +
        (row.redisCpuMsPerImage !== undefined ? `, redis ${row.redisCpuMsPerImage.toFixed(2)} ms CPU/img` : ''),
    );
  };

  console.log(`${paths.length} images of ${args.dataset}, ${args.model}, ${cpus().length} cores, redis ${url}`);
  try {
    await measure('local (extractFeatures)', 0);
    await measure('queue, 1 worker', 1);
    await measure('queue, 2 workers', 2);
  } finally {
    await backbone.dispose();
    info.disconnect();
    redis.kill('SIGTERM');
    await new Promise((r) => redis.once('exit', r));
    rmSync(tmp, { recursive: true, force: true });
  }
  const one = rows.find((r) => r.workers === 1)!;
  const two = rows.find((r) => r.workers === 2)!;
  const coordMs = two.coordinatorCpuMsPerImage + (two.redisCpuMsPerImage ?? 0);
  const feedable = 1000 / coordMs / one.imagesPerSecond;
  console.log(
    `\ncoordinator + redis: ${coordMs.toFixed(2)} ms CPU per image => one coordinator core keeps up with ` +
      `${(1000 / coordMs).toFixed(0)} img/s, i.e. about ${feedable.toFixed(0)} workers as fast as one here (${one.imagesPerSecond.toFixed(0)} img/s)`,
  );
  mkdirSync(dirname(resolve(root, args.out)), { recursive: true });
  writeFileSync(
    resolve(root, args.out),
    JSON.stringify({ cores: cpus().length, rows, feedableWorkers: feedable }, null, 2),
  );
}

await main();
