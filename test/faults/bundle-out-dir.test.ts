// Fault injection on `tl train --out DIR` (issue 10, items 1 and 5): tl never deletes a file it did not write, refuses an
// --out inside the photos, replaces its own bundle only once the new one is complete, and reports a full or read-only
// disk in one line that says what could not be written where, and why (nothing left behind).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { assertCleanError, cleanup, DATASETS_DIR, linkSubset, runCli, tempDir } from '../helpers.js';

const HYM_TRAIN = join(DATASETS_DIR, 'hymenoptera_data/train');

let tmp: string;
let cacheDir: string;
let photos: string;
let photoLinks: string[];
before(async () => {
  tmp = await tempDir('tl-fault-out-');
  cacheDir = join(tmp, 'cache');
  photos = join(tmp, 'photos');
  photoLinks = await linkSubset(HYM_TRAIN, photos, 6);
});
const mounted: string[] = [];
after(async () => {
  for (const m of mounted.reverse()) execFileSync('umount', [m], { stdio: 'ignore' });
  await cleanup(tmp);
});

const tl = (args: string[]) => runCli(args, { cacheDir, cwd: tmp, timeoutMs: 180_000 });
// Rung 1 and --l2 fixed: no auto plan, no CV; the save is what these tests are about.
const train = (out: string, ...more: string[]) =>
  tl(['train', photos, '--out', out, '--val', '0.34', '--strategy', 'head', '--l2', '1', ...more]);

/** Every file under a folder, relative, sorted (symlinks listed, not followed). */
async function tree(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true }))
    out.push(join(e.parentPath, e.name).slice(dir.length + 1));
  return out.sort();
}

async function photosIntact(): Promise<void> {
  for (const p of photoLinks) assert.ok(existsSync(p), `training photo still there: ${p}`);
  assert.deepEqual(await readdir(photos), ['ants', 'bees'], 'nothing added to the data folder');
}

describe('tl train --out: never deletes what tl did not write', () => {
  test('an existing folder that is not a bundle is refused, before training, and left untouched', async () => {
    const precious = join(tmp, 'precious');
    await mkdir(join(precious, 'sub'), { recursive: true });
    await writeFile(join(precious, 'important.txt'), 'x\n');
    await writeFile(join(precious, 'sub/notes.md'), 'y\n');
    const r = await train(precious);
    assertCleanError(r, /cannot save the classifier to .*precious: the folder exists and is not a classifier bundle/);
    assert.match(r.stderr, /^hint: .*choose another output folder \(nothing was changed\)/m);
    assert.doesNotMatch(r.stderr, /features train/, 'refused before any feature extraction');
    assert.deepEqual(await tree(precious), ['important.txt', 'sub', 'sub/notes.md']);
    assert.equal(await readFile(join(precious, 'important.txt'), 'utf8'), 'x\n');
  });

  test('a folder with a classifier.json that is not a tl bundle is refused', async () => {
    const other = join(tmp, 'other-tool');
    await mkdir(other);
    await writeFile(join(other, 'classifier.json'), '{"format":"someone-else"}\n');
    assertCleanError(await train(other), /is not a classifier bundle/);
    assert.deepEqual(await tree(other), ['classifier.json']);
  });

  test('--out equal to the data folder, inside it, or inside it through a symlink is refused; no photo is touched', async () => {
    assertCleanError(await train(photos), /--out .* is the data folder|inside the data folder/);
    await photosIntact();
    assertCleanError(await train(join(photos, 'ants')), /inside the data folder/);
    await photosIntact();
    assertCleanError(await train(join(photos, 'new-classifier')), /inside the data folder/);
    await photosIntact();
    await symlink(photos, join(tmp, 'photos-link'));
    assertCleanError(await train(join(tmp, 'photos-link', 'clf')), /inside the data folder/);
    await photosIntact();
    // A folder that holds the data is not a bundle either.
    assertCleanError(
      await tl(['train', join(photos), '--out', tmp]),
      /contains the data folder|not a classifier bundle/,
    );
    await photosIntact();
  });

  test('a bundle is replaced (the new one complete), but not when it holds a file tl did not write', async () => {
    const out = join(tmp, 'clf');
    const first = await train(out, '--seed', '1');
    assert.equal(first.code, 0, first.stderr);
    const before = JSON.parse(await readFile(join(out, 'classifier.json'), 'utf8'));
    const second = await train(out, '--seed', '2');
    assert.equal(second.code, 0, second.stderr);
    const after = JSON.parse(await readFile(join(out, 'classifier.json'), 'utf8'));
    assert.notEqual(after.createdAt, before.createdAt, 'replaced by the new bundle');
    assert.deepEqual((await readdir(out)).sort(), ['classifier.json', 'metrics.json', 'report.html', 'weights.bin']);
    assert.deepEqual(
      (await readdir(tmp)).filter((n) => n.startsWith('clf.')),
      [],
      'no temp or aside folder left',
    );

    await writeFile(join(out, 'my-notes.txt'), 'mine\n');
    const r = await train(out, '--seed', '3');
    assertCleanError(r, /holds files tl did not write: my-notes\.txt/);
    assert.equal(await readFile(join(out, 'my-notes.txt'), 'utf8'), 'mine\n');
    assert.equal(
      JSON.parse(await readFile(join(out, 'classifier.json'), 'utf8')).createdAt,
      after.createdAt,
      'bundle untouched',
    );
  });

  test('an existing empty folder is fine', async () => {
    const empty = join(tmp, 'empty-out');
    await mkdir(empty);
    const r = await train(empty);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(existsSync(join(empty, 'weights.bin')));
  });
});

/** Mount helpers: we run as root, so chmod cannot make a folder read-only; a read-only bind mount and a tiny tmpfs can. */
function tryMount(args: string[][]): boolean {
  try {
    for (const a of args) execFileSync('mount', a, { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

describe('tl train --out on a full or read-only disk: one clear line, nothing left behind', () => {
  test('full disk (16 KB tmpfs): says the bundle could not be written there because the disk is full', async (t) => {
    const full = join(tmp, 'full');
    await mkdir(full);
    if (!tryMount([['-t', 'tmpfs', '-o', 'size=16k', 'tmpfs', full]]))
      return t.skip('cannot mount a tmpfs here (needs root)');
    mounted.push(full);
    const r = await train(join(full, 'clf'));
    assertCleanError(r, /cannot write the classifier bundle to .*full\/clf: no space left on the device \(ENOSPC\)/);
    assert.match(r.stderr, /^hint: .*free some space|^hint: .*Free some space/m);
    assert.doesNotMatch(r.stderr, /please report/);
    assert.deepEqual(await readdir(full), [], 'no temp folder left behind');
  });

  test('read-only --out parent (read-only bind mount): says the file system is read-only; an existing bundle there still loads', async (t) => {
    const ro = join(tmp, 'ro');
    await mkdir(ro);
    const existing = join(ro, 'existing');
    const ok = await train(existing);
    assert.equal(ok.code, 0, ok.stderr);
    if (
      !tryMount([
        ['--bind', ro, ro],
        ['-o', 'remount,ro,bind', ro],
      ])
    )
      return t.skip('cannot bind-mount read-only here (needs root)');
    mounted.push(ro);
    const r = await train(join(ro, 'clf'));
    assertCleanError(r, /cannot write the classifier bundle to .*ro\/clf: the file system is read-only \(EROFS\)/);
    assert.doesNotMatch(r.stderr, /ENOENT|mkdir/);
    // Folders to create on the way: Node's recursive mkdir would say ENOENT; the message still gives the real reason.
    assertCleanError(
      await train(join(ro, 'deep/er/clf')),
      /cannot write the classifier bundle to .*ro\/deep\/er\/clf: the file system is read-only \(EROFS\)/,
    );
    const again = await train(existing);
    assertCleanError(again, /cannot write the classifier bundle to .*ro\/existing: the file system is read-only/);
    assert.deepEqual(await readdir(ro), ['existing']);
    const p = await tl(['predict', existing, photoLinks[0], '--json']);
    assert.equal(p.code, 0, p.stderr);
    assert.equal(JSON.parse(p.stdout).length, 1);
  });
});
