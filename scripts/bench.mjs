#!/usr/bin/env node
// The one way to launch a benchmark: `npm run bench:<name> -- ARGS` = `node scripts/bench.mjs <name> ARGS`, which
// builds (tsc, so dist/ is never stale) and runs dist/bench/<name>.js with ARGS (bench/args.ts parses them; --help
// lists them). `npm run bench` alone: extraction throughput, then training throughput per rung, then rung-1 head
// training and its time-vs-vectors curve (each beside its PyTorch peer), arguments to all. Results: a table on
// stdout and bench-results/<name>.json.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
process.env.TL_MODELS_DIR ||= resolve(root, '../shared/models');
process.env.TL_DATASETS_DIR ||= resolve(root, '../shared/datasets');
const DEFAULT_SUITE = ['extract', 'train-throughput', 'head-train'];

// Modules the benchmarks share, not benchmarks themselves.
const HELPERS = ['args.ts', 'models.ts'];
const benches = readdirSync(resolve(root, 'bench'))
  .filter((f) => f.endsWith('.ts') && !HELPERS.includes(f))
  .map((f) => f.slice(0, -3));
const [first, ...rest] = process.argv.slice(2);
const named = first !== undefined && !first.startsWith('-');
if (named && !benches.includes(first)) {
  console.error(`no benchmark "${first}"; there are: ${benches.join(', ')}`);
  process.exit(2);
}
const names = named ? [first] : DEFAULT_SUITE;
const args = named ? rest : process.argv.slice(2);

const built = spawnSync(process.execPath, [resolve(root, 'node_modules/typescript/bin/tsc'), '-p', '.'], {
  stdio: 'inherit',
  cwd: root,
});
if (built.status !== 0) console.error('warning: tsc reported type errors (above); running the emitted JavaScript');
for (const name of names) {
  const script = resolve(root, `dist/bench/${name}.js`);
  if (!existsSync(script)) {
    console.error(`build failed: ${script} was not produced`);
    process.exit(1);
  }
  if (names.length > 1) console.log(`\n== ${name} ==`);
  const r = spawnSync(process.execPath, [script, ...args], { stdio: 'inherit', cwd: root });
  if (r.status !== 0) process.exit(r.status ?? 1);
}
