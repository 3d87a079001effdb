// Issue 10 item 13: class counts and the "too few images" warnings were computed before unreadable files were
// skipped: a class whose files were mostly truncated was reported with all of them, and the "no validation image"
// warning never came although no validation image of it was usable. Counts and warnings now describe what is used.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { cleanup, DATASETS_DIR, filesIn, runCli, tempDir } from '../helpers.ts';

const HYM = join(DATASETS_DIR, 'hymenoptera_data');
let tmp: string;
let data: string;

/** train/ants: 1 good + 6 truncated photos; val/ants: 2 truncated; bees: 8 train and 3 val, all good. */
before(async () => {
  tmp = await tempDir('tl-faults-counts-');
  data = join(tmp, 'data');
  const ants = await filesIn(join(HYM, 'train/ants'));
  const bees = await filesIn(join(HYM, 'train/bees'));
  for (const d of ['train/ants', 'train/bees', 'val/ants', 'val/bees']) await mkdir(join(data, d), { recursive: true });
  await symlink(ants[0], join(data, 'train/ants/good.jpg'));
  const truncated = async (src: string, dest: string) => {
    const bytes = await readFile(src);
    await writeFile(dest, bytes.subarray(0, Math.floor(bytes.length * 0.4)));
  };
  for (let i = 1; i <= 6; i++) await truncated(ants[i], join(data, `train/ants/cut-${i}.jpg`));
  for (let i = 7; i <= 8; i++) await truncated(ants[i], join(data, `val/ants/cut-${i}.jpg`));
  for (const f of bees.slice(0, 8)) await symlink(f, join(data, 'train/bees', f.split('/').at(-1)!));
  for (const f of bees.slice(8, 11)) await symlink(f, join(data, 'val/bees', f.split('/').at(-1)!));
});
after(async () => {
  await cleanup(tmp);
});

describe('counts and warnings after unreadable files are skipped', () => {
  test('tl train reports 1 train / 0 val for a class with 8 of 9 files truncated, and warns about both', async () => {
    const r = await runCli(['train', data, '--out', join(tmp, 'bundle'), '--json', '--strategy', 'head'], {
      cacheDir: join(tmp, 'cache'),
      cwd: tmp,
      timeoutMs: 240_000,
    });
    assert.equal(r.code, 0, r.stderr.slice(-2000));
    assert.equal(
      (r.stderr.match(/warning: skipped .*cut-\d\.jpg: truncated or corrupt image/g) ?? []).length,
      8,
      r.stderr,
    );
    const out = JSON.parse(r.stdout) as { counts: { label: string; train: number; val: number }[]; count: number };
    assert.deepEqual(out.counts, [
      { label: 'ants', train: 1, val: 0 },
      { label: 'bees', train: 8, val: 3 },
    ]);
    assert.equal(out.count, 3, 'evaluated on the 3 readable validation images');
    assert.match(r.stderr, /warning: class "ants" has only 1 training image\(s\)/);
    assert.match(r.stderr, /warning: class "ants" has no validation image/);
    assert.doesNotMatch(r.stderr, /only 7 training/);
    // The human table shows the used numbers too.
    assert.match(r.stderr, /ants\s+1\s+0/);
  });
});
