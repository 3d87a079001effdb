// Fault injection (issue 12): a rung-2 run SIGKILLed after its epoch-2 checkpoint, re-run with the same command,
// resumes from its last finished epoch (and says so), ends at the same best epoch with byte-identical weights.bin as an
// uninterrupted run; a different command meanwhile starts fresh; the checkpoint is gone once a run finishes.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { open, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { cleanup, collect, DATASETS_DIR, linkSubset, runCli, sleep, spawnCli, tempDir } from '../helpers.js';

let tmp: string;
let cacheDir: string;
let photos: string;
const args = (out: string, extra: string[] = []) => [
  'train',
  photos,
  '--out',
  out,
  '--strategy',
  'partial',
  '--train-last',
  '1',
  '--epochs',
  '6',
  '--finetune-batch',
  '4',
  '--seed',
  '3',
  ...extra,
];
// Later flags win in commander: a different number of epochs is a different command.
const checkpoints = () => join(cacheDir, 'finetune-checkpoints');

before(async () => {
  tmp = await tempDir('tl-fault-resume-');
  cacheDir = join(tmp, 'cache');
  photos = join(tmp, 'photos');
  await linkSubset(join(DATASETS_DIR, 'hymenoptera_data/train'), photos, 12);
});
after(async () => {
  await cleanup(tmp);
});

/** The last finished epoch recorded in a checkpoint file (its JSON header), or 0. */
async function checkpointEpoch(): Promise<number> {
  if (!existsSync(checkpoints())) return 0;
  let best = 0;
  for (const key of readdirSync(checkpoints())) {
    const path = join(checkpoints(), key, 'state.bin');
    if (!existsSync(path)) continue;
    const fh = await open(path, 'r');
    try {
      const buf = Buffer.alloc(4096);
      const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
      const m = /"epoch":(\d+)/.exec(buf.toString('latin1', 0, bytesRead));
      if (m) best = Math.max(best, Number(m[1]));
    } finally {
      await fh.close();
    }
  }
  return best;
}

const bestEpoch = async (dir: string) =>
  (JSON.parse(await readFile(join(dir, 'classifier.json'), 'utf8')) as { config: { bestEpoch: number } }).config
    .bestEpoch;

test(
  'SIGKILL mid-run, same command again: resumes from the last finished epoch, same best epoch, byte-identical weights',
  { timeout: 300_000 },
  async () => {
    const whole = join(tmp, 'whole');
    const r0 = await runCli(args(whole), { cacheDir, timeoutMs: 120_000 });
    assert.equal(r0.code, 0, r0.stderr);
    assert.doesNotMatch(r0.stdout + r0.stderr, /resuming/);
    // A log (not a terminal) shows each epoch's accuracies as it ends, not only in the final table.
    assert.match(
      r0.stdout + r0.stderr,
      /^epoch 1: [\d.]+ s \([\d.]+ img\/s\); train acc [\d.]+%, inner val acc [\d.]+%$/m,
    );
    // Step progress is timed from the epoch's start: the first line's rate is not that of one instant step (it read
    // 4000 img/s when the bar was timed from its own first update).
    const rates = [...r0.stderr.matchAll(/^epoch 1\/6: \d+\/(\d+) \(\d+%\) ([\d.]+) img\/s/gm)].map((m) =>
      Number(m[2]),
    );
    assert.ok(rates.length >= 1 && rates[0] <= 2 * rates[rates.length - 1] + 1, `epoch 1 step rates: ${rates}`);
    assert.deepEqual(
      existsSync(checkpoints()) ? readdirSync(checkpoints()) : [],
      [],
      'a finished run removes its checkpoint',
    );

    const killed = join(tmp, 'killed');
    const child = spawnCli(args(killed), { cacheDir });
    const done = collect(child, 120_000);
    let seen = 0;
    while (child.exitCode === null && (seen = await checkpointEpoch()) < 2) await sleep(3);
    child.kill('SIGKILL');
    const rk = await done;
    assert.equal(rk.signal, 'SIGKILL', `the run was killed mid-training, not finished:\n${rk.stderr}`);
    assert.ok(seen >= 2, 'the epoch-2 checkpoint appeared before the kill');
    assert.ok(!existsSync(join(killed, 'weights.bin')), 'no bundle from the killed run');

    // Another command (2 epochs) does not pick up this run's checkpoint.
    const other = await runCli(args(join(tmp, 'other'), ['--epochs', '2']), { cacheDir, timeoutMs: 120_000 });
    assert.equal(other.code, 0, other.stderr);
    assert.doesNotMatch(other.stdout + other.stderr, /resuming/);

    const r1 = await runCli(args(killed), { cacheDir, timeoutMs: 120_000 });
    assert.equal(r1.code, 0, r1.stderr);
    const m = /resuming from epoch (\d+) of 6/.exec(r1.stdout + r1.stderr);
    assert.ok(m, `the re-run says it resumes:\n${r1.stdout}${r1.stderr}`);
    const from = Number(m[1]);
    assert.ok(from >= 2 && from < 6, `resumed from epoch ${from}`);
    assert.doesNotMatch(r1.stdout + r1.stderr, new RegExp(`epoch ${from}: `), 'finished epochs are not trained again');
    assert.equal(await bestEpoch(killed), await bestEpoch(whole));
    assert.ok(
      (await readFile(join(killed, 'weights.bin'))).equals(await readFile(join(whole, 'weights.bin'))),
      'weights.bin byte-identical to the uninterrupted run',
    );
    assert.deepEqual(readdirSync(checkpoints()), [], 'checkpoints removed once the runs finished');
  },
);
