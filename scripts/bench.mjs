#!/usr/bin/env node
// `npm run bench`: extraction throughput (every backbone + the PyTorch peer), then training throughput per rung
// (ours + the PyTorch peer), then rung-1 head training beside PyTorch and its time-vs-vectors curve, each printing a
// table and writing bench-results/*.json. Arguments go to all.
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
process.env.TL_MODELS_DIR ||= resolve(root, '../shared/models');
const args = process.argv.slice(2);
for (const script of ['dist/bench/extract.js', 'dist/bench/train-throughput.js', 'dist/bench/head-train.js']) {
  console.log(`\n== ${script} ==`);
  const r = spawnSync(process.execPath, [resolve(root, script), ...args], { stdio: 'inherit', cwd: root });
  if (r.status !== 0) process.exit(r.status ?? 1);
}
