// Rung-1 head training: throughput beside PyTorch (same model, same rows) and the time/memory curve of the whole
// head fit (5-fold L2 search + final fit) against the number of vectors. Features are real: the training split of a
// dataset through the feature cache (extracted once if the cache is cold); the curve's larger sizes are synthetic
// vectors drawn from them (a real row plus Gaussian noise, 0.3 std in standardized units).
// npm run bench:head-train -- [--data ../shared/datasets/eurosat] [--sizes 1000,5000,20000,50000] [--no-torch]
//   [--threads 2] [--hidden 256] [--stream [--memory-mb MB] [--final-max-iter N]]   → bench-results/head-train.json
// --stream: each curve point runs rung 1's streamed fit (training/head-streamed.ts: float16 spill file, L2 on a sample
// that fits TL_HEAD_MEMORY_MB or --memory-mb, the final fit streamed over all rows); its synthetic rows are made on the
// fly as the spill file is written, so no point holds its vectors in memory (peak RSS is the fit's own).
// --final-max-iter N caps the final fit's L-BFGS iterations (to time a few passes over a size too big to finish).
// --compare-sets all|a,b,..: instead, rung 1 in memory against rung 1 streamed (TL_HEAD_MEMORY_MB=0) through
// trainClassifier on the shared sets' cached features: val accuracy and L2 of each → bench-results/head-stream-sets.json
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Rng } from '../src/util/random.js';
import { fitStandardizer, applyStandardizerAll } from '../src/solvers/standardize.js';
import { flattenRows, softmaxObjective } from '../src/solvers/softmax-regression.js';
import { selectL2 } from '../src/solvers/select-l2.js';
import { trainMlpHead } from '../src/solvers/mlp-head.js';
import { trainSoftmaxFast, wasmBackend, wasmSoftmaxObjective } from '../src/solvers/wasm-objective.js';
import { benchArgs, list } from './args.js';

const args = benchArgs(
  'npm run bench:head-train -- [--data DIR] [--sizes 1000,5000,20000,50000] [--no-torch] [--threads 2] [--hidden 256] [--stream [--memory-mb MB] [--final-max-iter N]] [--compare-sets all|a,b]',
  // --curve-point N --rows FILE: the child process of one curve point.
  {
    data: undefined,
    sizes: '1000,5000,20000,50000',
    threads: '2',
    hidden: '256',
    'curve-point': undefined,
    rows: undefined,
    'memory-mb': undefined,
    'final-max-iter': undefined,
    'compare-sets': undefined,
  },
  ['no-torch', 'stream'],
);
const root = [resolve(import.meta.dirname, '..'), resolve(import.meta.dirname, '../..')].find((d) =>
  existsSync(join(d, 'package.json')),
)!;
const threads = Number(args.threads);
const hidden = Number(args.hidden);
const mb = (bytes: number) => Math.round(bytes / 2 ** 20);

/**
 * One point of the streamed curve: the rows (a real row, or one plus noise) are made as the spill file is written and
 * never held; the labels (4 bytes a row) are.
 */
async function streamedCurvePoint(n: number, file: string): Promise<void> {
  const { fitSoftmaxHeadStreamed, headMemoryPlan } = await import('../src/training/head-streamed.js');
  const { env } = await import('../src/util/env.js');
  if (args['memory-mb'] !== undefined) env.headMemoryMB = Number(args['memory-mb']);
  const { X, y, K, d } = readRows(file);
  const pick = new Rng(n);
  const source = Int32Array.from({ length: n }, (_, i) => (i < X.length ? i : pick.int(X.length)));
  const labels = Int32Array.from(source, (s) => y[s]);
  function* rows(): Generator<Float32Array> {
    const noise = new Rng(n + 1);
    const row = new Float32Array(d);
    for (let i = 0; i < n; i++) {
      const src = X[source[i]];
      if (i < X.length) yield src;
      else {
        for (let j = 0; j < d; j++) row[j] = src[j] + 0.3 * noise.normal();
        yield row;
      }
    }
  }
  const plan = headMemoryPlan(n, d);
  const t0 = performance.now();
  const maxIter = args['final-max-iter'] === undefined ? undefined : Number(args['final-max-iter']);
  const fit = await fitSoftmaxHeadStreamed(rows(), d, labels, K, { seed: 0, searchRows: plan.searchRows, maxIter });
  const totalSeconds = (performance.now() - t0) / 1000;
  const u = process.cpuUsage();
  console.log(
    JSON.stringify({
      n,
      d,
      K,
      streamed: true,
      memoryMB: env.headMemoryMB,
      searchRows: plan.searchRows,
      best: fit.l2,
      l2Walked: fit.selection?.curve.length ?? 0,
      spillSeconds: fit.seconds.spill,
      standardizeSeconds: fit.seconds.standardize,
      searchSeconds: fit.seconds.search,
      finalSeconds: fit.seconds.final,
      totalSeconds,
      cpuSeconds: (u.user + u.system) / 1e6,
      finalIterations: fit.model.iterations,
      passes: fit.model.passes,
      secondsPerPass: fit.model.passSeconds / Math.max(1, fit.model.passes),
      cpuSecondsPerPass: fit.model.passCpuSeconds / Math.max(1, fit.model.passes),
      converged: fit.model.converged,
      spillMB: mb(fit.spillBytes),
      peakRssMB: mb(process.resourceUsage().maxRSS * 1024),
    }),
  );
}

/** One point of the size curve, in a child process of its own so its peak memory is its own. */
async function curvePoint(n: number, file: string): Promise<void> {
  const { X, y, K, d } = readRows(file);
  const rng = new Rng(n);
  const rows: Float32Array[] = [];
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const src = i < X.length ? i : rng.int(X.length);
    labels[i] = y[src];
    rows.push(i < X.length ? X[src] : Float32Array.from(X[src], (v) => v + 0.3 * rng.normal()));
  }
  const cpu = () => {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1e6;
  };
  const [t0, c0] = [performance.now(), cpu()];
  const selection = await selectL2(rows, labels, K, { seed: 0, parallel: threads });
  const [t1, c1] = [performance.now(), cpu()];
  const fit = await trainSoftmaxFast(rows, labels, K, { l2: selection.best, init: selection.warmStart });
  const [t2, c2] = [performance.now(), cpu()];
  const fits = selection.curve.length;
  const torch = args['no-torch'] ? undefined : torchFit(rows, labels, K, selection.best);
  // CPU seconds (all threads) beside wall: on a shared machine the wall time measures the other users too.
  console.log(
    JSON.stringify({
      n,
      d,
      K,
      best: selection.best,
      l2Walked: fits,
      searchSeconds: (t1 - t0) / 1000,
      finalSeconds: (t2 - t1) / 1000,
      totalSeconds: (t2 - t0) / 1000,
      searchCpuSeconds: c1 - c0,
      finalCpuSeconds: c2 - c1,
      finalIterations: fit.iterations,
      peakRssMB: mb(process.resourceUsage().maxRSS * 1024),
      torchFinalSeconds: torch?.softmaxFitSeconds,
      torchFinalEvaluations: torch?.softmaxFitEvaluations,
      torchError: torch?.error,
    }),
  );
}

/**
 * PyTorch's full fit of the same rows at the same l2 (torch.optim.LBFGS to 1e-5, from zero, Float64): the peer of the
 * curve's final fit (PyTorch has no L2 search of its own). Runs after tl's timings, so the two never share the cores.
 */
function torchFit(
  rows: Float32Array[],
  labels: Int32Array,
  K: number,
  l2: number,
): { softmaxFitSeconds?: number; softmaxFitEvaluations?: number; error?: string } {
  const file = join(tmpdir(), `tl-head-bench-point-${process.pid}`);
  writeFileSync(`${file}.x`, flattenRows(rows).data);
  writeFileSync(`${file}.y`, labels);
  try {
    const py = spawnSync(
      '/usr/bin/python3',
      [
        join(root, 'bench/peer_torch_head.py'),
        `x=${file}.x`,
        `y=${file}.y`,
        `n=${rows.length}`,
        `d=${rows[0].length}`,
        `k=${K}`,
        `threads=${threads}`,
        `l2=${l2}`,
        'fit_only=1',
      ],
      { encoding: 'utf8' },
    );
    return py.status === 0
      ? (JSON.parse(py.stdout.trim().split('\n').at(-1)!) as {
          softmaxFitSeconds: number;
          softmaxFitEvaluations: number;
          error?: string;
        })
      : { error: py.stderr.slice(-300) };
  } finally {
    for (const ext of ['x', 'y']) spawnSync('rm', ['-f', `${file}.${ext}`]);
  }
}

function readRows(file: string) {
  const meta = JSON.parse(readFileSync(`${file}.json`, 'utf8')) as { n: number; d: number; K: number };
  const buf = readFileSync(`${file}.x`);
  const flat = new Float32Array(buf.buffer, buf.byteOffset, meta.n * meta.d);
  const X = Array.from({ length: meta.n }, (_, i) => flat.slice(i * meta.d, (i + 1) * meta.d));
  const yb = readFileSync(`${file}.y`);
  return { ...meta, X, y: new Int32Array(yb.buffer.slice(yb.byteOffset, yb.byteOffset + meta.n * 4)) };
}

async function realFeatures(data: string) {
  const { loadDataset } = await import('../src/data/dataset.js');
  const { loadBackbone } = await import('../src/backbone/load.js');
  const { FeatureStore } = await import('../src/features/store.js');
  const { extractLabelled } = await import('../src/training/labelled-features.js');
  const dataset = loadDataset(data, { seed: 0 });
  const backbone = await loadBackbone('mobilenet-v2', {});
  const store = FeatureStore.open();
  try {
    const train = await extractLabelled(backbone, store, dataset.train, dataset.classes, 'train', () => {}, {});
    return {
      X: applyStandardizerAll(train.features, fitStandardizer(train.features)),
      y: train.labels,
      K: dataset.classes.length,
    };
  } finally {
    store.close();
    await backbone.dispose();
  }
}

function timeIt(f: () => void): number {
  const t0 = performance.now();
  f();
  return (performance.now() - t0) / 1000;
}

/** The seven shared sets (../shared/datasets), each trained in memory and streamed. */
async function compareSets(which: string): Promise<void> {
  const { trainClassifier } = await import('../src/training/train.js');
  const { env } = await import('../src/util/env.js');
  const datasets = resolve(root, '../shared/datasets');
  const all = [
    'hymenoptera_data',
    'cats_and_dogs_filtered',
    'imagenette',
    'imagewoof',
    'eurosat',
    'tf_flowers5',
    'pbc_bloodcells8',
  ];
  const sets = which === 'all' ? all : list(which);
  const rows: Record<string, unknown>[] = [];
  const run = async (set: string, memoryMB: number | undefined) => {
    env.headMemoryMB = memoryMB;
    try {
      const t0 = performance.now();
      const r = await trainClassifier(join(datasets, set), { strategy: 'head', model: 'mobilenet-v2', seed: 0 });
      await r.classifier.dispose();
      const c = r.config as { l2: number; trainImages: number; splits?: { decisions?: { images?: number } } };
      return {
        accuracy: r.metrics.accuracy,
        l2: c.l2,
        searchRows: r.selection?.heldOutLogits ? r.selection.heldOutLogits.length / r.dataset.classes.length : 0,
        trainImages: c.trainImages,
        seconds: (performance.now() - t0) / 1000,
      };
    } finally {
      env.headMemoryMB = undefined;
    }
  };
  console.log(
    `${'set'.padEnd(24)} ${'train'.padStart(6)} ${'acc mem'.padStart(8)} ${'acc str'.padStart(8)} ${'diff pt'.padStart(8)} ${'l2 mem'.padStart(8)} ${'l2 str'.padStart(8)} ${'search'.padStart(7)} ${'s mem'.padStart(6)} ${'s str'.padStart(6)}`,
  );
  for (const set of sets) {
    const memory = await run(set, undefined);
    const streamed = await run(set, 0);
    const diff = 100 * (streamed.accuracy - memory.accuracy);
    rows.push({ set, memory, streamed, diffPoints: diff });
    console.log(
      `${set.padEnd(24)} ${String(memory.trainImages).padStart(6)} ${(100 * memory.accuracy).toFixed(2).padStart(8)} ${(100 * streamed.accuracy).toFixed(2).padStart(8)} ${diff.toFixed(2).padStart(8)} ${memory.l2.toPrecision(3).padStart(8)} ${streamed.l2.toPrecision(3).padStart(8)} ${String(streamed.searchRows).padStart(7)} ${memory.seconds.toFixed(0).padStart(6)} ${streamed.seconds.toFixed(0).padStart(6)}`,
    );
  }
  await mkdir(join(root, 'bench-results'), { recursive: true });
  await writeFile(
    join(root, 'bench-results/head-stream-sets.json'),
    JSON.stringify({ when: new Date().toISOString(), loadavg: loadavg(), rows }, null, 2) + '\n',
  );
}

if (args['compare-sets'] !== undefined) {
  await compareSets(args['compare-sets']);
} else if (args['curve-point'] !== undefined) {
  if (args.stream) await streamedCurvePoint(Number(args['curve-point']), args.rows!);
  else await curvePoint(Number(args['curve-point']), args.rows!);
} else {
  const load0 = loadavg()[0];
  const data = resolve(args.data ?? join(root, '../shared/datasets/eurosat'));
  console.error(`features: ${data} (mobilenet-v2, through the cache)`);
  const { X, y, K } = await realFeatures(data);
  const n = X.length;
  const d = X[0].length;
  const file = join(tmpdir(), `tl-head-bench-${process.pid}`);
  writeFileSync(`${file}.json`, JSON.stringify({ n, d, K }));
  writeFileSync(`${file}.x`, flattenRows(X).data);
  writeFileSync(`${file}.y`, y);

  // Throughput on the same rows: full-batch gradient evaluations (L-BFGS's unit of work), a full fit, an mlp epoch.
  const ours: Record<string, number> = {};
  const evals = 10;
  const f = softmaxObjective(flattenRows(X), y, K, 1);
  const theta = new Float64Array(K * d + K);
  const grad = new Float64Array(theta.length);
  f(theta, grad);
  ours.softmaxGradSamplesPerS =
    (n * evals) /
    timeIt(() => {
      for (let i = 0; i < evals; i++) f(theta, grad);
    });
  // The kernel the L2 search and the final fit run on (wasm-objective.ts): rows resident, XNNPACK products.
  const tf = await wasmBackend();
  if (tf) {
    const kernel = wasmSoftmaxObjective(tf, flattenRows(X), y, K);
    const fw = kernel.objective(1);
    for (let i = 0; i < 3; i++) fw(theta, grad);
    ours.softmaxWasmGradSamplesPerS =
      (n * evals) /
      timeIt(() => {
        for (let i = 0; i < evals; i++) fw(theta, grad);
      });
    kernel.dispose();
  }
  let fitEvals = 0;
  const t0 = performance.now();
  fitEvals = (await trainSoftmaxFast(X, y, K, { l2: 1 })).evaluations;
  ours.softmaxFitSeconds = (performance.now() - t0) / 1000;
  ours.softmaxFitEvaluations = fitEvals;
  ours.mlpSamplesPerS = n / timeIt(() => trainMlpHead(X, y, K, { hidden, epochs: 1, seed: 0 }));
  console.error(
    `tl softmax: ${ours.softmaxGradSamplesPerS.toFixed(0)} samples/s (gradient), fit ${ours.softmaxFitSeconds.toFixed(2)} s / ${fitEvals} evals; mlp(${hidden}): ${ours.mlpSamplesPerS.toFixed(0)} samples/s`,
  );
  const py = args['no-torch']
    ? { status: 1, stdout: '', stderr: 'skipped (--no-torch)' }
    : spawnSync(
        '/usr/bin/python3',
        [
          join(root, 'bench/peer_torch_head.py'),
          `x=${file}.x`,
          `y=${file}.y`,
          `n=${n}`,
          `d=${d}`,
          `k=${K}`,
          `threads=${threads}`,
          `hidden=${hidden}`,
          `evals=${evals}`,
        ],
        { encoding: 'utf8' },
      );
  const torch = py.status === 0 ? JSON.parse(py.stdout.trim().split('\n').at(-1)!) : { error: py.stderr.slice(-500) };

  const curve: Record<string, number>[] = [];
  for (const size of list(args.sizes).map(Number)) {
    const r = spawnSync(
      process.execPath,
      [
        ...process.execArgv,
        process.argv[1],
        '--curve-point',
        String(size),
        '--rows',
        file,
        '--threads',
        String(threads),
        ...(args['no-torch'] ? ['--no-torch'] : []),
        ...(args.stream ? ['--stream'] : []),
        ...(args['memory-mb'] !== undefined ? ['--memory-mb', args['memory-mb']] : []),
        ...(args['final-max-iter'] !== undefined ? ['--final-max-iter', args['final-max-iter']] : []),
      ],
      { encoding: 'utf8', cwd: root },
    );
    const point =
      r.status === 0 ? JSON.parse(r.stdout.trim().split('\n').at(-1)!) : { n: size, error: r.stderr.slice(-300) };
    curve.push(point);
    if (point.streamed) {
      console.error(
        `streamed n=${size}: ${point.totalSeconds.toFixed(1)} s (spill ${point.spillSeconds.toFixed(1)} + standardize ${point.standardizeSeconds.toFixed(1)} + search on ${point.searchRows} rows ${point.searchSeconds.toFixed(1)} + final ${point.finalSeconds.toFixed(1)}: ${point.passes} passes of ${point.secondsPerPass.toFixed(2)} s, ${point.cpuSecondsPerPass?.toFixed(2)} CPU-s), peak ${point.peakRssMB} MB, l2 ${point.best}`,
      );
      continue;
    }
    console.error(
      `curve n=${size}: ${point.error ?? `${point.totalSeconds.toFixed(1)} s (search ${point.searchSeconds.toFixed(1)} + final ${point.finalSeconds.toFixed(1)}), peak ${point.peakRssMB} MB, l2 ${point.best}; PyTorch fit ${point.torchFinalSeconds?.toFixed(1) ?? point.torchError ?? '-'} s`}`,
    );
  }
  for (const ext of ['json', 'x', 'y']) spawnSync('rm', ['-f', `${file}.${ext}`]);

  const row = (name: string, a?: number, b?: number) =>
    console.log(
      `${name.padEnd(34)} ${a === undefined ? '-' : a.toFixed(0).padStart(10)} ${b === undefined ? '-' : b.toFixed(0).padStart(10)}`,
    );
  console.log(
    `\nhead training on ${n} x ${d} rows, ${K} classes, ${threads} threads (samples/s)\n${''.padEnd(34)} ${'tl'.padStart(10)} ${'pytorch'.padStart(10)}`,
  );
  row('softmax, full-batch gradient (JS f64)', ours.softmaxGradSamplesPerS, torch.softmaxGradSamplesPerS);
  row('softmax, full-batch gradient (wasm)', ours.softmaxWasmGradSamplesPerS, torch.softmaxGradSamplesPerS);
  row(
    'softmax, fit to 1e-5 (samples x evals / s)',
    (n * ours.softmaxFitEvaluations) / ours.softmaxFitSeconds,
    torch.softmaxFitSeconds && (n * torch.softmaxFitEvaluations) / torch.softmaxFitSeconds,
  );
  row(`mlp ${hidden} hidden, Adam batch 32`, ours.mlpSamplesPerS, torch.mlpSamplesPerS);
  console.log(
    `\nrung-1 head fit (5-fold L2 search + final fit) against vectors (above ${n}: synthetic, a real row + noise)\n${'vectors'.padStart(8)} ${'search s'.padStart(9)} ${'final s'.padStart(8)} ${'total s'.padStart(8)} ${'peak MB'.padStart(8)} ${'l2'.padStart(7)} ${'torch fit s'.padStart(12)}`,
  );
  for (const p of curve)
    console.log(
      p.error
        ? `${String(p.n).padStart(8)} failed`
        : `${String(p.n).padStart(8)} ${p.searchSeconds.toFixed(1).padStart(9)} ${p.finalSeconds.toFixed(1).padStart(8)} ${p.totalSeconds.toFixed(1).padStart(8)} ${String(p.peakRssMB).padStart(8)} ${p.best.toPrecision(2).padStart(7)} ${(p.torchFinalSeconds === undefined ? '-' : p.torchFinalSeconds.toFixed(1)).padStart(12)}`,
    );
  const result = {
    when: new Date().toISOString(),
    uptime: spawnSync('uptime', { encoding: 'utf8' }).stdout.trim(),
    loadavgStart: load0,
    loadavgEnd: loadavg()[0],
    data,
    n,
    d,
    K,
    threads,
    tl: ours,
    torch,
    curve,
  };
  await mkdir(join(root, 'bench-results'), { recursive: true });
  await writeFile(join(root, 'bench-results/head-train.json'), JSON.stringify(result, null, 2) + '\n');
}
