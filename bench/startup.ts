// Cold start of each `tl` command: a fresh `node dist/src/cli/main.js ...` process per run, as a script calling the
// CLI in a loop pays it. Wall seconds (best and median of --runs), CPU seconds (user+sys, best; steadier than wall on
// a shared machine) and the heavy packages the command loaded (scripts/trace-modules.mjs, one extra run). The first
// row, a bare `node -e 0`, is the floor any command pays on this machine at this load.
// Setup (not timed): a 12-image hymenoptera subset trained into an ONNX-backbone and a TF.js-backbone bundle.
// node dist/bench/startup.js [--runs 3] [--cpus 0,1] [--only predict]   → table + bench-results/startup.json
// --cpus pins every timed run to those cores with taskset (the issue's "2 cores"), when taskset exists.
import { spawnSync } from 'node:child_process';
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
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { benchArgs } from './args.js';

const args = benchArgs('npm run bench:startup -- [--runs 3] [--cpus 0,1] [--only predict]', {
  runs: '3',
  cpus: '',
  only: '',
});
const runs = Number(args.runs);
const pin = args.cpus;
const only = args.only;
// Runs from bench/ (tsx) or dist/bench/ (built): the package root is whichever parent holds package.json.
const root = [resolve(import.meta.dirname, '..'), resolve(import.meta.dirname, '../..')].find((d) =>
  existsSync(join(d, 'package.json')),
)!;
const cli = join(root, 'dist/src/cli/main.js');
const tracer = pathToFileURL(join(root, 'scripts/trace-modules.mjs')).href;
const HEAVY = ['@tensorflow/tfjs', 'onnxruntime-node', 'sharp', 'fastify', 'better-sqlite3', 'zod', 'extract-zip'];
const datasets = process.env.TL_DATASETS_DIR || resolve(root, '../shared/datasets');
process.env.TL_MODELS_DIR ||= resolve(root, '../shared/models');
process.env.TL_OFFLINE = '1';

const work = mkdtempSync(join(tmpdir(), 'tl-bench-startup-'));
const env = { ...process.env, TL_CACHE_DIR: join(work, 'cache') };
const hasTaskset = pin !== '' && spawnSync('taskset', ['--version']).status === 0;

interface Timed {
  wall: number;
  cpu: number;
}

/** One fresh CLI process (or, with `nodeArgs`, a plain node one); wall from here, CPU from bash's `times` (the child's user + sys). */
function runOnce(cliArgs: string[], extraEnv: Record<string, string> = {}, nodeArgs = [cli, ...cliArgs]): Timed {
  const timesFile = join(work, 'times.txt');
  const node = [...(hasTaskset ? ['taskset', '-c', pin] : []), process.execPath, ...nodeArgs];
  const script = '"$@" >/dev/null 2>"$TL_BENCH_ERR"; rc=$?; times >"$TL_BENCH_TIMES"; exit $rc';
  const t0 = performance.now();
  const r = spawnSync('bash', ['-c', script, 'bash', ...node], {
    env: { ...env, ...extraEnv, TL_BENCH_TIMES: timesFile, TL_BENCH_ERR: join(work, 'stderr.txt') },
    cwd: work,
  });
  const wall = (performance.now() - t0) / 1000;
  if (r.status !== 0)
    throw new Error(
      `tl ${cliArgs.join(' ')} exited ${r.status}: ${readFileSync(join(work, 'stderr.txt'), 'utf8').slice(-2000)}`,
    );
  // `times` prints the shell's user/sys, then its children's: "0m0.123s 0m0.045s".
  const children = readFileSync(timesFile, 'utf8').trim().split('\n')[1] ?? '';
  const cpu = children
    .split(/\s+/)
    .map((t) => /^(\d+)m([\d.]+)s$/.exec(t))
    .reduce((s, m) => s + (m ? Number(m[1]) * 60 + Number(m[2]) : 0), 0);
  return { wall, cpu };
}

/** The heavy npm packages one run of the command loads. */
function heavyLoaded(cliArgs: string[]): string[] {
  const list = join(work, 'modules.txt');
  rmSync(list, { force: true });
  runOnce(cliArgs, { TL_TRACE_MODULES: list, NODE_OPTIONS: `--import=${tracer}` });
  const text = readFileSync(list, 'utf8');
  return HEAVY.filter((p) => text.includes(`node_modules/${p}/`));
}

function tl(cliArgs: string[]): void {
  const r = spawnSync(process.execPath, [cli, ...cliArgs], { env, cwd: work, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`setup: tl ${cliArgs.join(' ')} failed: ${r.stderr}`);
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

// Setup: 6 images per class, one bundle per backbone runtime.
const hym = join(datasets, 'hymenoptera_data');
const mini = join(work, 'mini');
for (const cls of ['ants', 'bees']) {
  mkdirSync(join(mini, cls), { recursive: true });
  for (const f of readdirSync(join(hym, 'train', cls))
    .sort()
    .slice(0, 6))
    symlinkSync(join(hym, 'train', cls, f), join(mini, cls, f));
}
const photo = join(hym, 'val/ants', readdirSync(join(hym, 'val/ants')).sort()[0]);
const onnxBundle = join(work, 'onnx-bundle');
const tfjsBundle = join(work, 'tfjs-bundle');
console.log(
  `tl start-up bench: ${runs} cold run(s) per command${hasTaskset ? ` pinned to CPUs ${pin}` : ''}; ${cpus().length} CPU(s), load ${loadavg()[0].toFixed(1)}, node ${process.version}`,
);
process.stdout.write('setup: training an ONNX-backbone and a TF.js-backbone bundle on 12 images...');
tl(['train', mini, '--out', onnxBundle, '--model', 'mobilenet-v2', '--strategy', 'head']);
tl(['train', mini, '--out', tfjsBundle, '--model', 'mobilenet-v1-0.25', '--strategy', 'head']);
console.log(' done');

const commands: [string, string[]][] = [
  ['--version', ['--version']],
  ['--help', ['--help']],
  ['train --help', ['train', '--help']],
  ['models list', ['models', 'list']],
  ['models info mobilenet-v2', ['models', 'info', 'mobilenet-v2']],
  ['cache stats', ['cache', 'stats']],
  ['predict ONNX-BUNDLE photo', ['predict', onnxBundle, photo]],
  ['predict TFJS-BUNDLE photo', ['predict', tfjsBundle, photo]],
  ['classify photo (mobilenet-v2)', ['classify', photo]],
  ['embed photo (cached)', ['embed', photo]],
  ['eval ONNX-BUNDLE 12 images', ['eval', onnxBundle, mini]],
];

interface Row {
  command: string;
  wallBest: number;
  wallMedian: number;
  cpuBest: number;
  heavy: string[];
}
const rows: Row[] = [];
try {
  const floor = Array.from({ length: runs }, () => runOnce([], {}, ['-e', '0']));
  rows.push({
    command: 'node -e 0 (no tl: the floor)',
    wallBest: Math.min(...floor.map((x) => x.wall)),
    wallMedian: median(floor.map((x) => x.wall)),
    cpuBest: Math.min(...floor.map((x) => x.cpu)),
    heavy: [],
  });
  for (const [name, cliArgs] of commands.filter(([n]) => !only || n.includes(only))) {
    const t: Timed[] = [];
    for (let i = 0; i < runs; i++) t.push(runOnce(cliArgs));
    const walls = t.map((x) => x.wall);
    rows.push({
      command: `tl ${name}`,
      wallBest: Math.min(...walls),
      wallMedian: median(walls),
      cpuBest: Math.min(...t.map((x) => x.cpu)),
      heavy: heavyLoaded(cliArgs),
    });
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}

const header = ['command', 'wall best (s)', 'wall median (s)', 'CPU best (s)', 'heavy packages loaded'];
const cells = rows.map((r) => [
  r.command,
  r.wallBest.toFixed(2),
  r.wallMedian.toFixed(2),
  r.cpuBest.toFixed(2),
  r.heavy.join(', ') || '-',
]);
const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
const line = (c: string[]) =>
  c.map((x, i) => (i === 0 || i === 4 ? x.padEnd(widths[i]) : x.padStart(widths[i]))).join('  ');
console.log(['', line(header), line(widths.map((w) => '-'.repeat(w))), ...cells.map(line)].join('\n'));
const result = {
  date: new Date().toISOString(),
  node: process.version,
  cpus: cpus().length,
  cpuModel: cpus()[0]?.model,
  pinnedTo: hasTaskset ? pin : null,
  loadAverageAtEnd: loadavg()[0],
  runs,
  rows,
};
mkdirSync(join(root, 'bench-results'), { recursive: true });
writeFileSync(join(root, 'bench-results/startup.json'), JSON.stringify(result, null, 2) + '\n');
console.log(`\n${JSON.stringify(result)}`);
