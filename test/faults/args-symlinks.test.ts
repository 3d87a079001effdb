// Issue 10 item 14: `tl predict CLF loop.jpg other.jpg` aborted the whole run ("no such file or folder") when one
// argument was a symbolic-link loop, while a folder scan skipped the same file with a named warning. Now explicit
// files behave like a folder scan: a warning naming the file and why, the others answered, a failure only when
// nothing could be read. A path that names nothing at all is still refused (a typo).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { assertCleanError, cleanup, DATASETS_DIR, filesIn, linkSubset, runCli, tempDir } from '../helpers.ts';

const HYM = join(DATASETS_DIR, 'hymenoptera_data');
let tmp: string;
let cacheDir: string;
let bundle: string;
let loop: string;
let dangling: string;
let photo: string;
let folder: string;
const tl = (args: string[]) => runCli(args, { cacheDir, cwd: tmp, timeoutMs: 240_000 });

before(async () => {
  tmp = await tempDir('tl-faults-symlinks-');
  cacheDir = join(tmp, 'cache');
  folder = join(tmp, 'inbox');
  await mkdir(folder);
  loop = join(folder, 'loop.jpg');
  await symlink(loop, loop); // resolving it leads back to itself: ELOOP
  dangling = join(folder, 'gone.jpg');
  await symlink(join(tmp, 'nowhere.jpg'), dangling);
  photo = (await filesIn(join(HYM, 'val/bees')))[0];
  await symlink(photo, join(folder, 'bee.jpg'));
  await linkSubset(join(HYM, 'train'), join(tmp, 'data'), 6);
  bundle = join(tmp, 'bundle');
  const t = await tl(['train', join(tmp, 'data'), '--out', bundle, '--strategy', 'head']); // no auto plan: a setup
  assert.equal(t.code, 0, t.stderr.slice(-2000));
});
after(async () => {
  await cleanup(tmp);
});

describe('symbolic-link loops and broken links given as file arguments', () => {
  test('tl predict CLF loop.jpg gone.jpg photo.jpg: named warnings, the photo answered, exit 0', async () => {
    const r = await tl(['predict', bundle, '--json', loop, dangling, photo]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /warning: skipped .*loop\.jpg: symbolic link loop/);
    assert.match(r.stderr, /warning: skipped .*gone\.jpg: broken symbolic link/);
    const preds = JSON.parse(r.stdout) as { path: string }[];
    assert.deepEqual(
      preds.map((p) => p.path),
      [photo],
    );
  });

  test('the same files through a folder scan give the same warnings and answer', async () => {
    const r = await tl(['predict', bundle, '--json', folder]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /warning: skipped .*loop\.jpg: symbolic link loop/);
    assert.match(r.stderr, /warning: skipped .*gone\.jpg: broken symbolic link/);
    assert.equal((JSON.parse(r.stdout) as unknown[]).length, 1);
  });

  test('tl classify and tl embed skip the loop the same way', async () => {
    const c = await tl(['classify', '--json', loop, photo]);
    assert.equal(c.code, 0, c.stderr);
    assert.match(c.stderr, /skipped .*loop\.jpg: symbolic link loop/);
    assert.equal((JSON.parse(c.stdout) as unknown[]).length, 1);
    const e = await tl(['embed', '--json', loop, photo]);
    assert.equal(e.code, 0, e.stderr);
    assert.match(e.stderr, /skipped .*loop\.jpg: symbolic link loop/);
    assert.equal((JSON.parse(e.stdout) as { skipped: number }).skipped, 1);
  });

  test('nothing readable: non-zero exit with the warning, no stack trace', async () => {
    const r = await tl(['predict', bundle, loop]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /skipped .*loop\.jpg: symbolic link loop/);
    assert.doesNotMatch(r.stderr, /^\s+at /m);
  });

  test('a path that names nothing at all is still refused up front (a typo)', async () => {
    assertCleanError(
      await tl(['predict', bundle, join(folder, 'no-such-photo.jpg'), photo]),
      /no such file or folder: .*no-such-photo\.jpg/,
    );
  });
});
