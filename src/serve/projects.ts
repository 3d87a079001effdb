// Projects on disk, so a restart loses nothing:
//   <projects>/<project>/project.json                       name, classes (display order), timestamps
//   <projects>/<project>/images/<class>/<sha256-prefix>.<ext>  the photos (an ImageFolder: training reads it as is)
//   <projects>/<project>/bundles/<timestamp>/                 trained classifier bundles (latest = last by name)
//   <projects>/<project>/thumbs/<image>.jpg                   cached thumbnails (rebuilt on demand)
//   <projects>/<project>/tmp/                                 uploads in progress (emptied at start-up)
// Uploads are staged in tmp/ and renamed into the class folder once the whole request is accepted (uploads.ts).
// A project.json that cannot be read is reported (409 project_damaged), never rewritten or deleted.
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { z } from 'zod';
import { MAX_INPUT_PIXELS } from '../data/image.js';
import { readImageBytes } from '../data/image-file.js';
import { badRequest, conflict, HttpError, notFound, unprocessable } from './errors.js';
import type { UploadTarget } from './uploads.js';

export interface ProjectMeta {
  name: string;
  classes: string[];
  createdAt: string;
  updatedAt: string;
}

const ProjectFile = z.object({
  classes: z.array(z.string()),
  createdAt: z.string(),
  updatedAt: z.string(),
});

/** A project whose project.json cannot be used; listed so the user sees it, and left as it is. */
export interface DamagedProject {
  name: string;
  damaged: true;
  reason: string;
}

export const projectDamaged = (name: string, reason: string) =>
  new HttpError(
    409,
    'project_damaged',
    `project "${name}" is damaged: ${reason}; repair or remove its project.json by hand (nothing was changed)`,
  );

export interface ClassSummary {
  name: string;
  images: number;
}

export interface ProjectSummary {
  name: string;
  createdAt: string;
  updatedAt: string;
  classes: ClassSummary[];
  images: number;
  /** Timestamp folder name of the newest trained bundle, if any. */
  latestBundle: string | null;
}

export interface ImageEntry {
  class: string;
  file: string;
  bytes: number;
  addedAt: string;
}

const NAME_RE = /^[\p{L}\p{N}](?:[\p{L}\p{N} _.,()+-]{0,62}[\p{L}\p{N}_)+-])?$/u;
/** loadDataset reads these folder names as splits, so a class may not be called that. */
const RESERVED_CLASS = new Set(['train', 'val', 'validation', 'valid', 'test']);
const IMAGE_FILE_RE = /^[0-9a-f]{16}\.(jpg|png|webp|tif|avif)$/;
export const THUMB_SIZE = 160;

export function validateName(kind: 'project' | 'class', name: unknown): string {
  if (typeof name !== 'string') throw badRequest(`${kind} name must be a string`, 'invalid_name');
  const n = name.trim().normalize('NFC');
  if (!NAME_RE.test(n) || n.includes('..')) {
    throw badRequest(
      `invalid ${kind} name "${String(name).slice(0, 80)}": use 1-64 letters, digits, spaces, _ - . , ( ) +, starting with a letter or digit`,
      'invalid_name',
    );
  }
  if (kind === 'class' && RESERVED_CLASS.has(n.toLowerCase()))
    throw badRequest(`"${n}" cannot be a class name (it names a dataset split); choose another`, 'invalid_name');
  return n;
}

function checkImageFile(file: string): string {
  if (!IMAGE_FILE_RE.test(file)) throw notFound(`no image "${file.slice(0, 80)}"`, 'image_not_found');
  return file;
}

/** Serializes async work per key (project.json read-modify-write). */
class KeyedLock {
  private tails = new Map<string, Promise<unknown>>();
  run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.tails.get(key) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    const tail = next.catch(() => {});
    this.tails.set(key, tail);
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    return next;
  }
}

/** A file written to a temporary name beside it, then renamed over it: readers see the old or the new, never half. */
export async function writeFileAtomic(path: string, data: string | Buffer): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  await writeFile(tmp, data);
  await rename(tmp, path);
}

export class ProjectStore {
  private lock = new KeyedLock();
  private thumbJobs = new Map<string, Promise<Buffer>>();
  /** Projects whose training must not see classes renamed or removed under it. */
  readonly busy = new Set<string>();

  constructor(readonly root: string) {}

  async init(): Promise<void> {
    await mkdir(this.root, { recursive: true });
    for (const name of await this.names()) await rm(join(this.root, name, 'tmp'), { recursive: true, force: true });
  }

  dir(project: string): string {
    return join(this.root, project);
  }
  imagesDir(project: string): string {
    return join(this.root, project, 'images');
  }
  bundlesDir(project: string): string {
    return join(this.root, project, 'bundles');
  }

  private async names(): Promise<string[]> {
    if (!existsSync(this.root)) return [];
    const entries = await readdir(this.root, { withFileTypes: true });
    return entries
      .filter((e) => e.isDirectory() && existsSync(join(this.root, e.name, 'project.json')))
      .map((e) => e.name)
      .sort((a, b) => a.localeCompare(b));
  }

  async meta(project: string): Promise<ProjectMeta> {
    const name = validateName('project', project);
    const path = join(this.root, name, 'project.json');
    let raw: string;
    try {
      raw = await readFile(path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR')
        throw notFound(`no project "${name}"`, 'project_not_found');
      throw projectDamaged(name, `project.json cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
    }
    let meta: ProjectMeta;
    try {
      meta = { name, ...ProjectFile.parse(JSON.parse(raw)) };
    } catch (err) {
      const why =
        err instanceof z.ZodError
          ? err.issues.map((i) => `${i.path.join('.') || 'value'}: ${i.message}`).join('; ')
          : 'not valid JSON';
      throw projectDamaged(name, `project.json ${why}`.slice(0, 300));
    }
    // Class folders added by hand (or left by a crash between mkdir and the JSON write) are picked up.
    const folders = existsSync(this.imagesDir(name))
      ? (await readdir(this.imagesDir(name), { withFileTypes: true }))
          .filter((e) => e.isDirectory() && !e.name.startsWith('.'))
          .map((e) => e.name)
      : [];
    const classes = meta.classes.filter((c) => folders.includes(c));
    for (const f of folders.sort()) if (!classes.includes(f)) classes.push(f);
    return { ...meta, name, classes };
  }

  private async saveMeta(meta: ProjectMeta): Promise<void> {
    await writeFileAtomic(
      join(this.root, meta.name, 'project.json'),
      JSON.stringify({ ...meta, updatedAt: new Date().toISOString() }, null, 2) + '\n',
    );
  }

  async summary(project: string): Promise<ProjectSummary> {
    const meta = await this.meta(project);
    const classes = await Promise.all(
      meta.classes.map(async (c) => ({ name: c, images: (await this.imageFiles(meta.name, c)).length })),
    );
    return {
      name: meta.name,
      createdAt: meta.createdAt,
      updatedAt: meta.updatedAt,
      classes,
      images: classes.reduce((s, c) => s + c.images, 0),
      latestBundle: await this.latestBundle(meta.name),
    };
  }

  /** The projects, and those whose project.json is damaged (with the reason). */
  async list(): Promise<{ projects: ProjectSummary[]; damaged: DamagedProject[] }> {
    const projects: ProjectSummary[] = [];
    const damaged: DamagedProject[] = [];
    for (const n of await this.names()) {
      try {
        projects.push(await this.summary(n));
      } catch (err) {
        if (err instanceof HttpError && err.code === 'project_damaged')
          damaged.push({ name: n, damaged: true, reason: err.message });
        // else a folder whose name is not a valid project name: not a project of this server
      }
    }
    return { projects, damaged };
  }

  async create(project: unknown, classes: unknown[] = []): Promise<ProjectSummary> {
    const name = validateName('project', project);
    const cls = classes.map((c) => validateName('class', c));
    // Case-only duplicates are refused as addClass does: they would collide on case-insensitive file systems.
    const seen = new Set<string>();
    for (const c of cls) {
      if (seen.has(c.toLowerCase()))
        throw badRequest(
          `class "${c}" is listed twice (names differing only in case count as the same)`,
          'duplicate_class',
        );
      seen.add(c.toLowerCase());
    }
    return this.lock.run(name, async () => {
      if (existsSync(this.dir(name))) throw conflict(`project "${name}" already exists`, 'project_exists');
      // Build it beside the final name and rename: a half-created project is never listed.
      const tmp = join(this.root, `.creating-${randomBytes(6).toString('hex')}`);
      await mkdir(join(tmp, 'images'), { recursive: true });
      for (const c of cls) await mkdir(join(tmp, 'images', c));
      await mkdir(join(tmp, 'bundles'));
      const now = new Date().toISOString();
      await writeFile(
        join(tmp, 'project.json'),
        JSON.stringify({ name, classes: cls, createdAt: now, updatedAt: now }, null, 2) + '\n',
      );
      try {
        await rename(tmp, this.dir(name));
      } catch (err) {
        await rm(tmp, { recursive: true, force: true });
        throw err;
      }
      return this.summary(name);
    });
  }

  async remove(project: string): Promise<void> {
    const meta = await this.meta(project);
    if (this.busy.has(meta.name))
      throw conflict(`project "${meta.name}" is training; cancel the job first`, 'project_busy');
    await this.lock.run(meta.name, async () => {
      // Rename first so the project disappears at once, then delete the files.
      const trash = join(this.root, `.deleting-${randomBytes(6).toString('hex')}`);
      await rename(this.dir(meta.name), trash);
      await rm(trash, { recursive: true, force: true });
    });
  }

  async addClass(project: string, cls: unknown): Promise<ProjectSummary> {
    const name = validateName('class', cls);
    const p = (await this.meta(project)).name;
    await this.lock.run(p, async () => {
      const meta = await this.meta(p);
      if (meta.classes.some((c) => c.toLowerCase() === name.toLowerCase()))
        throw conflict(`class "${name}" already exists in "${p}"`, 'class_exists');
      await mkdir(join(this.imagesDir(p), name), { recursive: true });
      await this.saveMeta({ ...meta, classes: [...meta.classes, name] });
    });
    return this.summary(p);
  }

  async renameClass(project: string, from: string, to: unknown): Promise<ProjectSummary> {
    const target = validateName('class', to);
    const p = (await this.meta(project)).name;
    if (this.busy.has(p)) throw conflict(`project "${p}" is training; wait for it or cancel it first`, 'project_busy');
    await this.lock.run(p, async () => {
      const meta = await this.meta(p);
      if (!meta.classes.includes(from)) throw notFound(`no class "${from}" in "${p}"`, 'class_not_found');
      if (from === target) return;
      if (meta.classes.some((c) => c !== from && c.toLowerCase() === target.toLowerCase()))
        throw conflict(`class "${target}" already exists in "${p}"`, 'class_exists');
      await rename(join(this.imagesDir(p), from), join(this.imagesDir(p), target));
      await this.saveMeta({ ...meta, classes: meta.classes.map((c) => (c === from ? target : c)) });
    });
    return this.summary(p);
  }

  async removeClass(project: string, cls: string): Promise<ProjectSummary> {
    const p = (await this.meta(project)).name;
    if (this.busy.has(p)) throw conflict(`project "${p}" is training; wait for it or cancel it first`, 'project_busy');
    await this.lock.run(p, async () => {
      const meta = await this.meta(p);
      if (!meta.classes.includes(cls)) throw notFound(`no class "${cls}" in "${p}"`, 'class_not_found');
      const trash = join(this.dir(p), `.deleting-${randomBytes(6).toString('hex')}`);
      await rename(join(this.imagesDir(p), cls), trash);
      await this.saveMeta({ ...meta, classes: meta.classes.filter((c) => c !== cls) });
      await rm(trash, { recursive: true, force: true });
    });
    return this.summary(p);
  }

  private async imageFiles(project: string, cls: string): Promise<string[]> {
    try {
      return (await readdir(join(this.imagesDir(project), cls))).filter((f) => IMAGE_FILE_RE.test(f));
    } catch {
      return [];
    }
  }

  async requireClass(project: string, cls: string): Promise<string> {
    const meta = await this.meta(project);
    if (!meta.classes.includes(cls)) throw notFound(`no class "${cls}" in "${meta.name}"`, 'class_not_found');
    return meta.name;
  }

  /** Images of one class or of all, oldest first (upload order). */
  async images(project: string, cls?: string): Promise<ImageEntry[]> {
    const meta = await this.meta(project);
    if (cls !== undefined && !meta.classes.includes(cls))
      throw notFound(`no class "${cls}" in "${meta.name}"`, 'class_not_found');
    const out: ImageEntry[] = [];
    for (const c of cls === undefined ? meta.classes : [cls]) {
      for (const file of await this.imageFiles(meta.name, c)) {
        try {
          const st = await stat(join(this.imagesDir(meta.name), c, file));
          out.push({ class: c, file, bytes: st.size, addedAt: st.mtime.toISOString() });
        } catch {
          // removed meanwhile
        }
      }
    }
    return out.sort((a, b) => a.addedAt.localeCompare(b.addedAt) || a.file.localeCompare(b.file));
  }

  async imagePath(project: string, cls: string, file: string): Promise<string> {
    const p = await this.requireClass(project, cls);
    const path = join(this.imagesDir(p), cls, checkImageFile(file));
    if (!existsSync(path)) throw notFound(`no image "${file}" in class "${cls}"`, 'image_not_found');
    return path;
  }

  /** An image's bytes, read like every image (regular files only, size-capped): a FIFO or /dev/zero is refused. */
  async readImage(project: string, cls: string, file: string): Promise<Buffer> {
    const path = await this.imagePath(project, cls, file);
    try {
      return await readImageBytes(path);
    } catch (err) {
      throw unprocessable(`image "${file}" cannot be read: ${(err as Error).message}`, 'undecodable_image');
    }
  }

  /** Where a file of this project now lives (classes may have been renamed since a result was computed). */
  async findImage(project: string, file: string): Promise<{ class: string; file: string } | undefined> {
    if (!IMAGE_FILE_RE.test(file)) return undefined;
    const meta = await this.meta(project);
    for (const c of meta.classes) if (existsSync(join(this.imagesDir(meta.name), c, file))) return { class: c, file };
    return undefined;
  }

  async removeImage(project: string, cls: string, file: string): Promise<void> {
    const path = await this.imagePath(project, cls, file);
    await rm(path, { force: true });
  }

  /** Where one upload request stages its files and commits them (see UploadBatch). */
  async uploadTarget(project: string, cls: string): Promise<UploadTarget> {
    const p = await this.requireClass(project, cls);
    return {
      project: p,
      cls,
      tmpDir: join(this.dir(p), 'tmp'),
      classDir: async () => join(this.imagesDir(await this.requireClass(p, cls)), cls),
      saveThumb: (file, thumb) => this.writeThumb(p, file, thumb),
      makeThumb: (path) => makeThumbnail(path),
    };
  }

  private thumbPath(project: string, file: string): string {
    return join(this.dir(project), 'thumbs', `${file}.jpg`);
  }

  private async writeThumb(project: string, file: string, data: Buffer): Promise<void> {
    await mkdir(join(this.dir(project), 'thumbs'), { recursive: true });
    await writeFileAtomic(this.thumbPath(project, file), data);
  }

  /** A small JPEG of the image (cover-cropped square), cached on disk by content hash. */
  async thumbnail(project: string, cls: string, file: string): Promise<Buffer> {
    const src = await this.imagePath(project, cls, file);
    const p = validateName('project', project);
    const cached = this.thumbPath(p, file);
    try {
      return await readFile(cached);
    } catch {
      // not cached yet
    }
    const key = `${p}/${file}`;
    let job = this.thumbJobs.get(key);
    if (!job) {
      job = readImageBytes(src)
        .then(makeThumbnail)
        .then(async (buf) => {
          await this.writeThumb(p, file, buf).catch(() => {});
          return buf;
        })
        .catch(() => {
          throw unprocessable(`image "${file}" cannot be decoded`, 'undecodable_image');
        })
        .finally(() => this.thumbJobs.delete(key));
      this.thumbJobs.set(key, job);
    }
    return job;
  }

  async bundleStamps(project: string): Promise<string[]> {
    const dir = this.bundlesDir(project);
    if (!existsSync(dir)) return [];
    const entries = await readdir(dir, { withFileTypes: true });
    return entries
      .filter((e) => e.isDirectory() && !e.name.includes('.tmp') && existsSync(join(dir, e.name, 'classifier.json')))
      .map((e) => e.name)
      .sort();
  }

  async latestBundle(project: string): Promise<string | null> {
    const all = await this.bundleStamps(project);
    return all.length ? all[all.length - 1] : null;
  }

  async bundleDir(project: string, stamp?: string): Promise<{ stamp: string; dir: string }> {
    const p = (await this.meta(project)).name;
    const all = await this.bundleStamps(p);
    const s = stamp ?? all[all.length - 1];
    if (!s || !all.includes(s))
      throw notFound(
        stamp ? `no bundle "${stamp}" in "${p}"` : `project "${p}" has no trained classifier yet; train it first`,
        'no_bundle',
      );
    return { stamp: s, dir: join(this.bundlesDir(p), s) };
  }

  newBundleStamp(): string {
    return new Date().toISOString().replace(/[:.]/g, '-');
  }
}

export async function makeThumbnail(input: string | Buffer): Promise<Buffer> {
  return sharp(input, { failOn: 'error', limitInputPixels: MAX_INPUT_PIXELS })
    .rotate()
    .resize(THUMB_SIZE, THUMB_SIZE, { fit: 'cover', position: 'attention' })
    .flatten({ background: { r: 255, g: 255, b: 255 } })
    .jpeg({ quality: 72 })
    .toBuffer();
}

export { formatBytes } from '../util/format.js';
