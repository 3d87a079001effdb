// Issue 10 item 15: a CSV manifest that lists one image with two labels was accepted silently (the image landed in
// whichever split, under whichever label); a header the parser did not know (`file,class`) ended in "no labelled
// images found" without saying why. The manifests here list the shared photos where they are (allowOutside).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { loadDataset } from '../../src/data/dataset.ts';
import { TlError } from '../../src/util/errors.ts';
import { assertCleanError, cleanup, DATASETS_DIR, filesIn, runCli, tempDir } from '../helpers.ts';

const HYM = join(DATASETS_DIR, 'hymenoptera_data', 'train');
let tmp: string;
let ants: string[];
let bees: string[];
before(async () => {
  tmp = await tempDir('tl-faults-csv-');
  ants = (await filesIn(join(HYM, 'ants'))).slice(0, 6);
  bees = (await filesIn(join(HYM, 'bees'))).slice(0, 6);
});
after(async () => {
  await cleanup(tmp);
});

async function csv(name: string, lines: string[]): Promise<string> {
  const p = join(tmp, name);
  await writeFile(p, lines.join('\n') + '\n');
  return p;
}

function refusal(fn: () => unknown): TlError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof TlError, String(err));
    return err;
  }
  assert.fail('expected a refusal');
}

describe('CSV manifests', () => {
  test('the same path with two different labels is refused, naming both lines', async () => {
    const rows = [...ants.map((p) => `${p},ants`), ...bees.map((p) => `${p},bees`)];
    rows.splice(9, 0, `${ants[2]},bees`); // line 1 is the header: ants[2] is on line 4, the conflict on line 11
    const file = await csv('conflict.csv', ['path,label', ...rows]);
    const e = refusal(() => loadDataset(file, { allowOutside: true }));
    assert.match(e.message, /conflict\.csv: 1 image\(s\) listed with two different labels/);
    assert.match(
      e.message,
      new RegExp(`${ants[2].split('/').at(-1)!.replace('.', '\\.')} is "ants" on line 4 and "bees" on line 11`),
    );
  });

  test('the same path twice with the same label is kept once and reported, so it cannot sit in train and val', async () => {
    const rows = [...ants.map((p) => `${p},ants`), ...bees.map((p) => `${p},bees`), `${bees[0]},bees`];
    const ds = loadDataset(await csv('repeat.csv', ['path,label', ...rows]), { allowOutside: true });
    const all = [...ds.train, ...ds.val].map((x) => x.path);
    assert.equal(all.length, 12);
    assert.equal(new Set(all).size, 12);
    assert.equal(ds.skipped.length, 1);
    assert.match(ds.skipped[0].reason, /listed again on line 14 of repeat\.csv \(first on line 8\)/);
  });

  test('an unrecognised header (file,class) is refused, saying which headers are recognised', async () => {
    const file = await csv('file-class.csv', [
      'file,class',
      ...ants.map((p) => `${p},ants`),
      ...bees.map((p) => `${p},bees`),
    ]);
    const e = refusal(() => loadDataset(file));
    assert.match(e.message, /file-class\.csv: header "file","class" not recognised/);
    assert.match(e.hint ?? '', /path, label, split/);
    // The CLI: one clean error line with the hint, no stack trace, no "no labelled images found".
    const r = await runCli(['train', file, '--out', join(tmp, 'never')], { cacheDir: join(tmp, 'cache'), cwd: tmp });
    assertCleanError(r, /header "file","class" not recognised/);
    assert.match(r.stderr, /path, label, split/);
    assert.doesNotMatch(r.stderr, /no labelled images found/);
  });

  test('a header with only one known column names the columns it has; a headerless path,label file still loads', async () => {
    const partial = await csv('path-class.csv', ['path,class', ...ants.map((p) => `${p},ants`)]);
    const e = refusal(() => loadDataset(partial));
    assert.match(
      e.message,
      /path-class\.csv: the CSV needs "path" and "label" columns \(its header has "path", "class"\)/,
    );
    assert.match(e.hint ?? '', /path, label, split/);
    const headerless = await csv('plain.csv', [...ants.map((p) => `${p},ants`), ...bees.map((p) => `${p},bees`)]);
    const ds = loadDataset(headerless, { allowOutside: true });
    assert.deepEqual(ds.classes, ['ants', 'bees']);
    assert.equal(ds.train.length + ds.val.length, 12);
  });
});
