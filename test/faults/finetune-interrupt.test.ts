// Fault injection (issue 22, item 2): Ctrl-C during fine-tuning on one thread. The single-thread step resolves its
// promises as microtasks only, so the SIGINT handler used to run after the last epoch, and the run then replaced the
// bundle at --out and exited 0. Now: SIGINT stops it within seconds with exit 130 (SIGTERM: 143), one line on stderr,
// --out untouched (a bundle already there stays byte-identical), the last epoch's checkpoint kept, and the same
// command run again resumes from it.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { cleanup, collect, DATASETS_DIR, linkSubset, runCli, spawnCli, stackLines, tempDir } from '../helpers.js';

let tmp: string;
let cacheDir: string;
let photos: string;
let out: string;
// One thread: the path that never yielded. 4-image steps, so an epoch is several steps and lasts about a second.
const env = { TL_TRAIN_THREADS: '1' };
const finetuneArgs = () => [
  'train',
  photos,
  '--out',
  out,
  '--strategy',
  'partial',
  '--train-last',
  '4',
  '--epochs',
  '6',
  '--finetune-batch',
  '4',
  '--seed',
  '0',
];
const checkpoints = () => join(cacheDir, 'finetune-checkpoints');

/** sha256 of every file of a folder, by name. */
async function hashes(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const f of readdirSync(dir).sort())
    out[f] = createHash('sha256')
      .update(await readFile(join(dir, f)))
      .digest('hex');
  return out;
}

/** Runs fine-tuning, sends `sig` once its first epoch has ended, and returns the result and seconds from signal to exit. */
async function interruptAfterEpoch1(sig: 'SIGINT' | 'SIGTERM') {
  const child = spawnCli(finetuneArgs(), { cacheDir, env });
  const done = collect(child, 120_000);
  let stdout = '';
  let sentAt = 0;
  child.stdout!.on('data', (d: string) => {
    stdout += d;
    if (!sentAt && /^epoch 1: /m.test(stdout)) {
      sentAt = Date.now();
      child.kill(sig);
    }
  });
  const r = await done;
  assert.ok(sentAt, `the run reached the end of epoch 1 before the signal:\n${r.stdout}\n${r.stderr}`);
  return { r, seconds: (Date.now() - sentAt) / 1000 };
}

before(async () => {
  tmp = await tempDir('tl-fault-interrupt-');
  cacheDir = join(tmp, 'cache');
  photos = join(tmp, 'photos');
  out = join(tmp, 'bundle');
  await linkSubset(join(DATASETS_DIR, 'hymenoptera_data/train'), photos, 20);
});
after(async () => {
  await cleanup(tmp);
});

test(
  'SIGINT in epoch 2 on one thread: exit 130 within seconds, --out untouched, checkpoint kept, a re-run resumes',
  { timeout: 300_000 },
  async () => {
    // A bundle already at --out (a quick rung-1 run), which the interrupted run must leave as it is.
    const head = await runCli(['train', photos, '--out', out, '--strategy', 'head'], { cacheDir });
    assert.equal(head.code, 0, head.stderr);
    const before = await hashes(out);

    const { r, seconds } = await interruptAfterEpoch1('SIGINT');
    assert.equal(r.code, 130, `exit 130 after SIGINT (got ${r.code}, signal ${r.signal}):\n${r.stdout}\n${r.stderr}`);
    assert.ok(seconds < 5, `stopped ${seconds.toFixed(1)} s after SIGINT`);
    assert.doesNotMatch(r.stdout, /^epoch 6: /m, 'training did not run to the end');
    assert.doesNotMatch(r.stdout, /saved classifier/);
    assert.deepEqual(stackLines(r.stderr), []);
    const stopped = r.stderr.split('\n').filter((l) => l.startsWith('stopped'));
    assert.equal(stopped.length, 1, r.stderr);
    assert.match(
      stopped[0],
      /^stopped \(SIGINT\): nothing was saved to .*bundle; the checkpoint of epoch 1 of 6 is kept in .*finetune-checkpoints.*: run the same command again to resume from it$/,
    );
    assert.doesNotMatch(r.stderr, /^error:/m);
    assert.deepEqual(await hashes(out), before, 'the bundle at --out is byte-identical');
    const kept = readdirSync(checkpoints());
    assert.equal(kept.length, 1, 'one checkpoint kept');
    assert.ok(existsSync(join(checkpoints(), kept[0], 'state.bin')));

    // The same command again resumes after epoch 1 and finishes (then its checkpoint goes).
    const again = await runCli(finetuneArgs(), { cacheDir, env, timeoutMs: 120_000 });
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /resuming from epoch 1 of 6/);
    assert.doesNotMatch(again.stdout, /^epoch 1: /m, 'epoch 1 is not trained again');
    assert.match(again.stdout, /saved classifier/);
    assert.deepEqual(readdirSync(checkpoints()), []);
  },
);

test('SIGTERM in epoch 2 on one thread: exit 143, the same line, --out untouched', { timeout: 300_000 }, async () => {
  const before = await hashes(out);
  const { r, seconds } = await interruptAfterEpoch1('SIGTERM');
  assert.equal(r.code, 143, `exit 143 after SIGTERM (got ${r.code}, signal ${r.signal}):\n${r.stdout}\n${r.stderr}`);
  assert.ok(seconds < 5, `stopped ${seconds.toFixed(1)} s after SIGTERM`);
  assert.match(r.stderr, /^stopped \(SIGTERM\): nothing was saved to .*; the checkpoint of epoch 1 of 6 is kept in /m);
  assert.deepEqual(await hashes(out), before, 'the bundle at --out is byte-identical');
  assert.equal(readdirSync(checkpoints()).length, 1, 'the checkpoint is kept');
});
