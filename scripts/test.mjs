#!/usr/bin/env node
// The test command (`npm test`): tsc, lint, and node's own test runner over test/*.test.ts and one level of groups
// below (test/unit: no models; test/integration: real models and photos from ../shared; test/faults: fault injection),
// loaded through tsx. Arguments name test files or group folders (`npm run test:unit` = `node scripts/test.mjs test/unit`).
// Models and datasets default to ../shared beside the checkout, as on CI; the darknet test photos are fetched once.
// `--no-lint` skips ESLint and Prettier (a quick re-run of a few files while timing or fixing them; tsc still runs,
// since the CLI tests spawn its output). The run ends with the slowest test files (scripts/test-durations.mjs).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, openSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');

// ESLint and Prettier's layout (`npm run lint`, `npm run format:check`) run beside the build and the tests (about
// 25 s of one core that the tests, at ~1.2 cores busy, leave free); their output is printed after the tests', and
// violations fail the run at the end.
// CHECK_FORMAT: the whole tree is in Prettier's layout (`npm run format` fixes it).
const CHECK_FORMAT = true;
const args = process.argv.slice(2);
const skipLint = args.includes('--no-lint');
const lintLog = join(tmpdir(), `tl-test-lint-${process.pid}.log`);
let lint;
const linting = skipLint
  ? Promise.resolve(0)
  : new Promise((resolveLint) => {
      const out = openSync(lintLog, 'w');
      lint = spawn(process.execPath, [resolve(root, 'scripts/lint.mjs'), ...(CHECK_FORMAT ? ['--format'] : [])], {
        stdio: ['ignore', out, out],
        cwd: root,
      });
      lint.on('error', () => resolveLint(1));
      lint.on('close', (code) => resolveLint(code ?? 1));
    });

// The CLI tests spawn the built CLI (dist/src/cli/main.js): build first so they never run stale JavaScript.
// tsc emits even when it reports type errors; those fail the run at the end (after the tests), not silently.
const built = spawnSync(process.execPath, [resolve(root, 'node_modules/typescript/bin/tsc'), '-p', '.'], {
  stdio: 'inherit',
  cwd: root,
});
if (built.error || !existsSync(resolve(root, 'dist/src/cli/main.js'))) {
  console.error('build failed: dist/src/cli/main.js was not produced');
  lint?.kill();
  process.exit(1);
}
const typeErrors = built.status !== 0;
if (typeErrors)
  console.error('warning: tsc reported type errors (above); the tests run against the emitted JavaScript');

process.env.TL_MODELS_DIR ||= resolve(root, '../shared/models');
process.env.TL_DATASETS_DIR ||= resolve(root, '../shared/datasets');
process.env.TL_OFFLINE = '1'; // a test never touches the network

const fetched = spawnSync('bash', [resolve(root, 'scripts/fetch-test-photos.sh')], { stdio: 'inherit' });
if (fetched.status !== 0) {
  lint?.kill();
  process.exit(fetched.status ?? 1);
}

const only = args.filter((a) => a !== '--no-lint');
// test/*.test.ts and one level of groups below it (test/faults/: the fault-injection suite).
const testFiles = (dir) =>
  readdirSync(resolve(root, dir), { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() && dir === 'test'
      ? testFiles(`${dir}/${e.name}`)
      : e.name.endsWith('.test.ts')
        ? [`${dir}/${e.name}`]
        : [],
  );
const files = only.length
  ? only.flatMap((a) => (statSync(resolve(root, a)).isDirectory() ? testFiles(a.replace(/\/$/, '')).sort() : [a]))
  : testFiles('test').sort();
// The usual reporter (node's default: spec on a terminal, TAP otherwise) plus the per-file durations at the end.
const reporters = [
  `--test-reporter=${process.stdout.isTTY ? 'spec' : 'tap'}`,
  '--test-reporter-destination=stdout',
  `--test-reporter=${resolve(root, 'scripts/test-durations.mjs')}`,
  '--test-reporter-destination=stdout',
];
// The other files run one at a time unless TL_TEST_CONCURRENCY says otherwise: on the shared 2-core machine two at a
// time took test/faults 281 s instead of 307 s (all passing), too small a gain to risk two fine-tuning files' memory
// at once. Files that time nothing and hold no big heap run first, two at a time: most of their wall is their own start-up
// (tsx, imports), CLI child processes and waits, on one core. Alone under the heavy lock the 16 CLI and fault files
// below took 162 s one at a time and 117 s two at a time (all passing). test/unit files pair unless UNIT_ALONE names
// them (they time probes or train); any other file runs one at a time unless it is added here after the same check.
const PAIRED = new Set([
  // Longest first (seconds alone, quiet machine), so that the last to finish is not a long one beside an idle core.
  'test/faults/bundle-kill-save.test.ts', // 36
  'test/integration/cli-basics.test.ts', // 19
  'test/faults/bundle-out-dir.test.ts', // 18
  'test/faults/cache-damaged.test.ts', // 16
  'test/faults/cache-readonly.test.ts', // 13
  'test/faults/cache-full.test.ts', // 10
  'test/faults/preprocess-crop.test.ts', // 10
  'test/faults/args-symlinks.test.ts', // 8
  'test/integration/cli-startup.test.ts', // 6
  'test/integration/zoo.test.ts', // 4
  'test/integration/dataset.test.ts', // 4
  'test/faults/dataset-counts.test.ts',
  'test/faults/dataset-csv.test.ts',
  'test/faults/cache-encoding.test.ts',
  'test/faults/serve-host-check.test.ts',
  'test/faults/npm-config.test.ts',
]);
const UNIT_ALONE = new Set([
  'test/unit/one-of-each.test.ts', // trains through the library's default (auto: probes + a real model)
  'test/unit/plan-full-epoch.test.ts', // probes whole-network steps on a real model, over the training threads
  'test/unit/train-head-cost.test.ts', // times the head-fit probes
]);
const paired = [
  ...[...PAIRED].filter((f) => files.includes(f)),
  ...files.filter((f) => f.startsWith('test/unit/') && !UNIT_ALONE.has(f)),
];
const lanes = [
  { files: paired, concurrency: 2 },
  { files: files.filter((f) => !paired.includes(f)), concurrency: process.env.TL_TEST_CONCURRENCY || 1 },
].filter((lane) => lane.files.length);
const started = Date.now();
let status = 0;
for (const lane of lanes) {
  console.log(`tests: ${lane.files.length} files, ${lane.concurrency} at a time`);
  const r = spawnSync(
    process.execPath,
    ['--import', 'tsx', '--test', `--test-concurrency=${lane.concurrency}`, ...reporters, ...lane.files],
    { stdio: 'inherit', cwd: root },
  );
  status ||= r.status ?? 1;
}
console.log(`tests: ${files.length} files in ${((Date.now() - started) / 1000).toFixed(0)} s of wall`);
const lintErrors = (await linting) !== 0;
if (!skipLint) {
  process.stdout.write(`lint (ran beside the tests):\n${readFileSync(lintLog, 'utf8')}`);
  rmSync(lintLog, { force: true });
}
if (typeErrors) console.error('failing: tsc reported type errors (see the top of this log)');
if (lintErrors) console.error('failing: lint reported problems (printed above; `npm run lint` alone)');
process.exit(typeErrors || lintErrors ? 1 : status);
