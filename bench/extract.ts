#!/usr/bin/env node
// `npm run bench`: feature-extraction throughput of every zoo backbone, side by side with a reference peer
// (Debian python3-torch + python3-torchvision running mobilenet_v2 on the same files) in one run.
//
// Per backbone: forward-only img/s at batch 1 and 32 on pre-made random tensors (Backbone.embed, after a warm-up);
// end-to-end img/s of extractFeatures (read + hash + decode + resize + normalize + forward + store) into a fresh
// temporary FeatureStore; the ratio end-to-end / forward bs32; peak RSS of that run and its RSS growth from 1/3 of
// the images to the end; and the time of a second run over the same store (every image a cache hit).
// Each measurement runs in its own child process (this file with --child), so RSS figures are that run's alone.
// The table goes to stdout and, with all details, to bench-results/extract.json.
//
// Options: --dataset NAME (default cats_and_dogs_filtered) --images N (files for the ONNX model and the peer; default
// all) --tfjs-images N (cap for the slow TF.js models; default 300) --peer-images N (default 600) --models a,b
// --no-peer --no-peer-tuned --peer-workers 0,2 --out FILE.
import { spawn, spawnSync } from 'node:child_process';
import { benchArgs } from './args.js';
import { modelUnavailable, type SkippedModel } from './models.js';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { env } from '../src/util/env.js';
import { loadBackbone } from '../src/backbone/load.js';
import { ZOO } from '../src/backbone/zoo.js';
import { listModels } from '../src/backbone/registry.js';
import { listImages } from '../src/data/files.js';
import { extractFeatures } from '../src/features/extract.js';
import { FeatureStore } from '../src/features/store.js';

const thisFile = fileURLToPath(import.meta.url);
// dist/bench/extract.js (compiled) or bench/extract.ts (tsx): the repository root is the folder holding package.json.
const root = [resolve(dirname(thisFile), '..'), resolve(dirname(thisFile), '../..')].find((d) =>
  existsSync(join(d, 'package.json')),
)!;
env.modelsDir ||= resolve(root, '../shared/models');
const datasetsDir = env.datasetsDir || resolve(root, '../shared/datasets');

const MB = 1024 * 1024;
const PEER_HINT = 'not installed (apt-get install python3-torch python3-torchvision)';

// ---------------------------------------------------------------------------------------------------------------
// Arguments

const USAGE =
  'npm run bench:extract -- [--dataset NAME] [--images N] [--tfjs-images 300] [--peer-images 600] [--models a,b] ' +
  '[--no-peer] [--no-peer-tuned] [--peer-workers 0,2] [--out FILE]';
// --child MODE --model ID --result FILE [--list FILE --store DIR]: one measurement in a child process of its own.
const CHILD_OPTIONS = { child: undefined, model: undefined, result: undefined, list: undefined, store: undefined };
function readArgs() {
  const options = { dataset: undefined, images: undefined, 'tfjs-images': undefined, 'peer-images': undefined };
  const more = { models: undefined, 'peer-workers': undefined, out: undefined, peer: undefined, ...CHILD_OPTIONS };
  return benchArgs(USAGE, { ...options, ...more }, ['no-peer', 'no-peer-tuned']);
}
type Args = ReturnType<typeof readArgs>;

function intArg(args: Args, name: 'images' | 'tfjs-images' | 'peer-images'): number | undefined {
  const v = args[name];
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`--${name} wants a positive integer, got ${v}`);
  return n;
}

// ---------------------------------------------------------------------------------------------------------------
// Child measurements

interface ForwardResult {
  model: string;
  loadSeconds: number;
  bs1: number;
  bs32: number;
  bs1Rounds: number[];
  bs32Rounds: number[];
  bs1Batches: number;
  bs32Batches: number;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

interface E2eResult {
  model: string;
  images: number;
  embedded: number;
  cached: number;
  skipped: number;
  loadSeconds: number;
  seconds: number;
  imgPerSec: number;
  peakRssMB: number;
  rssAtThirdMB: number;
  peakRssAtThirdMB: number;
  rssEndMB: number;
  rssMaxSampledMB: number;
}

function randomInputs(n: number, per: number, seed: number): Float32Array[] {
  let s = seed >>> 0;
  return Array.from({ length: n }, () => {
    const x = new Float32Array(per);
    for (let i = 0; i < per; i++) {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      x[i] = (s / 2 ** 32) * 4 - 2; // roughly the range of a normalized photo
    }
    return x;
  });
}

/** Images per second of backbone.embed on batches of `bs`, for at least `minSeconds` and `minBatches`. */
async function timeForward(
  embed: (b: Float32Array[]) => Promise<unknown>,
  batch: Float32Array[],
  minSeconds: number,
  minBatches: number,
) {
  let batches = 0;
  const t0 = performance.now();
  let elapsed = 0;
  while (batches < minBatches || elapsed < minSeconds * 1000) {
    await embed(batch);
    batches++;
    elapsed = performance.now() - t0;
  }
  return { imgPerSec: (batches * batch.length) / (elapsed / 1000), batches };
}

async function childForward(model: string): Promise<ForwardResult> {
  const t0 = performance.now();
  const b = await loadBackbone(model);
  const loadSeconds = (performance.now() - t0) / 1000;
  const per = b.input.size * b.input.size * 3;
  const inputs = randomInputs(32, per, 12345);
  const embed = (x: Float32Array[]) => b.embed(x);
  // Warm-up: first runs allocate arenas, compile wasm kernels, pick algorithms.
  for (let i = 0; i < 3; i++) await embed(inputs.slice(0, 1));
  await embed(inputs);
  // Three alternating rounds, median of each: this kind of shared 2-core VM is noisy from one second to the next.
  const ones: number[] = [];
  const manys: number[] = [];
  let bs1Batches = 0;
  let bs32Batches = 0;
  for (let round = 0; round < 3; round++) {
    const one = await timeForward(embed, inputs.slice(0, 1), 1, 5);
    const many = await timeForward(embed, inputs, 2, 1);
    ones.push(one.imgPerSec);
    manys.push(many.imgPerSec);
    bs1Batches += one.batches;
    bs32Batches += many.batches;
  }
  await b.dispose();
  return {
    model,
    loadSeconds,
    bs1: median(ones),
    bs32: median(manys),
    bs1Rounds: ones,
    bs32Rounds: manys,
    bs1Batches,
    bs32Batches,
  };
}

async function childE2e(model: string, listFile: string, storePath: string): Promise<E2eResult> {
  const paths = readFileSync(listFile, 'utf8').split('\n').filter(Boolean);
  const t0 = performance.now();
  const b = await loadBackbone(model);
  const loadSeconds = (performance.now() - t0) / 1000;
  const store = FeatureStore.open(storePath);
  const third = Math.ceil(paths.length / 3);
  let rssAtThird = 0;
  let peakAtThird = 0;
  let rssMax = 0;
  const r = await extractFeatures(b, paths, {
    store,
    onProgress: (p) => {
      const rss = process.memoryUsage.rss();
      if (rss > rssMax) rssMax = rss;
      if (!rssAtThird && p.done >= third) {
        rssAtThird = rss;
        peakAtThird = process.resourceUsage().maxRSS * 1024;
      }
    },
  });
  const rssEnd = process.memoryUsage.rss();
  const peak = process.resourceUsage().maxRSS * 1024; // maxRSS is in KiB
  store.close();
  await b.dispose();
  const seconds = r.elapsedMs / 1000;
  return {
    model,
    images: paths.length,
    embedded: r.embedded,
    cached: r.cached,
    skipped: r.skipped.length,
    loadSeconds,
    seconds,
    imgPerSec: paths.length / seconds,
    peakRssMB: peak / MB,
    rssAtThirdMB: rssAtThird / MB,
    peakRssAtThirdMB: peakAtThird / MB,
    rssEndMB: rssEnd / MB,
    rssMaxSampledMB: rssMax / MB,
  };
}

async function runChild(args: Args): Promise<void> {
  const mode = args.child;
  const model = args.model!;
  const out = args.result!;
  const result = mode === 'forward' ? await childForward(model) : await childE2e(model, args.list!, args.store!);
  writeFileSync(out, JSON.stringify(result));
}

// ---------------------------------------------------------------------------------------------------------------
// Parent: spawn children, run the peer, print and save the table

function spawnCollect(
  cmd: string,
  argv: string[],
  label: string,
  envVars: NodeJS.ProcessEnv = process.env,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolvePromise, reject) => {
    const p = spawn(cmd, argv, { cwd: root, env: envVars, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    p.on('error', reject);
    p.on('close', (code) => {
      if (code !== 0)
        process.stderr.write(`  ${label} exited with ${code}\n${stderr.split('\n').slice(-15).join('\n')}\n`);
      resolvePromise({ code, stdout, stderr });
    });
  });
}

async function child<T>(extra: string[], label: string, work: string): Promise<T | { error: string }> {
  const out = join(work, `result-${Math.random().toString(36).slice(2)}.json`);
  const r = await spawnCollect(process.execPath, [...process.execArgv, thisFile, '--result', out, ...extra], label);
  if (r.code !== 0 || !existsSync(out))
    return { error: `${label} failed (exit ${r.code}): ${r.stderr.trim().split('\n').slice(-1)[0] ?? ''}` };
  return JSON.parse(readFileSync(out, 'utf8')) as T;
}

interface PeerRun {
  workers: number;
  images: number;
  seconds: number;
  imgPerSec: number;
  peakRssMB: number;
  peakRssWorkersMB: number;
  rssAtThirdMB: number;
  rssEndMB: number;
}
interface PeerResult {
  status: 'ok' | string;
  variant?: string;
  python?: string;
  torch?: string;
  torchvision?: string;
  threads?: number;
  forward?: { bs1: number; bs32: number };
  e2e?: PeerRun[];
}

function findPeerPython(): { python: string } | { error: string } {
  for (const py of ['/usr/bin/python3', 'python3']) {
    const r = spawnSync(py, ['-c', 'import torch, torchvision'], { encoding: 'utf8' });
    if (r.status === 0) return { python: py };
  }
  return { error: PEER_HINT };
}

/** glibc returns torch's large activation buffers to the OS after every op by default (mmap/munmap, page faults);
 * these settings keep them in the heap. Measured as a second peer variant so the comparison is not against a straw man. */
const MALLOC_TUNED = {
  MALLOC_MMAP_THRESHOLD_: '4294967296',
  MALLOC_TRIM_THRESHOLD_: '4294967296',
  MALLOC_TOP_PAD_: '536870912',
};

async function runPeer(listFile: string, workers: string, variant: 'default' | 'malloc-tuned'): Promise<PeerResult> {
  const found = findPeerPython();
  if ('error' in found) return { status: found.error };
  const script = join(root, 'bench/peer_torch.py');
  const envVars = variant === 'malloc-tuned' ? { ...process.env, ...MALLOC_TUNED } : process.env;
  const r = await spawnCollect(
    found.python,
    [script, '--list', listFile, '--threads', '2', '--batch', '32', '--workers', workers],
    `peer ${variant}`,
    envVars,
  );
  if (r.code !== 0) return { status: `failed (exit ${r.code}): ${r.stderr.trim().split('\n').slice(-1)[0] ?? ''}` };
  const lastLine = r.stdout.trim().split('\n').slice(-1)[0];
  return { status: 'ok', variant, python: found.python, ...(JSON.parse(lastLine) as Omit<PeerResult, 'status'>) };
}

const fmt = (x: number | undefined, digits = 1) => (x === undefined || !Number.isFinite(x) ? '-' : x.toFixed(digits));

function table(header: string[], rows: string[][]): string {
  const w = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]) =>
    '| ' + r.map((c, i) => (i === 0 ? c.padEnd(w[i]) : c.padStart(w[i]))).join(' | ') + ' |';
  return [
    line(header),
    '|' + w.map((n, i) => (i === 0 ? ':' : '') + '-'.repeat(n + 1) + (i === 0 ? '-' : ':')).join('|') + '|',
    ...rows.map(line),
  ].join('\n');
}

async function main(): Promise<void> {
  const args = readArgs();
  if (args.child !== undefined) return runChild(args);

  const benchStart = performance.now();
  const dataset = args.dataset ?? 'cats_and_dogs_filtered';
  const datasetDir = join(datasetsDir, dataset);
  if (!existsSync(datasetDir))
    throw new Error(`dataset ${dataset} not found under ${datasetsDir} (set TL_DATASETS_DIR)`);
  const all = listImages(datasetDir);
  const nImages = Math.min(intArg(args, 'images') ?? all.length, all.length);
  const nTfjs = Math.min(intArg(args, 'tfjs-images') ?? 300, nImages);
  const modelIds = (args.models ?? ZOO.map((m) => m.id).join(',')).split(',').filter(Boolean);
  const withPeer = args.peer !== 'false' && !args['no-peer'];
  const peerWorkers = args['peer-workers'] ?? '0,2';
  // The peer is fp32 torch on 2 cores: on all 3000 files its 3 runs alone would take most of a 10-minute budget.
  const nPeer = Math.min(intArg(args, 'peer-images') ?? 600, nImages);
  const outFile = resolve(args.out ?? join(root, 'bench-results/extract.json'));

  const work = mkdtempSync(join(tmpdir(), 'tl-bench-'));
  const files = all.slice(0, nImages);
  // Read every file once so the first timed run does not pay for a cold disk and the peer sees the same page cache.
  for (const f of files) readFileSync(f);
  const listFile = join(work, 'files.txt');
  writeFileSync(listFile, files.join('\n') + '\n');

  console.log(
    `tl extraction bench: ${dataset} (${relative(root, datasetDir)}), ${cpus().length} CPU(s) ${cpus()[0]?.model ?? ''}, node ${process.version}`,
  );
  console.log(
    `files: ${files.length} for ONNX models; the first ${nTfjs} for TF.js models and the first ${nPeer} for the peer`,
  );

  interface Row {
    model: string;
    format: string;
    images: number;
    forward: ForwardResult | { error: string };
    e2e: E2eResult | { error: string };
    cached: E2eResult | { error: string };
    ratio?: number;
    rssGrowthMB?: number;
    cachedVsFirst?: number;
  }
  const rows: Row[] = [];
  const skipped: SkippedModel[] = [];
  try {
    for (const id of modelIds) {
      // A zoo id, or a model registered with `tl models add` (e.g. a random-weight ViT export, for its speed).
      const entry = listModels().find((m) => m.id === id);
      if (!entry)
        throw new Error(
          `unknown model ${id}; known: ${listModels()
            .map((m) => m.id)
            .join(', ')}`,
        );
      // A model that is not here: one line, no row (its three children would each fail with a stack trace).
      const unavailable = await modelUnavailable(id);
      if (unavailable) {
        console.log(unavailable);
        skipped.push({ model: id, line: unavailable });
        continue;
      }
      const n = entry.format === 'onnx' ? files.length : nTfjs;
      const list = n === files.length ? listFile : join(work, `files-${n}.txt`);
      if (list !== listFile) writeFileSync(list, files.slice(0, n).join('\n') + '\n');
      const store = join(work, `store-${id}.sqlite`); // fresh: nothing cached on the first run
      process.stdout.write(`${id}: forward...`);
      const forward = await child<ForwardResult>(['--child', 'forward', '--model', id], `${id} forward`, work);
      process.stdout.write(` end-to-end on ${n} files...`);
      const e2e = await child<E2eResult>(
        ['--child', 'e2e', '--model', id, '--list', list, '--store', store],
        `${id} e2e`,
        work,
      );
      process.stdout.write(' cached re-run...');
      const cached = await child<E2eResult>(
        ['--child', 'e2e', '--model', id, '--list', list, '--store', store],
        `${id} cached`,
        work,
      );
      const row: Row = { model: id, format: entry.format, images: n, forward, e2e, cached };
      if (!('error' in forward) && !('error' in e2e)) row.ratio = e2e.imgPerSec / forward.bs32;
      if (!('error' in e2e)) row.rssGrowthMB = e2e.rssEndMB - e2e.rssAtThirdMB;
      if (!('error' in e2e) && !('error' in cached)) row.cachedVsFirst = cached.seconds / e2e.seconds;
      rows.push(row);
      console.log(' done');
    }

    const peers: PeerResult[] = [];
    if (withPeer) {
      process.stdout.write(
        `peer (torch mobilenet_v2, 2 threads, DataLoader workers ${peerWorkers}) on ${nPeer} files...`,
      );
      const peerList = nPeer === files.length ? listFile : join(work, `files-peer-${nPeer}.txt`);
      if (peerList !== listFile) writeFileSync(peerList, files.slice(0, nPeer).join('\n') + '\n');
      const p = await runPeer(peerList, peerWorkers, 'default');
      peers.push(p);
      if (p.status === 'ok' && !args['no-peer-tuned']) {
        // The tuned variant only with the faster worker setting of the default run, to keep the bench short.
        const best = p.e2e!.reduce((a, b) => (b.imgPerSec > a.imgPerSec ? b : a));
        process.stdout.write(` malloc-tuned (workers ${best.workers})...`);
        peers.push(await runPeer(peerList, String(best.workers), 'malloc-tuned'));
      }
      console.log(p.status === 'ok' ? ' done' : ` ${p.status}`);
    } else peers.push({ status: 'skipped (--no-peer)' });

    // ---- table
    const header = [
      'model',
      'runtime',
      'images',
      'fwd bs1 img/s',
      'fwd bs32 img/s',
      'e2e img/s',
      'e2e/fwd32',
      'peak RSS MB',
      'RSS growth MB (1/3→end)',
      'cached re-run s (first s)',
    ];
    const out: string[][] = rows.map((r) => {
      const f = 'error' in r.forward ? undefined : r.forward;
      const e = 'error' in r.e2e ? undefined : r.e2e;
      const c = 'error' in r.cached ? undefined : r.cached;
      return [
        r.model,
        r.format === 'onnx' ? 'onnxruntime-node' : 'tfjs wasm',
        String(r.images) + (r.images < files.length ? ' (subset)' : ''),
        fmt(f?.bs1),
        fmt(f?.bs32),
        fmt(e?.imgPerSec),
        fmt(r.ratio, 2),
        fmt(e?.peakRssMB, 0),
        e
          ? `${fmt(e.rssAtThirdMB, 0)}→${fmt(e.rssEndMB, 0)} (${r.rssGrowthMB! >= 0 ? '+' : ''}${fmt(r.rssGrowthMB, 0)})`
          : '-',
        c && e ? `${fmt(c.seconds, 2)} (${fmt(e.seconds, 1)})` : '-',
      ];
    });
    for (const peer of peers) {
      if (peer.status !== 'ok') {
        out.push([
          `peer: torch mobilenet_v2${peer.variant ? ` (${peer.variant})` : ''}`,
          peer.status,
          '-',
          '-',
          '-',
          '-',
          '-',
          '-',
          '-',
          '-',
        ]);
        continue;
      }
      for (const p of peer.e2e ?? []) {
        out.push([
          `peer: torch mobilenet_v2, ${peer.variant === 'default' ? '' : peer.variant + ', '}workers=${p.workers}`,
          `torch ${peer.torch} fp32`,
          String(p.images) + (p.images < files.length ? ' (subset)' : ''),
          fmt(peer.forward?.bs1),
          fmt(peer.forward?.bs32),
          fmt(p.imgPerSec),
          fmt(peer.forward ? p.imgPerSec / peer.forward.bs32 : undefined, 2),
          `${fmt(p.peakRssMB, 0)}${p.workers > 0 ? ` (+${fmt(p.peakRssWorkersMB, 0)}/worker)` : ''}`,
          `${fmt(p.rssAtThirdMB, 0)}→${fmt(p.rssEndMB, 0)} (${p.rssEndMB - p.rssAtThirdMB >= 0 ? '+' : ''}${fmt(p.rssEndMB - p.rssAtThirdMB, 0)})`,
          '-',
        ]);
      }
    }
    console.log('');
    console.log(table(header, out));
    console.log('');

    // ---- summary against the issue's targets
    const onnx = rows.find((r) => r.format === 'onnx' && !('error' in r.e2e));
    const okPeers = peers.filter((p) => p.status === 'ok');
    const peerRuns = okPeers.flatMap((p) => (p.e2e ?? []).map((r) => ({ ...r, variant: p.variant })));
    const bestPeer = peerRuns.length ? peerRuns.reduce((a, b) => (b.imgPerSec > a.imgPerSec ? b : a)) : undefined;
    const peerFwd = okPeers
      .map((p) => p.forward!)
      .reduce<{ bs1: number; bs32: number } | undefined>((a, f) => (!a || f.bs32 > a.bs32 ? f : a), undefined);
    const summary: Record<string, unknown> = {};
    for (const r of rows) {
      for (const k of ['forward', 'e2e', 'cached'] as const) {
        const v = r[k];
        if ('error' in v) console.log(`${r.model} ${k}: ${v.error}`);
      }
    }
    if (onnx && !('error' in onnx.e2e)) {
      const e = onnx.e2e;
      summary.onnxModel = onnx.model;
      summary.onnxE2eOverForward = onnx.ratio;
      summary.onnxE2eOverForwardPass = onnx.ratio !== undefined && onnx.ratio >= 0.7;
      summary.onnxPeakRssMB = e.peakRssMB;
      summary.onnxPeakRssPass = e.peakRssMB < 1536;
      summary.onnxRssGrowthMB = onnx.rssGrowthMB;
      console.log(
        `${onnx.model} end-to-end / forward bs32: ${fmt(onnx.ratio, 2)} (target >= 0.70: ${summary.onnxE2eOverForwardPass ? 'met' : 'NOT met'})`,
      );
      console.log(
        `${onnx.model} peak RSS over ${e.images} images: ${fmt(e.peakRssMB, 0)} MB (target < 1536 MB: ${summary.onnxPeakRssPass ? 'met' : 'NOT met'}); ` +
          `RSS ${fmt(e.rssAtThirdMB, 0)} MB after 1/3 of the images, ${fmt(e.rssEndMB, 0)} MB at the end (peak ${fmt(e.peakRssAtThirdMB, 0)} → ${fmt(e.peakRssMB, 0)} MB)`,
      );
      if (bestPeer) {
        summary.onnxE2eOverPeerE2e = e.imgPerSec / bestPeer.imgPerSec;
        summary.peerBest = { variant: bestPeer.variant, workers: bestPeer.workers, imgPerSec: bestPeer.imgPerSec };
        console.log(
          `${onnx.model} end-to-end / peer end-to-end (best: ${bestPeer.variant}, workers=${bestPeer.workers}): ${fmt(e.imgPerSec / bestPeer.imgPerSec, 2)}x (${fmt(e.imgPerSec)} vs ${fmt(bestPeer.imgPerSec)} img/s)`,
        );
        if (peerFwd && !('error' in onnx.forward)) {
          summary.onnxFwd32OverPeerFwd32 = onnx.forward.bs32 / peerFwd.bs32;
          console.log(
            `${onnx.model} forward bs32 / peer forward bs32 (best variant): ${fmt(onnx.forward.bs32 / peerFwd.bs32, 2)}x (int8 ONNX vs fp32 torch)`,
          );
        }
      }
    }
    const seconds = (performance.now() - benchStart) / 1000;
    console.log(
      `notes: forward = Backbone.embed on pre-made random tensors after warm-up; e2e = extractFeatures into a fresh store (read + sha256 + decode + resize + normalize + forward + SQLite), model load excluded; files pre-read once (warm page cache); TF.js models on ${nTfjs} files, peer on ${nPeer}; forward figures are medians of 3 alternating rounds; peer uses random weights (timing only) with denormals flushed to zero (random weights make denormals that real weights do not). Bench took ${fmt(seconds, 0)} s.`,
    );

    const result = {
      date: new Date().toISOString(),
      node: process.version,
      platform: `${process.platform} ${process.arch}`,
      cpus: cpus().length,
      cpuModel: cpus()[0]?.model,
      totalMemMB: totalmem() / MB,
      dataset,
      images: files.length,
      tfjsImages: nTfjs,
      peerImages: nPeer,
      rows,
      skipped,
      peer: peers,
      summary,
      benchSeconds: seconds,
    };
    mkdirSync(dirname(outFile), { recursive: true });
    writeFileSync(outFile, JSON.stringify(result, null, 2) + '\n');
    console.log(`wrote ${relative(process.cwd(), outFile) || outFile}`);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err instanceof Error ? (err.stack ?? err.message) : err);
  process.exit(1);
});
