// Start-up cost of the CLI: each command loads only what it needs. `tl --version` and `tl --help` load none of the
// heavy packages (tfjs, ONNX Runtime, sharp, Fastify, SQLite, zod), and `tl predict` of an ONNX bundle loads ONNX
// Runtime and sharp but neither tfjs nor Fastify. Checked by recording every module the built CLI loads
// (scripts/trace-modules.mjs), not by timing, so it holds on a busy machine; bench/startup.ts measures the seconds.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { cleanup, DATASETS_DIR, DOG, linkSubset, ROOT, runCli, tempDir } from '../helpers.js';
import { VERSION } from '../../src/util/version.js';

const TRACER = pathToFileURL(resolve(ROOT, 'scripts/trace-modules.mjs')).href;
const HEAVY = [
  '@tensorflow/tfjs',
  '@tensorflow/tfjs-backend-wasm',
  'onnxruntime-node',
  'fastify',
  'sharp',
  'better-sqlite3',
  'zod',
  'onnx-proto',
  'extract-zip',
  // the GPU path (issue 16): only --device webgpu/auto loads it
  'webgpu',
  '@tensorflow/tfjs-backend-webgpu',
];

let tmp: string;
let cacheDir: string;
before(async () => {
  tmp = await tempDir('tl-cli-startup-');
  cacheDir = join(tmp, 'cache');
});
after(async () => {
  await cleanup(tmp);
});

/** The npm packages a module list names (the innermost node_modules/<package> of each path). */
function packagesIn(modules: string[]): Set<string> {
  const out = new Set<string>();
  for (const m of modules) {
    const all = [...m.matchAll(/node_modules\/((?:@[^/]+\/)?[^/]+)/g)];
    if (all.length) out.add(all[all.length - 1][1]);
  }
  return out;
}

let traceCount = 0;
/** Run the built CLI with the module tracer; its result plus the packages it loaded. */
async function tracedTl(args: string[]) {
  const list = join(tmp, `modules-${traceCount++}.txt`);
  const r = await runCli(args, {
    cacheDir,
    cwd: tmp,
    env: { TL_TRACE_MODULES: list, NODE_OPTIONS: `--import=${TRACER}` },
    timeoutMs: 120_000,
  });
  const modules = (await readFile(list, 'utf8').catch(() => '')).split('\n').filter(Boolean);
  await rm(list, { force: true });
  return { ...r, modules, packages: packagesIn(modules) };
}

function assertNoneLoaded(packages: Set<string>, forbidden: string[], what: string): void {
  const loaded = forbidden.filter((p) => packages.has(p));
  assert.deepEqual(
    loaded,
    [],
    `${what} loaded ${loaded.join(', ')} (load them inside the command's action, with await import(...))`,
  );
}

describe('tl start-up loads only what the command needs', () => {
  test('--version prints the version and loads no heavy package', async () => {
    const r = await tracedTl(['--version']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), VERSION);
    assert.ok(
      r.packages.has('commander'),
      `the tracer saw the CLI load (got: ${[...r.packages].join(', ') || 'nothing'})`,
    );
    assertNoneLoaded(r.packages, HEAVY, 'tl --version');
  });

  for (const args of [['--help'], ['train', '--help'], ['predict', '--help'], ['cache', '--help']]) {
    test(`${args.join(' ')} lists the commands and options without loading a heavy package`, async () => {
      const r = await tracedTl(args);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^Usage: tl /);
      assertNoneLoaded(r.packages, HEAVY, `tl ${args.join(' ')}`);
    });
  }

  test('models list loads the registry but no runtime, image decoder or server', async () => {
    const r = await tracedTl(['models', 'list']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /mobilenet-v2 \(default\)/);
    assertNoneLoaded(
      r.packages,
      ['@tensorflow/tfjs', 'onnxruntime-node', 'sharp', 'fastify', 'better-sqlite3'],
      'tl models list',
    );
  });

  test('predict with an ONNX-backbone bundle loads ONNX Runtime and sharp, never tfjs or Fastify', async () => {
    const data = join(tmp, 'hym-mini');
    await linkSubset(join(DATASETS_DIR, 'hymenoptera_data/train'), data, 6);
    const bundle = join(tmp, 'hym-onnx');
    const trained = await runCli(
      ['train', data, '--out', bundle, '--model', 'mobilenet-v2', '--strategy', 'head', '--json'],
      { cacheDir, cwd: tmp, timeoutMs: 240_000 },
    );
    assert.equal(trained.code, 0, trained.stderr);

    const r = await tracedTl(['predict', bundle, DOG, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const [p] = JSON.parse(r.stdout) as { path: string; top: { label: string }[] }[];
    assert.equal(p.path, DOG);
    assert.deepEqual(p.top.map((t) => t.label).sort(), ['ants', 'bees']);
    for (const needed of ['onnxruntime-node', 'sharp'])
      assert.ok(r.packages.has(needed), `predict ran the backbone through ${needed}`);
    assertNoneLoaded(
      r.packages,
      ['@tensorflow/tfjs', '@tensorflow/tfjs-backend-wasm', 'fastify', '@fastify/static', '@fastify/multipart'],
      'tl predict (ONNX bundle)',
    );
  });
});
