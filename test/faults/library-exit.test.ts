// A library script that trains rung 1 and ends without disposing its classifiers must exit by itself: the backbone's
// idle onnxruntime worker thread and the head's wasm kernel (TF.js wasm, started for big fits) must not keep the
// event loop alive. The wasm threshold is lowered (TL_HEAD_WASM_MIN_UNITS) so a 24-image set takes the big-set path.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join, resolve } from 'node:path';
import { cleanup, collect, DATASETS_DIR, linkSubset, tempDir } from '../helpers.js';

const SCRIPT = resolve(import.meta.dirname, 'train-head-exit.mjs');
/** Seconds the process may take to exit after printing its last line (it needs none; the margin is for a busy box). */
const EXIT_WITHIN_S = 10;

let tmp: string;
before(async () => {
  tmp = await tempDir('tl-fault-exit-');
  for (const split of ['train', 'val'])
    await linkSubset(join(DATASETS_DIR, 'hymenoptera_data', split), join(tmp, 'data', split), 12);
});
after(() => cleanup(tmp));

test('a script that trains rung 1 twice (wasm head kernel) and never disposes exits by itself', async () => {
  const child = spawn(process.execPath, [SCRIPT, join(tmp, 'data')], {
    env: { ...process.env, TL_CACHE_DIR: join(tmp, 'cache'), TL_HEAD_WASM_MIN_UNITS: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let lastLineAt = 0;
  let lines = 0;
  child.stdout!.on('data', (chunk: Buffer | string) => {
    lines += String(chunk).split('\n').filter(Boolean).length;
    if (lines >= 2) lastLineAt ||= Date.now();
  });
  const exited = collect(child, 120_000);
  // Kill a process that is still alive EXIT_WITHIN_S after its second fit, so the test fails instead of hanging.
  const watchdog = setInterval(() => {
    if (lastLineAt && Date.now() - lastLineAt > EXIT_WITHIN_S * 1000) child.kill('SIGKILL');
  }, 200);
  const r = await exited.finally(() => clearInterval(watchdog));
  const fits = r.stdout
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { fit: number; accuracy: number; wasm: boolean });
  assert.equal(fits.length, 2, `both fits finish: ${r.stderr}`);
  assert.ok(
    fits.every((f) => f.wasm),
    'the fits took the wasm head kernel path',
  );
  assert.equal(fits[1].accuracy, fits[0].accuracy, 'a second fit in the same process gives the same model');
  assert.ok(fits[0].accuracy >= 0.75, `val accuracy ${fits[0].accuracy}`);
  assert.equal(r.signal, null, `still running ${EXIT_WITHIN_S} s after its last fit (killed)`);
  assert.equal(r.code, 0);
});
