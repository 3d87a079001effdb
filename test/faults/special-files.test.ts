// Issue 22 item 1: images were read without limit. A symbolic link to /dev/zero in a class folder grew the process to
// 4 GB in 12 s (`tl predict BUNDLE /dev/zero` the same); a FIFO named *.jpg hung the run forever. Now only regular
// files are read (links followed), at most TL_MAX_IMAGE_BYTES each; the others are skipped with a warning that names
// the file and what it is.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { loadDataset } from '../../src/data/dataset.ts';
import { readImageBytes } from '../../src/data/image-file.ts';
import { TlError } from '../../src/util/errors.ts';
import { cleanup, DATASETS_DIR, filesIn, linkSubset, runCli, tempDir } from '../helpers.ts';

const HYM = join(DATASETS_DIR, 'hymenoptera_data');
let tmp: string;
let cacheDir: string;
let data: string;
let bundle: string;
let fifo: string;
let photo: string;
// Short: the old code hung on the FIFO; a fixed run takes a few seconds.
const tl = (args: string[], env?: Record<string, string>) =>
  runCli(args, { cacheDir, cwd: tmp, env, timeoutMs: 60_000 });

function mkfifo(path: string): void {
  const r = spawnSync('mkfifo', [path]);
  assert.equal(r.status, 0, `mkfifo: ${r.stderr}`);
}

before(async () => {
  tmp = await tempDir('tl-faults-special-');
  cacheDir = join(tmp, 'cache');
  data = join(tmp, 'data');
  await linkSubset(join(HYM, 'train'), data, 6);
  await symlink('/dev/zero', join(data, 'ants', 'zero.jpg'));
  fifo = join(data, 'bees', 'pipe.jpg');
  mkfifo(fifo);
  photo = (await filesIn(join(HYM, 'val/bees')))[0];
  // The bundle for the predict checks comes from clean photos, so those checks do not depend on the train check.
  await linkSubset(join(HYM, 'train'), join(tmp, 'clean'), 6);
  bundle = join(tmp, 'bundle');
  const t = await tl(['train', join(tmp, 'clean'), '--out', bundle, '--strategy', 'head']);
  assert.equal(t.code, 0, t.stderr.slice(-2000));
});
after(async () => {
  await cleanup(tmp);
});

describe('special files where images are read', () => {
  test('tl train: a link to /dev/zero and a FIFO in class folders are skipped by name; the 12 photos train', async () => {
    const t0 = Date.now();
    const r = await tl(['train', data, '--out', join(tmp, 'out'), '--strategy', 'head', '--json']);
    assert.equal(r.code, 0, r.stderr.slice(-2000));
    assert.match(
      r.stderr,
      /warning: skipped .*ants\/zero\.jpg: a symbolic link to a character device \(\/dev\/zero\), not a regular file/,
    );
    assert.match(r.stderr, /warning: skipped .*bees\/pipe\.jpg: a named pipe \(FIFO\), not a regular file/);
    const counts = JSON.parse(r.stdout).counts as { train: number; val: number }[];
    assert.equal(
      counts.reduce((a, c) => a + c.train + c.val, 0),
      12,
      'the photos, and only them',
    );
    assert.ok(Date.now() - t0 < 60_000);
  });

  test('tl predict BUNDLE /dev/zero and BUNDLE FIFO: a named warning each, exit 1, no hang', async () => {
    const r = await tl(['predict', bundle, '/dev/zero', fifo]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /warning: skipped \/dev\/zero: a character device, not a regular file/);
    assert.match(r.stderr, /warning: skipped .*pipe\.jpg: a named pipe \(FIFO\), not a regular file/);
    assert.equal(r.stdout, '');
  });

  test('the size cap (TL_MAX_IMAGE_BYTES) skips a larger photo, naming the file and the cap', async () => {
    const r = await tl(['predict', bundle, photo], { TL_MAX_IMAGE_BYTES: '1000' });
    assert.equal(r.code, 1, r.stderr);
    const name = photo.split('/').at(-1)!.replace('.', '\\.');
    assert.match(
      r.stderr,
      new RegExp(
        `warning: skipped .*${name}: file is [\\d.]+ KiB, above the 1000 B limit for one image file \\(TL_MAX_IMAGE_BYTES\\)`,
      ),
    );
    const ok = await tl(['predict', bundle, '--json', photo]);
    assert.equal(ok.code, 0, ok.stderr);
  });

  test('readImageBytes refuses a FIFO at once and reads at most cap+1 bytes', async () => {
    await assert.rejects(readImageBytes(fifo), (e: Error) => e instanceof TlError && /named pipe/.test(e.message));
    await assert.rejects(readImageBytes('/dev/zero'), /a character device/);
    const small = join(tmp, 'small.jpg');
    await writeFile(small, Buffer.alloc(100, 1));
    assert.equal((await readImageBytes(small, 100)).length, 100);
    await assert.rejects(readImageBytes(small, 99), /file is 100 B, above the 99 B limit/);
  });

  test('a CSV dataset listing a FIFO and /dev/zero skips them by name', async () => {
    const csv = join(data, 'list.csv');
    const rows = ['path,label', 'bees/pipe.jpg,bees', 'ants/zero.jpg,ants'];
    for (const cls of ['ants', 'bees'])
      for (const f of (await filesIn(join(data, cls))).filter((p) => !/pipe|zero/.test(p)))
        rows.push(`${cls}/${f.split('/').at(-1)},${cls}`);
    await writeFile(csv, rows.join('\n') + '\n');
    const ds = loadDataset(csv);
    assert.equal(ds.train.length + ds.val.length, 12);
    assert.deepEqual(
      ds.skipped.map((s) => [s.path.split('/').at(-1), /named pipe|character device/.test(s.reason)]),
      [
        ['pipe.jpg', true],
        ['zero.jpg', true],
      ],
    );
  });
});
