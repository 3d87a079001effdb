// Labelled datasets: ImageFolder (<root>/<class>/*), pre-split folders (<root>/{train,val|validation,test}/<class>/*),
// or a CSV manifest (path,label[,split]). Without a given split, a stratified seeded split is made.
import { existsSync, readdirSync, readFileSync, realpathSync, statSync, type Dirent } from 'node:fs';
import { basename, dirname, extname, join, resolve, sep } from 'node:path';
import { TlError } from '../util/errors.js';
import { isImageFile, listImages, type SkippedFile } from './files.js';
import { specialFileReason } from './image-file.js';
import { crossClassDuplicates, duplicatesWarning } from './duplicates.js';
import { Rng } from '../util/random.js';

export interface LabeledImage {
  path: string;
  label: string;
}

export interface Dataset {
  root: string;
  /** Sorted class names; index = class id everywhere (head rows, confusion matrix). */
  classes: string[];
  train: LabeledImage[];
  val: LabeledImage[];
  /** A held-out test split, when the folder has one besides val. */
  test: LabeledImage[];
  splitSource: 'folders' | 'csv' | 'random';
  skipped: SkippedFile[];
  /** Things about the data itself to show before trusting a result (e.g. one photo under two classes). */
  warnings?: string[];
}

export interface LoadDatasetOptions {
  /** Fraction held out for validation when the data has no split of its own. */
  valFraction?: number;
  seed?: number;
  /**
   * A CSV manifest may list files outside its own folder (`--allow-outside`). Off by default: a manifest from elsewhere
   * must not make tl read /etc/shadow or someone's photos. The check is on the path as written (`..` resolved); a
   * symbolic link inside the folder is the folder owner's choice, as it is for folder datasets.
   */
  allowOutside?: boolean;
}

const VAL_NAMES = ['val', 'validation', 'valid'];

/** A directory entry that is a folder, or a symlink to one (class folders are often linked in from elsewhere). */
function isDirEntry(dir: string, e: Dirent): boolean {
  if (e.isDirectory()) return true;
  if (!e.isSymbolicLink()) return false;
  try {
    return statSync(join(dir, e.name)).isDirectory();
  } catch {
    return false; // a dangling link
  }
}

function subdirs(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .filter((e) => !e.name.startsWith('.') && isDirEntry(dir, e))
    .map((e) => e.name)
    .sort();
}

function scanClassFolders(dir: string, skipped: SkippedFile[], requireImages = false): LabeledImage[] {
  const out: LabeledImage[] = [];
  const empty: string[] = [];
  for (const label of subdirs(dir)) {
    const paths = listImages(join(dir, label), skipped);
    if (!paths.length) empty.push(label);
    for (const path of paths) out.push({ path, label });
  }
  // A class folder with no images would silently drop the class from the classifier: refuse instead.
  if (requireImages && empty.length) {
    throw new TlError(
      `class folder${empty.length > 1 ? 's' : ''} with no images: ${empty.map((l) => join(dir, l)).join(', ')}`,
      'Add photos (.jpg, .png, .webp, ...) to each class folder, or remove the empty folder.',
    );
  }
  // Loose images directly in the root have no class: say so rather than ignore them silently.
  for (const e of readdirSync(dir, { withFileTypes: true }))
    if (!isDirEntry(dir, e) && /\.(jpe?g|png|webp|tiff?)$/i.test(e.name))
      skipped.push({ path: join(dir, e.name), reason: 'image outside any class folder' });
  return out;
}

export function loadDataset(input: string, opts: LoadDatasetOptions = {}): Dataset {
  const root = resolve(input);
  if (!existsSync(root))
    throw new TlError(
      `dataset not found: ${input}`,
      'Give a folder with one sub-folder per class (e.g. photos/Tigger/*.jpg), or a CSV of path,label.',
    );
  const skipped: SkippedFile[] = [];
  let ds: Omit<Dataset, 'classes'>;
  if (statSync(root).isFile()) {
    if (extname(root).toLowerCase() !== '.csv') throw new TlError(`${input} is a file but not a .csv manifest`);
    ds = loadCsv(root, skipped, opts);
  } else {
    const dirs = subdirs(root);
    const valDir = VAL_NAMES.find((n) => dirs.includes(n));
    if (dirs.includes('train')) {
      const train = scanClassFolders(join(root, 'train'), skipped, true);
      let val = valDir ? scanClassFolders(join(root, valDir), skipped) : [];
      let test = dirs.includes('test') ? scanClassFolders(join(root, 'test'), skipped) : [];
      if (!valDir && test.length) [val, test] = [test, []]; // train/test only: evaluate on test
      ds = val.length
        ? { root, train, val, test, splitSource: 'folders', skipped }
        : { root, ...stratifiedSplit(train, opts), test, splitSource: 'random', skipped };
    } else {
      ds = {
        root,
        ...stratifiedSplit(scanClassFolders(root, skipped, true), opts),
        test: [],
        splitSource: 'random',
        skipped,
      };
    }
  }
  const classes = [...new Set(ds.train.map((x) => x.label))].sort();
  if (classes.length === 0)
    throw new TlError(
      `no labelled images found in ${input}`,
      'Expected <root>/<class>/*.jpg (or <root>/train/<class>/*.jpg), or a CSV manifest path,label.',
    );
  if (classes.length === 1)
    throw new TlError(
      `only one class ("${classes[0]}") in ${input}: a classifier needs at least two`,
      'Add a folder of images for another class, e.g. "neither".',
    );
  const unknownInVal = ds.val.filter((x) => !classes.includes(x.label));
  if (unknownInVal.length)
    throw new TlError(
      `validation images of classes not in training: ${[...new Set(unknownInVal.map((x) => x.label))].join(', ')}`,
    );
  const duplicates = duplicatesWarning(crossClassDuplicates([...ds.train, ...ds.val, ...ds.test]), dirOf(ds.root));
  return { ...ds, classes, warnings: duplicates ? [duplicates] : [] };
}

/** Per class, shuffle with the seed and hold out `valFraction` (at least one image when the class has two or more). */
function stratifiedSplit(
  items: LabeledImage[],
  opts: LoadDatasetOptions,
): { train: LabeledImage[]; val: LabeledImage[] } {
  const frac = opts.valFraction ?? 0.2;
  const rng = new Rng(opts.seed ?? 0);
  const byClass = new Map<string, LabeledImage[]>();
  for (const it of items) byClass.set(it.label, [...(byClass.get(it.label) ?? []), it]);
  const train: LabeledImage[] = [];
  const val: LabeledImage[] = [];
  for (const label of [...byClass.keys()].sort()) {
    const list = byClass.get(label)!;
    rng.shuffle(list);
    const nVal = list.length >= 2 ? Math.max(1, Math.round(list.length * frac)) : 0;
    if (nVal >= list.length)
      throw new TlError(
        `validation fraction ${frac} (--val) leaves class "${label}" with no training image: all ${list.length} of its images would go to validation`,
        `Use a smaller --val (the default is 0.2), or add images to "${label}".`,
      );
    val.push(...list.slice(0, nVal));
    train.push(...list.slice(nVal));
  }
  return { train, val };
}

/** Column names a CSV manifest's header may use (any order, case-insensitive). */
const CSV_COLUMNS = ['path', 'label', 'split'];

function loadCsv(file: string, skipped: SkippedFile[], opts: LoadDatasetOptions): Omit<Dataset, 'classes'> {
  const base = dirname(file);
  const name = basename(file);
  // A spreadsheet's "CSV UTF-8" export starts with a byte-order mark; it must not become part of the first header.
  const lines = readFileSync(file, 'utf8')
    .replace(/^\uFEFF/, '')
    .split(/\r?\n/)
    .map((text, i) => ({ text, line: i + 1 }))
    .filter((l) => l.text.trim());
  const header = parseCsvLine(lines[0]?.text ?? '').map((h) => h.trim().toLowerCase());
  const hasHeader = header.includes('path') || header.includes('label');
  if (!hasHeader) refuseUnknownHeader(name, header, base);
  const col = (col: string, fallback: number) => (hasHeader ? header.indexOf(col) : fallback);
  const [pi, li, si] = [col('path', 0), col('label', 1), hasHeader ? header.indexOf('split') : -1];
  if (pi < 0 || li < 0)
    throw new TlError(
      `${name}: the CSV needs "path" and "label" columns (its header has ${header.map((h) => `"${h}"`).join(', ')})`,
      `Recognised header names: ${CSV_COLUMNS.join(', ')} (split optional).`,
    );
  const rows = (hasHeader ? lines.slice(1) : lines).map(({ text, line }) => {
    const cells = parseCsvLine(text);
    const path = cells[pi]?.trim();
    const label = cells[li]?.trim();
    if (!path || !label) throw new TlError(`${name} line ${line}: expected path,label`);
    return { path: resolve(base, path), label, split: si >= 0 ? cells[si]?.trim().toLowerCase() : undefined, line };
  });
  if (!opts.allowOutside) refuseOutside(rows, base, name);
  const unique = withoutRepeats(rows, name, skipped);
  const present = unique.filter((r) => {
    if (!existsSync(r.path)) {
      skipped.push({ path: r.path, reason: 'listed in the CSV but missing on disk' });
      return false;
    }
    const special = specialFileReason(r.path);
    if (special) skipped.push({ path: r.path, reason: special });
    return !special;
  });
  if (present.some((r) => r.split)) {
    const pick = (names: string[]) =>
      present.filter((r) => names.includes(r.split ?? '')).map(({ path, label }) => ({ path, label }));
    const train = pick(['train']);
    let val = pick(VAL_NAMES);
    let test = pick(['test']);
    if (!val.length && test.length) [val, test] = [test, []]; // train/test only: evaluate on test, as with folders
    // Only a train split given: hold out a seeded stratified share of it, as with a train/ folder alone.
    return val.length
      ? { root: file, train, val, test, splitSource: 'csv', skipped }
      : { root: file, ...stratifiedSplit(train, opts), test, splitSource: 'random', skipped };
  }
  return {
    root: file,
    ...stratifiedSplit(
      present.map(({ path, label }) => ({ path, label })),
      opts,
    ),
    test: [],
    splitSource: 'random',
    skipped,
  };
}

function realFolder(dir: string): string {
  try {
    return realpathSync(dir);
  } catch {
    return dir;
  }
}

/** The folder a dataset's paths are shown relative to: the folder itself, or a CSV's folder. */
function dirOf(root: string): string {
  return extname(root).toLowerCase() === '.csv' ? dirname(root) : root;
}

/** Rows whose path (as written, `..` resolved) leads out of the CSV's folder are refused unless allowed. */
function refuseOutside(rows: { path: string; line: number }[], base: string, name: string): void {
  // The CSV's folder as reached (lexically) and as it really is: an absolute row may be written either way.
  const folders = [...new Set([base, realFolder(base)])].map((f) => (f.endsWith(sep) ? f : f + sep));
  const outside = rows.filter((r) => !folders.some((f) => r.path.startsWith(f)));
  if (!outside.length) return;
  const shown = outside.slice(0, 3).map((r) => `line ${r.line}: ${r.path}`);
  const more = outside.length > 3 ? `; and ${outside.length - 3} more` : '';
  throw new TlError(
    `${name}: ${outside.length} row(s) point outside the CSV's folder ${base} (${shown.join('; ')}${more})`,
    "Move the images (or the CSV) so the files sit under the CSV's folder, or pass --allow-outside (library: allowOutside: true) to read them where they are.",
  );
}

/**
 * A first line with none of the recognised column names is a header only if it does not name an image: then say so,
 * rather than read it as a row and end with "no labelled images found".
 */
function refuseUnknownHeader(name: string, cells: string[], base: string): void {
  const first = cells[0] ?? '';
  if (!first || isImageFile(first) || existsSync(resolve(base, first))) return; // a headerless path,label row
  throw new TlError(
    `${name}: header ${cells.map((c) => `"${c}"`).join(',')} not recognised`,
    `Name the columns ${CSV_COLUMNS.join(', ')} (split optional), e.g. a first line "path,label"; or drop the header line (then the columns are path,label by position).`,
  );
}

/**
 * The same image listed twice: with two labels it is refused (which one is right?); with the same label the repeat is
 * dropped (it would weigh double and could land in both train and val).
 */
function withoutRepeats<T extends { path: string; label: string; line: number }>(
  rows: T[],
  name: string,
  skipped: SkippedFile[],
): T[] {
  const first = new Map<string, T>();
  const conflicts: string[] = [];
  const out: T[] = [];
  for (const r of rows) {
    const seen = first.get(r.path);
    if (!seen) {
      first.set(r.path, r);
      out.push(r);
    } else if (seen.label !== r.label) {
      conflicts.push(`${r.path} is "${seen.label}" on line ${seen.line} and "${r.label}" on line ${r.line}`);
    } else {
      skipped.push({
        path: r.path,
        reason: `listed again on line ${r.line} of ${name} (first on line ${seen.line}); the repeat is ignored`,
      });
    }
  }
  if (conflicts.length) {
    throw new TlError(
      `${name}: ${conflicts.length} image(s) listed with two different labels: ${conflicts.slice(0, 3).join('; ')}${conflicts.length > 3 ? `; and ${conflicts.length - 3} more` : ''}`,
      'Keep one line per image with its right label.',
    );
  }
  return out;
}

/** RFC-4180-ish: quoted cells may hold commas and doubled quotes. Enough for path,label manifests. */
function parseCsvLine(line: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i];
    if (quoted) {
      if (ch === '"' && line[i + 1] === '"') {
        cur += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else cur += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') {
      out.push(cur);
      cur = '';
    } else cur += ch;
  }
  out.push(cur);
  return out;
}

export interface ClassCount {
  label: string;
  train: number;
  val: number;
}

export function classCounts(ds: Dataset): ClassCount[] {
  return ds.classes.map((label) => ({
    label,
    train: ds.train.filter((x) => x.label === label).length,
    val: ds.val.filter((x) => x.label === label).length,
  }));
}

/**
 * Counts of the images a run really uses: `train` and `val` hold the class index of each image that could be read.
 * Unreadable files are only found while reading, so counts (and the warnings made from them) come after that.
 */
export function usedClassCounts(classes: string[], train: ArrayLike<number>, val: ArrayLike<number>): ClassCount[] {
  const count = (labels: ArrayLike<number>, c: number) =>
    Array.prototype.filter.call(labels, (l: number) => l === c).length;
  return classes.map((label, c) => ({ label, train: count(train, c), val: count(val, c) }));
}

/** Human warnings about the data a person should fix or know about before trusting the result. */
export function datasetWarnings(counts: ClassCount[]): string[] {
  const w: string[] = [];
  const trains = counts.map((c) => c.train);
  const max = Math.max(...trains);
  const min = Math.min(...trains);
  for (const c of counts)
    if (c.train < 10)
      w.push(
        `class "${c.label}" has only ${c.train} training image(s); 20 or more per class give far more reliable results`,
      );
  if (min > 0 && max / min >= 3)
    w.push(`classes are imbalanced (${max} vs ${min} training images); class weights are used to compensate`);
  for (const c of counts)
    if (c.val === 0) w.push(`class "${c.label}" has no validation image, so its accuracy cannot be measured`);
  return w;
}
