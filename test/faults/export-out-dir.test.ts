// Fault injection on `tl export --out DIR` (issue 22, item 3): an export is written like a bundle save (a temp folder
// beside DIR, synced, swapped in whole), so it never overwrites a file tl did not write, never leaves a partial file,
// replaces its own previous export only once the new one is complete, and reports a full or read-only disk (or a file
// in the way) in one line: what could not be written where, why, and what to do.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { assertCleanError, cleanup, DATASETS_DIR, linkSubset, runCli, tempDir } from '../helpers.js';
import { mountReadOnly, mountTmpfs, mountUnavailable, unmountAll } from './cache-fixtures.js';

let tmp: string;
let cacheDir: string;
/** A rung-1 classifier on mobilenet-v1-0.25: its ONNX export is about 0.9 MB. */
let small: string;
/** One on mobilenet-v2 (int8): its ONNX export is about 2.4 MB, more than the 2 MB disk below. */
let large: string;

const tl = (args: string[]) => runCli(args, { cacheDir, cwd: tmp, timeoutMs: 180_000 });
const exportTo = (bundle: string, out: string, ...more: string[]) =>
  tl(['export', bundle, '--out', out, '--no-check', ...more]);

before(async () => {
  tmp = await tempDir('tl-fault-export-');
  cacheDir = join(tmp, 'cache');
  const photos = join(tmp, 'photos');
  await linkSubset(join(DATASETS_DIR, 'hymenoptera_data/train'), photos, 5);
  small = join(tmp, 'b-small');
  large = join(tmp, 'b-large');
  for (const [out, model] of [
    [small, 'mobilenet-v1-0.25'],
    [large, 'mobilenet-v2'],
  ]) {
    const r = await tl(['train', photos, '--out', out, '--model', model, '--strategy', 'head', '--l2', '1']);
    assert.equal(r.code, 0, r.stderr);
  }
});
after(async () => {
  unmountAll();
  await cleanup(tmp);
});

/** sha256 of every file of a folder, by name. */
async function contents(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const name of (await readdir(dir)).sort())
    out[name] = createHash('sha256')
      .update(await readFile(join(dir, name)))
      .digest('hex');
  return out;
}

describe('tl export --out: never overwrites what tl did not write', () => {
  test("a folder holding the user's own model.onnx is refused before any work, and left untouched", async () => {
    const mine = join(tmp, 'mine');
    await mkdir(mine);
    await writeFile(join(mine, 'model.onnx'), 'my own model\n');
    await writeFile(join(mine, 'notes.txt'), 'notes\n');
    const r = await exportTo(small, mine);
    assertCleanError(
      r,
      /cannot export to .*mine: the folder exists and is not a tl export \(it holds model\.onnx, notes\.txt\)/,
    );
    assert.match(r.stderr, /^hint: .*choose another --out folder \(nothing was changed\)/m);
    assert.equal(await readFile(join(mine, 'model.onnx'), 'utf8'), 'my own model\n');
    assert.deepEqual((await readdir(mine)).sort(), ['model.onnx', 'notes.txt']);
  });

  test('its own previous export is replaced whole (no stale model.onnx beside a TF.js export); not when it holds a file of the user', async () => {
    const out = join(tmp, 'exp');
    const onnx = await exportTo(small, out);
    assert.equal(onnx.code, 0, onnx.stderr);
    assert.deepEqual((await readdir(out)).sort(), ['metadata.json', 'model.onnx', 'unknown-references.bin']);
    const tfjs = await exportTo(small, out, '--format', 'tfjs');
    assert.equal(tfjs.code, 0, tfjs.stderr);
    assert.deepEqual((await readdir(out)).sort(), [
      'metadata.json',
      'model.json',
      'unknown-references.bin',
      'weights.bin',
    ]);
    assert.equal(JSON.parse(await readFile(join(out, 'metadata.json'), 'utf8')).runtime, 'tfjs');
    assert.deepEqual(
      (await readdir(tmp)).filter((n) => n.startsWith('exp.')),
      [],
      'no temp or aside folder left',
    );

    await writeFile(join(out, 'README.txt'), 'mine\n');
    const before = await contents(out);
    const r = await exportTo(small, out);
    assertCleanError(r, /cannot export to .*exp: it is a tl export but holds files tl did not write: README\.txt/);
    assert.deepEqual(await contents(out), before, 'the export and the file of the user are untouched');
  });

  test('--out naming a file: one clear line (not a raw EEXIST), the file untouched', async () => {
    const file = join(tmp, 'a-file');
    await writeFile(file, 'x\n');
    const r = await exportTo(small, file);
    assertCleanError(r, /cannot export to .*a-file: it is a file, not a folder/);
    assert.doesNotMatch(r.stderr, /EEXIST|please report/);
    assert.equal(await readFile(file, 'utf8'), 'x\n');
  });
});

describe('tl export on a full or read-only disk: one clear line, the previous export intact, nothing partial', () => {
  test(
    'full disk (2 MB tmpfs): a larger export over a good one keeps the good one; a fresh folder leaves nothing',
    { skip: mountUnavailable() },
    async () => {
      const disk = join(tmp, 'disk');
      await mkdir(disk);
      mountTmpfs(disk, '2m');
      const out = join(disk, 'exp');
      const first = await exportTo(small, out);
      assert.equal(first.code, 0, first.stderr);
      const good = await contents(out);

      const r = await exportTo(large, out);
      assertCleanError(r, /cannot write the export to .*disk\/exp: no space left on the device \(ENOSPC\)/);
      assert.match(
        r.stderr,
        /^hint: Free some space there, or choose a folder on another disk\. The export already there is unchanged\./m,
      );
      assert.doesNotMatch(r.stderr, /please report/);
      assert.deepEqual(await contents(out), good, 'the previous export is byte for byte unchanged');
      assert.deepEqual(await readdir(disk), ['exp'], 'no temp folder left on the disk');

      const fresh = join(disk, 'fresh');
      const f = await exportTo(large, fresh);
      assertCleanError(f, /cannot write the export to .*disk\/fresh: no space left on the device \(ENOSPC\)/);
      assert.match(f.stderr, /Nothing was left behind/);
      assert.ok(!existsSync(fresh), 'no partial export folder');
      assert.deepEqual(await readdir(disk), ['exp']);
    },
  );

  test(
    'read-only disk: EROFS in words, also where Node would say ENOENT (folders to create); the export there unchanged',
    { skip: mountUnavailable() },
    async () => {
      const ro = join(tmp, 'ro');
      await mkdir(ro);
      const existing = join(ro, 'exp');
      const ok = await exportTo(small, existing);
      assert.equal(ok.code, 0, ok.stderr);
      const good = await contents(existing);
      mountReadOnly(ro);

      assertCleanError(
        await exportTo(small, join(ro, 'new')),
        /cannot write the export to .*ro\/new: the file system is read-only \(EROFS\)/,
      );
      const deep = await exportTo(small, join(ro, 'deep/er/exp'));
      assertCleanError(deep, /cannot write the export to .*ro\/deep\/er\/exp: the file system is read-only \(EROFS\)/);
      assert.doesNotMatch(deep.stderr, /ENOENT|mkdir|please report/);
      assert.match(deep.stderr, /^hint: Choose a folder on a writable disk\./m);
      assertCleanError(
        await exportTo(small, existing),
        /cannot write the export to .*ro\/exp: the file system is read-only \(EROFS\)/,
      );
      assert.deepEqual(await contents(existing), good);
      assert.deepEqual(await readdir(ro), ['exp']);
    },
  );
});
