// The classifiers of projects kept loaded for prediction (the latest bundle of each), least recently used unloaded
// first, so a server with many projects holds at most `max` backbones in memory; and whether a project's latest model
// still matches its classes and photos (modelState).
import { readFile } from 'node:fs/promises';
import { join, sep } from 'node:path';
import type { BatcherOptions } from './batcher.js';
import { ServedModel } from './models.js';
import type { ProjectStore } from './projects.js';

interface Loaded {
  stamp: string;
  model: ServedModel;
}

export class ProjectModels {
  /** Map order is use order: the first entry is the least recently used. */
  private loaded = new Map<string, Loaded>();
  /** Loads in flight, by project and bundle stamp, so concurrent first requests load once. */
  private loading = new Map<string, Promise<ServedModel>>();

  constructor(
    private store: ProjectStore,
    private batching: BatcherOptions,
    private max: number,
  ) {}

  /** The classifier of the project's latest bundle, loaded if it is not (or an older bundle is). */
  async get(project: string): Promise<ServedModel> {
    const { stamp, dir } = await this.store.bundleDir(project);
    const cur = this.loaded.get(project);
    if (cur?.stamp === stamp) {
      this.loaded.delete(project);
      this.loaded.set(project, cur);
      return cur.model;
    }
    const key = `${project}\n${stamp}`;
    let p = this.loading.get(key);
    if (!p) {
      p = ServedModel.load(project, dir, this.batching)
        .then((m) => {
          this.set(project, stamp, m);
          return m;
        })
        .finally(() => this.loading.delete(key));
      this.loading.set(key, p);
    }
    return p;
  }

  /** Keep `model` as the project's classifier (a training just saved it), unloading the one it replaces. */
  set(project: string, stamp: string, model: ServedModel): void {
    const old = this.loaded.get(project);
    this.loaded.delete(project);
    this.loaded.set(project, { stamp, model });
    if (old && old.model !== model) void old.model.dispose().catch(() => {});
    while (this.loaded.size > this.max) {
      const [name, entry] = this.loaded.entries().next().value as [string, Loaded];
      this.loaded.delete(name);
      void entry.model.dispose().catch(() => {});
    }
  }

  /** Unload the project's classifier (the project was deleted). */
  drop(project: string): void {
    const old = this.loaded.get(project);
    this.loaded.delete(project);
    if (old) void old.model.dispose().catch(() => {});
  }

  async closeAll(): Promise<void> {
    const all = [...this.loaded.values()];
    this.loaded.clear();
    await Promise.all(all.map((e) => e.model.dispose().catch(() => {})));
  }
}

// ---------------------------------------------------------------------------------------------------------------------
// "Retrain needed": what a project's model was trained on, and how the project has changed since.
// Training writes trained-on.json into the bundle: the class names and, per class, the photo files it read (each named
// by its content hash, so the set of names is the set of photos). Comparing it with the project's folders says whether
// the model still matches, and what changed. A bundle saved before this record existed is compared by class names only.

export const TRAINED_ON_FILE = 'trained-on.json';

export interface TrainedOn {
  classes: string[];
  /** Per class, the photo files (<sha256-prefix>.<ext>) training read. */
  photos: Record<string, string[]>;
}

export interface ModelChanges {
  classesAdded: string[];
  classesRemoved: string[];
  classesRenamed: { from: string; to: string }[];
  photosAdded: number;
  photosRemoved: number;
}

export interface ModelState {
  /** The latest bundle's stamp. */
  bundle: string;
  /** The project's classes or photos no longer match what the model was trained on: train again. */
  stale: boolean;
  changes: ModelChanges;
  /** The bundle records its photos (false: only class names were compared). */
  photosKnown: boolean;
  /** The changes in words ("class “wasps” added, 3 photos added"), empty when not stale. */
  summary: string;
}

/** The record training writes: the photos of `items` (absolute paths under `imagesDir/<class>/`), by class. */
export function trainedOnRecord(classes: string[], items: { path: string }[], imagesDir: string): TrainedOn {
  const photos: Record<string, string[]> = Object.fromEntries(classes.map((c) => [c, []]));
  const prefix = imagesDir.replace(/[\\/]+$/, '') + sep;
  for (const { path } of items) {
    if (!path.startsWith(prefix)) continue;
    const [cls, file, ...rest] = path.slice(prefix.length).split(sep);
    if (!file || rest.length) continue;
    (photos[cls] ??= []).push(file);
  }
  for (const list of Object.values(photos)) list.sort();
  return { classes: [...classes], photos };
}

/** What changed between the model's record and the project now (by class name and photo content hash). */
export function diffTrainedOn(model: TrainedOn, now: TrainedOn, photosKnown = true): ModelChanges {
  const before = new Set(model.classes);
  const after = new Set(now.classes);
  let removed = model.classes.filter((c) => !after.has(c));
  let added = now.classes.filter((c) => !before.has(c));
  // A rename keeps the photos: a class gone and a class new holding (mostly) the same photos is one class renamed.
  const classesRenamed: { from: string; to: string }[] = [];
  if (photosKnown)
    for (const from of [...removed]) {
      const old = new Set(model.photos[from] ?? []);
      if (!old.size) continue;
      const to = added.find((c) => {
        const cur = now.photos[c] ?? [];
        const shared = cur.filter((f) => old.has(f)).length;
        return shared > 0 && shared * 2 >= Math.max(old.size, cur.length);
      });
      if (!to) continue;
      classesRenamed.push({ from, to });
      removed = removed.filter((c) => c !== from);
      added = added.filter((c) => c !== to);
    }
  let photosAdded = 0;
  let photosRemoved = 0;
  if (photosKnown) {
    const was = new Set(Object.values(model.photos).flat());
    const is = new Set(Object.values(now.photos).flat());
    for (const f of is) if (!was.has(f)) photosAdded++;
    for (const f of was) if (!is.has(f)) photosRemoved++;
  }
  return { classesAdded: added, classesRemoved: removed, classesRenamed, photosAdded, photosRemoved };
}

const quoted = (names: string[]) => names.map((n) => `“${n}”`).join(', ');
const count = (n: number, what: string) => `${n} ${what}${n === 1 ? '' : 's'}`;

/** The changes in words, for the page's "Retrain needed: …" notice. */
export function describeChanges(c: ModelChanges): string {
  const parts: string[] = [];
  if (c.classesAdded.length)
    parts.push(`${c.classesAdded.length === 1 ? 'class' : 'classes'} ${quoted(c.classesAdded)} added`);
  if (c.classesRemoved.length)
    parts.push(`${c.classesRemoved.length === 1 ? 'class' : 'classes'} ${quoted(c.classesRemoved)} removed`);
  for (const r of c.classesRenamed) parts.push(`“${r.from}” renamed to “${r.to}”`);
  if (c.photosAdded) parts.push(`${count(c.photosAdded, 'photo')} added`);
  if (c.photosRemoved) parts.push(`${count(c.photosRemoved, 'photo')} removed`);
  return parts.join(', ');
}

/** The records read so far, by bundle folder (a bundle never changes once saved). */
const trainedOnCache = new Map<string, { record: TrainedOn; photosKnown: boolean }>();

async function readTrainedOn(dir: string): Promise<{ record: TrainedOn; photosKnown: boolean }> {
  const hit = trainedOnCache.get(dir);
  if (hit) return hit;
  let out: { record: TrainedOn; photosKnown: boolean };
  try {
    const raw = JSON.parse(await readFile(join(dir, TRAINED_ON_FILE), 'utf8')) as TrainedOn;
    if (!Array.isArray(raw.classes) || typeof raw.photos !== 'object' || !raw.photos) throw new Error('bad record');
    out = { record: raw, photosKnown: true };
  } catch {
    // An older bundle: its labels are all there is.
    const manifest = JSON.parse(await readFile(join(dir, 'classifier.json'), 'utf8')) as { labels?: string[] };
    out = { record: { classes: manifest.labels ?? [], photos: {} }, photosKnown: false };
  }
  if (trainedOnCache.size > 256) trainedOnCache.clear();
  trainedOnCache.set(dir, out);
  return out;
}

/** The project's latest model and whether it still matches the project; null when it has none. */
export async function modelState(store: ProjectStore, project: string): Promise<ModelState | null> {
  const stamp = await store.latestBundle(project);
  if (!stamp) return null;
  let trained: { record: TrainedOn; photosKnown: boolean };
  try {
    trained = await readTrainedOn(join(store.bundlesDir(project), stamp));
  } catch {
    return null; // a bundle that cannot be read is reported where it is used (predict, results)
  }
  const meta = await store.meta(project);
  const photos: Record<string, string[]> = Object.fromEntries(meta.classes.map((c) => [c, []]));
  for (const img of await store.images(project)) photos[img.class]?.push(img.file);
  const changes = diffTrainedOn(trained.record, { classes: meta.classes, photos }, trained.photosKnown);
  const summary = describeChanges(changes);
  return { bundle: stamp, stale: summary !== '', changes, photosKnown: trained.photosKnown, summary };
}
