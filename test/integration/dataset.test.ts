// Loading labelled datasets: ImageFolder with a seeded stratified split, pre-split folders, CSV manifests, and the
// refusals (one class, empty or unreadable classes, missing paths). Tiny folders of symlinks to real photos.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, mkdir, symlink, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { loadDataset, classCounts, datasetWarnings, type Dataset } from '../../src/data/dataset.js';
import { trainClassifier } from '../../src/training/train.js';
import { FeatureStore } from '../../src/features/store.js';
import { env } from '../../src/util/env.js';
import { TlError } from '../../src/util/errors.js';
import { cleanup, DATASETS_DIR, filesIn, linkSubset, tempDir } from '../helpers.js';

const HYM = join(DATASETS_DIR, 'hymenoptera_data');
let tmp: string;
let n = 0;
/** A fresh folder under the file's temp dir. */
const fresh = async (name = 'ds') => {
  const d = join(tmp, `${name}-${n++}`);
  await mkdir(d, { recursive: true });
  return d;
};

let ants: string[];
let bees: string[];
before(async () => {
  tmp = await tempDir('tl-dataset-');
  env.cacheDir = join(tmp, 'cache'); // never the user's cache
  ants = await filesIn(join(HYM, 'train/ants'));
  bees = await filesIn(join(HYM, 'train/bees'));
});
after(async () => {
  await cleanup(tmp);
});

/** Symlink `files` into dir/label/. */
async function linkInto(dir: string, label: string, files: string[]): Promise<string[]> {
  await mkdir(join(dir, label), { recursive: true });
  const out: string[] = [];
  for (const [i, f] of files.entries()) {
    const p = join(dir, label, `${String(i).padStart(3, '0')}.jpg`);
    await symlink(f, p);
    out.push(p);
  }
  return out;
}

const paths = (items: { path: string }[]) => items.map((x) => x.path).sort();
const labelsOf = (ds: Dataset, split: 'train' | 'val' | 'test') => [...new Set(ds[split].map((x) => x.label))].sort();

describe('ImageFolder: <root>/<class>/*', () => {
  test('stratified seeded split: same seed same split, other seed other split, fraction per class, every class in val', async () => {
    const root = await fresh('folder');
    await linkSubset(join(HYM, 'train'), root, 20); // ants/ bees/ with 20 each
    await linkInto(root, 'wasps', ants.slice(40, 52)); // a third class of 12
    const a = loadDataset(root, { seed: 1, valFraction: 0.25 });
    assert.equal(a.splitSource, 'random');
    assert.deepEqual(a.classes, ['ants', 'bees', 'wasps']);
    assert.deepEqual(a.test, []);
    assert.deepEqual(
      classCounts(a).map((c) => [c.label, c.train, c.val]),
      [
        ['ants', 15, 5],
        ['bees', 15, 5],
        ['wasps', 9, 3],
      ],
    );
    // Disjoint and complete.
    const all = [...paths(a.train), ...paths(a.val)].sort();
    assert.equal(new Set(all).size, 52);
    assert.deepEqual(labelsOf(a, 'val'), ['ants', 'bees', 'wasps']);

    const again = loadDataset(root, { seed: 1, valFraction: 0.25 });
    assert.deepEqual(paths(again.val), paths(a.val));
    assert.deepEqual(again.train, a.train, 'same seed: same split, same order');
    const other = loadDataset(root, { seed: 2, valFraction: 0.25 });
    assert.notDeepEqual(paths(other.val), paths(a.val), 'another seed gives another split');
    assert.equal(other.val.length, 13);

    const tenth = loadDataset(root, { seed: 1, valFraction: 0.1 });
    assert.deepEqual(
      classCounts(tenth).map((c) => c.val),
      [2, 2, 1],
      'at least one val image per class, fraction rounded',
    );
    const dflt = loadDataset(root);
    assert.deepEqual(
      classCounts(dflt).map((c) => c.val),
      [4, 4, 2],
      'default fraction 0.2',
    );
  });

  test('a class of one image keeps it in train; loose root images are reported, not used', async () => {
    const root = await fresh('tiny');
    await linkInto(root, 'ants', ants.slice(0, 6));
    await linkInto(root, 'bees', bees.slice(0, 1));
    await symlink(ants[10], join(root, 'loose.jpg'));
    const ds = loadDataset(root, { seed: 3 });
    assert.deepEqual(
      classCounts(ds).map((c) => [c.label, c.train, c.val]),
      [
        ['ants', 5, 1],
        ['bees', 1, 0],
      ],
    );
    assert.ok(
      ds.skipped.some((s) => s.path === join(root, 'loose.jpg') && /outside any class folder/.test(s.reason)),
      JSON.stringify(ds.skipped),
    );
    // A class folder that is a symlink to a folder elsewhere counts like a real one.
    const linked = await fresh('linked');
    await symlink(join(root, 'ants'), join(linked, 'ants'));
    await symlink(join(HYM, 'train/bees'), join(linked, 'bees'));
    assert.deepEqual(
      classCounts(loadDataset(linked)).map((c) => [c.label, c.train + c.val]),
      [
        ['ants', 6],
        ['bees', bees.length],
      ],
    );
    const w = datasetWarnings(classCounts(ds));
    assert.ok(
      w.some((x) => /"bees" has no validation image/.test(x)),
      w.join('\n'),
    );
  });
});

describe('pre-split folders', () => {
  test('train/ + val/ are kept exactly as given', async () => {
    const root = await fresh('split');
    const trA = await linkInto(join(root, 'train'), 'ants', ants.slice(0, 8));
    const trB = await linkInto(join(root, 'train'), 'bees', bees.slice(0, 7));
    const vaA = await linkInto(join(root, 'val'), 'ants', ants.slice(8, 11));
    const vaB = await linkInto(join(root, 'val'), 'bees', bees.slice(7, 9));
    for (const seed of [0, 5]) {
      const ds = loadDataset(root, { seed, valFraction: 0.5 });
      assert.equal(ds.splitSource, 'folders');
      assert.deepEqual(paths(ds.train), [...trA, ...trB].sort());
      assert.deepEqual(paths(ds.val), [...vaA, ...vaB].sort());
      assert.deepEqual(
        ds.val
          .filter((x) => x.label === 'bees')
          .map((x) => x.path)
          .sort(),
        vaB,
      );
    }
  });

  test('validation/ is accepted as val; test/ is kept as test beside it', async () => {
    const root = await fresh('validation');
    await linkInto(join(root, 'train'), 'ants', ants.slice(0, 5));
    await linkInto(join(root, 'train'), 'bees', bees.slice(0, 5));
    const va = [
      ...(await linkInto(join(root, 'validation'), 'ants', ants.slice(5, 7))),
      ...(await linkInto(join(root, 'validation'), 'bees', bees.slice(5, 7))),
    ];
    const te = [
      ...(await linkInto(join(root, 'test'), 'ants', ants.slice(7, 10))),
      ...(await linkInto(join(root, 'test'), 'bees', bees.slice(7, 8))),
    ];
    const ds = loadDataset(root);
    assert.equal(ds.splitSource, 'folders');
    assert.deepEqual(paths(ds.val), va.sort());
    assert.deepEqual(paths(ds.test), te.sort());
    assert.equal(ds.train.length, 10);
  });

  test('train/ + test/ only: test is used as validation', async () => {
    const root = await fresh('traintest');
    await linkInto(join(root, 'train'), 'ants', ants.slice(0, 5));
    await linkInto(join(root, 'train'), 'bees', bees.slice(0, 5));
    const te = [
      ...(await linkInto(join(root, 'test'), 'ants', ants.slice(5, 8))),
      ...(await linkInto(join(root, 'test'), 'bees', bees.slice(5, 6))),
    ];
    const ds = loadDataset(root);
    assert.equal(ds.splitSource, 'folders');
    assert.deepEqual(paths(ds.val), te.sort());
    assert.deepEqual(ds.test, []);
    assert.equal(ds.train.length, 10);
  });

  test('train/ alone: a seeded split of train', async () => {
    const root = await fresh('trainonly');
    await linkInto(join(root, 'train'), 'ants', ants.slice(0, 10));
    await linkInto(join(root, 'train'), 'bees', bees.slice(0, 10));
    const ds = loadDataset(root, { seed: 4, valFraction: 0.3 });
    assert.equal(ds.splitSource, 'random');
    assert.deepEqual(
      classCounts(ds).map((c) => c.val),
      [3, 3],
    );
  });
});

describe('CSV manifest', () => {
  test('path,label with relative paths resolved against the CSV folder, quoted cells with commas, a BOM', async () => {
    const root = await fresh('csv');
    const imgs = join(root, 'imgs');
    await mkdir(imgs);
    const rows: string[] = [];
    for (let i = 0; i < 6; i++) {
      await symlink(ants[i], join(imgs, `ant ${i}, small.jpg`));
      rows.push(`"imgs/ant ${i}, small.jpg",ant`);
      await symlink(bees[i], join(imgs, `bee${i}.jpg`));
      rows.push(`imgs/bee${i}.jpg,"bee, honey"`);
    }
    rows.push('imgs/missing.jpg,ant');
    const csv = join(root, 'labels.csv');
    await writeFile(csv, '\uFEFFpath,label\r\n' + rows.join('\r\n') + '\r\n');
    // Run from another working directory: paths must resolve against the CSV's folder, not the cwd.
    const ds = loadDataset(relative(process.cwd(), csv), { seed: 2, valFraction: 0.5 });
    assert.equal(ds.splitSource, 'random');
    assert.deepEqual(ds.classes, ['ant', 'bee, honey']);
    assert.deepEqual(
      classCounts(ds).map((c) => [c.label, c.train, c.val]),
      [
        ['ant', 3, 3],
        ['bee, honey', 3, 3],
      ],
    );
    assert.ok([...ds.train, ...ds.val].some((x) => x.path === join(imgs, 'ant 0, small.jpg') && x.label === 'ant'));
    assert.deepEqual(
      ds.skipped.map((s) => s.path),
      [join(imgs, 'missing.jpg')],
    );
    assert.match(ds.skipped[0].reason, /missing on disk/);

    // No header: path,label by position.
    await writeFile(join(root, 'nohead.csv'), rows.slice(0, 12).join('\n'));
    assert.equal(loadDataset(join(root, 'nohead.csv')).classes.length, 2);
  });

  test('an optional split column decides train/val/test; train+test only uses test as val', async () => {
    const root = await fresh('csvsplit');
    const lines = ['label,split,path'];
    for (let i = 0; i < 10; i++) {
      const split = i < 6 ? 'train' : i < 8 ? 'val' : 'test';
      lines.push(`ants,${split},${ants[i]}`, `bees,${split === 'val' ? 'Validation' : split},${bees[i]}`);
    }
    await writeFile(join(root, 'm.csv'), lines.join('\n') + '\n');
    const ds = loadDataset(join(root, 'm.csv'), { allowOutside: true }); // the shared photos, where they are
    assert.equal(ds.splitSource, 'csv');
    assert.deepEqual([ds.train.length, ds.val.length, ds.test.length], [12, 4, 4]);
    assert.deepEqual(paths(ds.val), [ants[6], ants[7], bees[6], bees[7]].sort());

    await writeFile(join(root, 'tt.csv'), lines.filter((l) => !/,(val|Validation),/.test(l)).join('\n'));
    const tt = loadDataset(join(root, 'tt.csv'), { allowOutside: true });
    assert.equal(tt.splitSource, 'csv');
    assert.deepEqual(paths(tt.val), [ants[8], ants[9], bees[8], bees[9]].sort());
    assert.deepEqual(tt.test, []);

    await writeFile(join(root, 'trainonly.csv'), lines.filter((l) => /,train,|split/.test(l)).join('\n'));
    const only = loadDataset(join(root, 'trainonly.csv'), { valFraction: 0.5, allowOutside: true });
    assert.equal(only.splitSource, 'random');
    assert.deepEqual(
      classCounts(only).map((c) => c.val),
      [3, 3],
      'a train-only manifest is split like a train/ folder',
    );
  });

  test('a CSV without path/label columns, or a file that is no CSV, is refused', async () => {
    const root = await fresh('badcsv');
    await writeFile(join(root, 'x.csv'), 'path,class\na.jpg,ant\n');
    assert.throws(
      () => loadDataset(join(root, 'x.csv')),
      (e: Error) => e instanceof TlError && /needs "path" and "label" columns/.test(e.message),
    );
    await writeFile(join(root, 'x.txt'), 'hello');
    assert.throws(
      () => loadDataset(join(root, 'x.txt')),
      (e: Error) => e instanceof TlError && /not a \.csv manifest/.test(e.message),
    );
  });
});

describe('refusals', () => {
  test('one class only: a TlError saying at least two are needed', async () => {
    const root = await fresh('oneclass');
    await linkInto(root, 'ants', ants.slice(0, 5));
    assert.throws(
      () => loadDataset(root),
      (e: Error) =>
        e instanceof TlError && /only one class \("ants"\)/.test(e.message) && /at least two/.test(e.message),
    );
    const split = await fresh('oneclass-split');
    await linkInto(join(split, 'train'), 'ants', ants.slice(0, 5));
    await linkInto(join(split, 'val'), 'ants', ants.slice(5, 7));
    assert.throws(() => loadDataset(split), /at least two/);
  });

  test('an empty class folder is refused by name, not silently dropped', async () => {
    const root = await fresh('empty');
    await linkInto(root, 'ants', ants.slice(0, 5));
    await linkInto(root, 'bees', bees.slice(0, 5));
    await mkdir(join(root, 'wasps'));
    await writeFile(join(root, 'wasps', 'notes.txt'), 'todo: photos');
    assert.throws(
      () => loadDataset(root),
      (e: Error) => e instanceof TlError && e.message.includes(join(root, 'wasps')) && /no images/.test(e.message),
    );
    const split = await fresh('empty-split');
    await linkInto(join(split, 'train'), 'ants', ants.slice(0, 5));
    await mkdir(join(split, 'train', 'bees'));
    await linkInto(join(split, 'val'), 'ants', ants.slice(5, 7));
    assert.throws(() => loadDataset(split), /class folder with no images: .*train\/bees/);
  });

  test('a nonexistent path is a clear error; an empty folder says what layout is expected', async () => {
    assert.throws(
      () => loadDataset(join(tmp, 'nope')),
      (e: Error) => e instanceof TlError && /dataset not found: .*nope/.test(e.message),
    );
    const empty = await fresh('nothing');
    assert.throws(
      () => loadDataset(empty),
      (e: Error) => e instanceof TlError && /no labelled images found/.test(e.message),
    );
  });

  test('a class whose images are all unreadable: trainClassifier refuses with "has no usable training image"', async () => {
    const root = await fresh('unreadable');
    await linkInto(root, 'ants', ants.slice(0, 8));
    await mkdir(join(root, 'bees'));
    for (let i = 0; i < 4; i++) await writeFile(join(root, 'bees', `b${i}.jpg`), Buffer.from(`not a jpeg ${i}`));
    await copyFile(join(root, 'bees', 'b0.jpg'), join(root, 'bees', 'b4.png'));
    const ds = loadDataset(root); // the loader only lists files; decoding happens during feature extraction
    assert.deepEqual(ds.classes, ['ants', 'bees']);
    const store = FeatureStore.open(join(tmp, 'unreadable.sqlite'));
    const skips: string[] = [];
    try {
      await assert.rejects(
        trainClassifier(ds, { store, onEvent: (e) => e.type === 'skip' && skips.push(e.file.path) }),
        (e: Error) => e instanceof TlError && /class "bees" has no usable training image/.test(e.message),
      );
    } finally {
      store.close();
    }
    assert.equal(skips.filter((p) => p.includes('/bees/')).length, 5, 'each unreadable file is reported');
  });
});

describe('datasetWarnings', () => {
  test('flags a class with fewer than 10 training images and imbalance', () => {
    const w = datasetWarnings([
      { label: 'ants', train: 40, val: 10 },
      { label: 'bees', train: 6, val: 2 },
    ]);
    assert.ok(
      w.some((x) => /class "bees" has only 6 training image/.test(x)),
      w.join('\n'),
    );
    assert.ok(
      w.some((x) => /imbalanced \(40 vs 6/.test(x)),
      w.join('\n'),
    );
    assert.ok(!w.some((x) => /"ants"/.test(x)));
    assert.deepEqual(
      datasetWarnings([
        { label: 'a', train: 20, val: 5 },
        { label: 'b', train: 15, val: 5 },
      ]),
      [],
    );
  });

  test('on a real folder: counts and warnings from loadDataset', async () => {
    const root = await fresh('warn');
    await linkInto(root, 'ants', ants.slice(0, 40));
    await linkInto(root, 'bees', bees.slice(0, 8));
    const counts = classCounts(loadDataset(root, { valFraction: 0.25 }));
    assert.deepEqual(
      counts.map((c) => [c.train, c.val]),
      [
        [30, 10],
        [6, 2],
      ],
    );
    const w = datasetWarnings(counts);
    assert.equal(w.length, 2, w.join('\n'));
  });
});
