// Issue 22 item 7: the same photos (same bytes) filed under two classes trained to 0 % val accuracy with no warning.
// Now the dataset warns, naming how many and the first few files with their classes.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile } from 'node:fs/promises';
import { join } from 'node:path';
import { loadDataset } from '../../src/data/dataset.ts';
import { cleanup, DATASETS_DIR, filesIn, linkSubset, runCli, tempDir } from '../helpers.ts';

const HYM = join(DATASETS_DIR, 'hymenoptera_data', 'train');
let tmp: string;
let data: string;
let ants: string[];

before(async () => {
  tmp = await tempDir('tl-faults-dups-');
  data = join(tmp, 'data');
  await linkSubset(HYM, data, 6);
  ants = await filesIn(join(data, 'ants'));
});
after(async () => {
  await cleanup(tmp);
});

describe('identical photos under two classes', () => {
  test('no warning for distinct photos', () => {
    assert.deepEqual(loadDataset(data).warnings, []);
  });

  test('loadDataset warns with the count and the files; tl train prints it', async () => {
    // Copies (not links) under another name: only the bytes are the same.
    await copyFile(ants[0], join(data, 'bees', 'copy-a.jpg'));
    await copyFile(ants[1], join(data, 'bees', 'copy-b.jpg'));
    const ds = loadDataset(data);
    assert.equal(ds.warnings?.length, 1);
    const w = ds.warnings![0];
    assert.match(w, /^2 photo\(s\) are filed under more than one class \(identical files\)/);
    const a0 = ants[0].split('/').at(-1)!.replace('.', '\\.');
    assert.match(w, new RegExp(`ants/${a0} \\("ants"\\) = bees/copy-a\\.jpg \\("bees"\\)`));
    assert.match(w, /bees\/copy-b\.jpg \("bees"\)/);

    const r = await runCli(['train', data, '--out', join(tmp, 'out'), '--strategy', 'head'], {
      cacheDir: join(tmp, 'cache'),
      cwd: tmp,
      timeoutMs: 120_000,
    });
    assert.equal(r.code, 0, r.stderr.slice(-2000));
    assert.match(r.stderr, /warning: 2 photo\(s\) are filed under more than one class/);
  });
});
