// `npm run bench` offline with zoo models that are not on disk: it printed a stack trace for each of the three child
// measurements of every missing model (21 traces for the 7 models ../shared lacks) and a row of dashes for each. Now
// each missing model is one line and stays out of the table; the bench still ends well and writes its results.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { findModel } from '../../src/backbone/registry.js';
import { locateModel } from '../../src/backbone/resolve.js';
import { cleanup, collect, DATASETS_DIR, MODELS_DIR, ROOT, stackLines, tempDir } from '../helpers.ts';

const dirs: string[] = [];
after(() => cleanup(...dirs));

const MISSING = ['resnet152', 'resnet18-v2'];

test('bench:extract offline: one "skipped" line per model not on disk, no stack trace, no row for it', async () => {
  const dir = await tempDir('tl-bench-offline-');
  dirs.push(dir);
  for (const id of MISSING) assert.equal(locateModel(findModel(id)), undefined, `${id} is not on disk here`);
  const out = join(dir, 'extract.json');
  const child = spawn(
    process.execPath,
    [join(ROOT, 'dist/bench/extract.js'), '--models', MISSING.join(','), '--no-peer', '--images', '2', '--out', out],
    {
      cwd: ROOT,
      env: {
        ...process.env,
        TL_OFFLINE: '1',
        TL_MODELS_DIR: MODELS_DIR,
        TL_DATASETS_DIR: DATASETS_DIR,
        TL_CACHE_DIR: join(dir, 'cache'),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const r = await collect(child, 60_000);
  const all = r.stdout + r.stderr;
  assert.equal(r.code, 0, all);
  assert.deepEqual(stackLines(all), [], all);
  assert.deepEqual(
    r.stdout.split('\n').filter((l) => l.startsWith('skipped')),
    MISSING.map((id) => `skipped ${id}: not on disk and offline (TL_OFFLINE) — set TL_MODELS_DIR or go online`),
  );
  assert.doesNotMatch(all, /exited with|failed \(exit/);
  assert.ok(!r.stdout.split('\n').some((l) => l.startsWith('| resnet')), r.stdout);
  const json = JSON.parse(await readFile(out, 'utf8')) as { rows: unknown[]; skipped: { model: string }[] };
  assert.deepEqual(json.rows, []);
  assert.deepEqual(
    json.skipped.map((s) => s.model),
    MISSING,
  );
});
