// Issue 22 item 6: a CSV manifest read files outside its own folder (it tried /etc/passwd and /etc/shadow, trained on
// photos elsewhere on disk) with no flag to allow it. Now a row whose path, as written (`..` resolved), leads out of
// the CSV's folder is refused unless --allow-outside (library: allowOutside); the error lists the first rows. A
// symbolic link inside the folder is the folder owner's choice, as for folder datasets, and is followed.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { loadDataset } from '../../src/data/dataset.ts';
import { TlError } from '../../src/util/errors.ts';
import { assertCleanError, cleanup, DATASETS_DIR, filesIn, runCli, tempDir } from '../helpers.ts';

const HYM = join(DATASETS_DIR, 'hymenoptera_data', 'train');
let tmp: string;
let folder: string;
let outsideRows: string[];
const tl = (args: string[]) => runCli(args, { cacheDir: join(tmp, 'cache'), cwd: tmp, timeoutMs: 120_000 });

before(async () => {
  tmp = await tempDir('tl-faults-csv-outside-');
  folder = join(tmp, 'manifest');
  await mkdir(join(folder, 'imgs'), { recursive: true });
  const ants = (await filesIn(join(HYM, 'ants'))).slice(0, 6);
  const bees = (await filesIn(join(HYM, 'bees'))).slice(0, 6);
  outsideRows = [...ants.map((p) => `${p},ants`), ...bees.map((p) => `${p},bees`)];
  // Links inside the folder to the same photos: rows naming them stay inside.
  for (const p of [...ants, ...bees]) await symlink(p, join(folder, 'imgs', p.split('/').at(-1)!));
});
after(async () => {
  await cleanup(tmp);
});

async function csv(name: string, rows: string[]): Promise<string> {
  const p = join(folder, name);
  await writeFile(p, ['path,label', ...rows].join('\n') + '\n');
  return p;
}

describe('CSV rows outside the CSV folder', () => {
  test('/etc/passwd, ../ and absolute paths elsewhere are refused, naming the rows and --allow-outside', async () => {
    const file = await csv('bad.csv', ['/etc/passwd,ants', '../../../etc/shadow,bees', ...outsideRows]);
    let err: unknown;
    try {
      loadDataset(file);
    } catch (e) {
      err = e;
    }
    assert.ok(err instanceof TlError, `refused: ${String(err)}`);
    assert.match(err.message, /bad\.csv: 14 row\(s\) point outside the CSV's folder/);
    assert.match(
      err.message,
      /line 2: \/etc\/passwd; line 3: \/etc\/shadow; line 4: .*hymenoptera_data.*; and 11 more/,
    );
    assert.match(err.hint ?? '', /--allow-outside/);

    const r = await tl(['train', file, '--out', join(tmp, 'never'), '--strategy', 'head']);
    assertCleanError(r, /bad\.csv: 14 row\(s\) point outside the CSV's folder .*line 2: \/etc\/passwd/);
    assert.match(r.stderr, /--allow-outside/);
  });

  test('rows inside the folder (through links) load; outside rows load with allowOutside / --allow-outside', async () => {
    const inside = await csv(
      'inside.csv',
      outsideRows.map((r) => `imgs/${r.split('/').at(-1)}`),
    );
    assert.equal(loadDataset(inside).train.length + loadDataset(inside).val.length, 12);

    const elsewhere = await csv('elsewhere.csv', outsideRows);
    assert.throws(() => loadDataset(elsewhere), /point outside/);
    const ds = loadDataset(elsewhere, { allowOutside: true });
    assert.equal(ds.train.length + ds.val.length, 12);

    const r = await tl([
      'train',
      elsewhere,
      '--allow-outside',
      '--out',
      join(tmp, 'ok'),
      '--strategy',
      'head',
      '--json',
    ]);
    assert.equal(r.code, 0, r.stderr.slice(-2000));
    assert.equal(JSON.parse(r.stdout).count, ds.val.length);
  });
});
