// A whole project as one .tar, so it moves between machines: the photos, the classes and the trained bundles.
//   tl-project.json              the manifest (first): format version, tl version, classes, each photo's class and
//                                sha256, each bundle's files with their sha256
//   images/<class>/<file>        the photos (the folder is class-<i> for a class name too long for a tar header)
//   bundles/<stamp>/<file>       the trained bundles (thumbnails and ONNX/TF.js exports are rebuilt on demand)
// The import checks all of it (paths, sizes, every sha256, every photo's type and decode, as an upload is checked)
// in a staging folder beside the projects and renames it into place only then: a refused or killed import leaves no
// project behind, and an existing project is never overwritten.
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { z } from 'zod';
import { readImageBytes } from '../data/image-file.js';
import { formatBytes } from '../util/format.js';
import { VERSION } from '../util/version.js';
import { badRequest, conflict, HttpError, tooLarge, unprocessable } from './errors.js';
import { checkImage } from './image-types.js';
import { makeThumbnail, validateName, type ProjectStore } from './projects.js';
import { tarStream, type TarFile } from './tar.js';
import { readTar, TarFormatError } from './tar-reader.js';
import { stripProjectDir } from './training.js';

export const ARCHIVE_FORMAT = 'tl-project';
export const ARCHIVE_FORMAT_VERSION = 1;
export const MANIFEST_NAME = 'tl-project.json';
const MANIFEST_MAX_BYTES = 64 * 1024 * 1024;
/** Staging folders of imports in progress, beside the projects (never listed: not a valid project name). */
export const IMPORT_STAGING_PREFIX = '.importing-';

const Sha256 = z.string().regex(/^[0-9a-f]{64}$/, 'a sha256 in lower-case hex');
const FileEntry = z.object({ path: z.string().max(400), sha256: Sha256, bytes: z.number().int().nonnegative() });
const Manifest = z.object({
  format: z.literal(ARCHIVE_FORMAT),
  formatVersion: z.number().int(),
  tlVersion: z.string(),
  project: z.string(),
  createdAt: z.string().optional(),
  exportedAt: z.string(),
  classes: z.array(z.string()).max(10_000),
  /** addedAt: when the photo was added (its file's time: photos are listed in that order); tar keeps only seconds. */
  photos: z.array(FileEntry.extend({ class: z.string(), addedAt: z.iso.datetime().optional() })).max(2_000_000),
  bundles: z
    .array(
      z.object({
        stamp: z.string().regex(/^[0-9A-Za-z][0-9A-Za-z_-]{0,63}$/, 'a bundle stamp (letters, digits, - and _)'),
        files: z.array(FileEntry.extend({ name: z.string().regex(/^[A-Za-z0-9][\w.-]{0,99}$/) })).max(100),
      }),
    )
    .max(10_000),
});
export type ArchiveManifest = z.infer<typeof Manifest>;

const TEXT_FILE_RE = /\.(json|html|txt|csv|md)$/i;

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** A class's folder in the archive: its name, unless that does not fit a tar header's prefix. */
function classFolder(cls: string, index: number): string {
  const folder = `images/${cls}`;
  return Buffer.byteLength(folder) <= 155 ? folder : `images/class-${index}`;
}

/**
 * The project as a tar stream (manifest first). Photos are hashed before the stream starts and read again while it
 * is sent; one that changed in between ends the stream with an error rather than sending a wrong hash.
 */
export async function projectArchive(store: ProjectStore, project: string): Promise<Readable> {
  const meta = await store.meta(project);
  const images = await store.images(meta.name);
  const photos: (ArchiveManifest['photos'][number] & { source: string; mtime: Date })[] = [];
  for (const img of images) {
    const source = join(store.imagesDir(meta.name), img.class, img.file);
    const bytes = await readImageBytes(source);
    photos.push({
      path: `${classFolder(img.class, meta.classes.indexOf(img.class))}/${img.file}`,
      class: img.class,
      sha256: sha256(bytes),
      bytes: bytes.length,
      source,
      mtime: new Date(img.addedAt),
    });
  }
  const bundles: { stamp: string; files: { name: string; path: string; data: Buffer; mtime: Date }[] }[] = [];
  for (const stamp of await store.bundleStamps(meta.name)) {
    const dir = join(store.bundlesDir(meta.name), stamp);
    const files = [];
    for (const e of (await readdir(dir, { withFileTypes: true })).filter((x) => x.isFile()).sort()) {
      const path = join(dir, e.name);
      let data = await readFile(path);
      // Bundles trained before paths were saved relative to the project still name its folder: take it out.
      if (TEXT_FILE_RE.test(e.name)) data = Buffer.from(stripProjectDir(data.toString('utf8'), store.dir(meta.name)));
      files.push({ name: e.name, path: `bundles/${stamp}/${e.name}`, data, mtime: (await stat(path)).mtime });
    }
    bundles.push({ stamp, files });
  }
  const manifest: ArchiveManifest = {
    format: ARCHIVE_FORMAT,
    formatVersion: ARCHIVE_FORMAT_VERSION,
    tlVersion: VERSION,
    project: meta.name,
    createdAt: meta.createdAt,
    exportedAt: new Date().toISOString(),
    classes: meta.classes,
    photos: photos.map(({ path, class: cls, sha256: hash, bytes, mtime }) => ({
      path,
      class: cls,
      sha256: hash,
      bytes,
      addedAt: mtime.toISOString(),
    })),
    bundles: bundles.map((b) => ({
      stamp: b.stamp,
      files: b.files.map((f) => ({ name: f.name, path: f.path, sha256: sha256(f.data), bytes: f.data.length })),
    })),
  };
  async function* files(): AsyncGenerator<TarFile> {
    yield { path: MANIFEST_NAME, mtime: new Date(), body: Buffer.from(JSON.stringify(manifest, null, 1) + '\n') };
    for (const p of photos) {
      const data = await readImageBytes(p.source);
      if (sha256(data) !== p.sha256)
        throw new Error(`photo ${p.path} changed while the archive was sent; download it again`);
      yield { path: p.path, mtime: p.mtime, body: data };
    }
    for (const b of bundles) for (const f of b.files) yield { path: f.path, mtime: f.mtime, body: f.data };
  }
  return tarStream(files());
}

export function archiveFileName(project: string): string {
  return `${project.replace(/[^\w.-]+/g, '_')}.tl-project.tar`;
}

/** A tar path the import takes: relative, '/'-separated, no '.' or '..' part, no NUL or backslash. */
function checkEntryPath(path: string): void {
  const parts = path.replace(/\/+$/, '').split('/');
  if (
    !path ||
    path.startsWith('/') ||
    /[\0\\]/.test(path) ||
    /^[A-Za-z]:/.test(path) ||
    parts.some((p) => p === '..' || p === '.' || p === '')
  )
    throw badRequest(
      `tar entry "${path.slice(0, 120)}" points outside the project (an absolute path, or a . or .. part); nothing was imported`,
      'archive_unsafe_path',
    );
}

function readManifest(text: string): ArchiveManifest {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw badRequest(`${MANIFEST_NAME} is not valid JSON; nothing was imported`, 'archive_invalid');
  }
  const version = (raw as { formatVersion?: unknown })?.formatVersion;
  if (typeof version === 'number' && version > ARCHIVE_FORMAT_VERSION)
    throw unprocessable(
      `this archive has format version ${version}, newer than this tl reads (${ARCHIVE_FORMAT_VERSION}); update tl (it was written by tl ${String((raw as { tlVersion?: unknown }).tlVersion).slice(0, 20)})`,
      'archive_unsupported',
    );
  const r = Manifest.safeParse(raw);
  if (!r.success)
    throw badRequest(
      `${MANIFEST_NAME} is not a tl project manifest: ${r.error.issues
        .slice(0, 3)
        .map((i) => `${i.path.join('.') || 'value'}: ${i.message}`)
        .join('; ')}; nothing was imported`.slice(0, 400),
      'archive_invalid',
    );
  return r.data;
}

interface Expected {
  sha256: string;
  bytes: number;
  /** Where it goes in the staging folder. */
  dest: string;
  kind: 'photo' | 'bundle';
  /** The file's time to restore (the manifest's, to the millisecond; else the tar header's). */
  time?: Date;
  seen: boolean;
}

/** What the manifest says the archive holds, keyed by tar path; names checked as the API checks them. */
function expectedFiles(m: ArchiveManifest, staging: string, maxImageBytes: number): Map<string, Expected> {
  const classes = m.classes.map((c) => validateName('class', c));
  const lower = new Set<string>();
  for (const c of classes) {
    if (lower.has(c.toLowerCase()))
      throw badRequest(`${MANIFEST_NAME} lists class "${c}" twice; nothing was imported`, 'archive_invalid');
    lower.add(c.toLowerCase());
  }
  const out = new Map<string, Expected>();
  const add = (path: string, e: Omit<Expected, 'seen'>) => {
    checkEntryPath(path);
    if (path === MANIFEST_NAME || out.has(path))
      throw badRequest(`${MANIFEST_NAME} lists "${path.slice(0, 120)}" twice; nothing was imported`, 'archive_invalid');
    out.set(path, { ...e, seen: false });
  };
  m.photos.forEach((p, i) => {
    if (!classes.includes(p.class))
      throw badRequest(
        `${MANIFEST_NAME}: photo ${p.path.slice(0, 120)} is in class "${p.class.slice(0, 64)}", which the manifest does not list; nothing was imported`,
        'archive_invalid',
      );
    if (p.bytes > maxImageBytes)
      throw tooLarge(
        `archive photo ${p.path.slice(0, 120)} is larger than the ${formatBytes(maxImageBytes)} limit of one image; nothing was imported`,
      );
    // Staged under its index; named by content (as an upload is) once its type is known.
    add(p.path, {
      sha256: p.sha256,
      bytes: p.bytes,
      dest: join(staging, 'incoming', String(i)),
      kind: 'photo',
      time: p.addedAt ? new Date(p.addedAt) : undefined,
    });
  });
  const stamps = new Set<string>();
  for (const b of m.bundles) {
    if (stamps.has(b.stamp))
      throw badRequest(`${MANIFEST_NAME} lists bundle ${b.stamp} twice; nothing was imported`, 'archive_invalid');
    stamps.add(b.stamp);
    if (!b.files.some((f) => f.name === 'classifier.json'))
      throw badRequest(
        `${MANIFEST_NAME}: bundle ${b.stamp} has no classifier.json; nothing was imported`,
        'archive_invalid',
      );
    for (const f of b.files)
      add(f.path, {
        sha256: f.sha256,
        bytes: f.bytes,
        dest: join(staging, 'bundles', b.stamp, f.name),
        kind: 'bundle',
      });
  }
  return out;
}

/** Counts the body's bytes and stops at the limit (413) before more is written anywhere. */
async function* bounded(source: AsyncIterable<Uint8Array>, maxBytes: number): AsyncGenerator<Uint8Array> {
  let total = 0;
  for await (const chunk of source) {
    total += chunk.length;
    if (total > maxBytes)
      throw tooLarge(
        `the archive is larger than the ${formatBytes(maxBytes)} limit (TL_MAX_ARCHIVE_BYTES); nothing was imported`,
      );
    yield chunk;
  }
}

/** Write one entry's bytes to `dest` (synced), checking its size and sha256 against the manifest. */
async function receive(path: string, body: AsyncIterable<Buffer>, size: number, want: Expected): Promise<void> {
  if (size !== want.bytes)
    throw unprocessable(
      `tar entry ${path.slice(0, 120)} has ${size} bytes, the manifest says ${want.bytes}; nothing was imported`,
      'archive_hash_mismatch',
    );
  const hash = createHash('sha256');
  const fh = await open(want.dest, 'wx');
  try {
    for await (const piece of body) {
      hash.update(piece);
      await fh.write(piece);
    }
    await fh.sync();
  } finally {
    await fh.close();
  }
  if (hash.digest('hex') !== want.sha256)
    throw unprocessable(
      `${path.slice(0, 120)} does not match its sha256 in ${MANIFEST_NAME} (damaged or altered archive); nothing was imported`,
      'archive_hash_mismatch',
    );
}

export interface ImportResult {
  project: string;
  photos: number;
  bundles: number;
}

/** Refused unless `name` is free: an import never overwrites a project. */
function checkFree(store: ProjectStore, name: string, renamed: boolean): void {
  if (existsSync(store.dir(name)))
    throw conflict(
      renamed
        ? `project "${name}" already exists; choose another name for the import (nothing was imported)`
        : `project "${name}" already exists; import it under a new name (the name field, or ?name=) — nothing was imported`,
      'project_exists',
    );
}

/**
 * Import a project archive (a tar stream) under its own name or `newName`. All or nothing: on any failure the
 * staging folder is removed and no project appears.
 */
export async function importProjectArchive(
  store: ProjectStore,
  source: AsyncIterable<Uint8Array>,
  opts: { newName?: string; maxBytes: number; maxImageBytes: number },
): Promise<ImportResult> {
  const renamed = opts.newName !== undefined;
  const wanted = renamed ? validateName('project', opts.newName) : undefined;
  if (wanted) checkFree(store, wanted, true);
  const staging = join(store.root, `${IMPORT_STAGING_PREFIX}${randomBytes(8).toString('hex')}`);
  await mkdir(join(staging, 'incoming'), { recursive: true });
  try {
    let manifest: ArchiveManifest | undefined;
    let expected = new Map<string, Expected>();
    let name = wanted;
    try {
      for await (const { entry, body } of readTar(bounded(source, opts.maxBytes))) {
        checkEntryPath(entry.path);
        const path = entry.path.replace(/\/+$/, '');
        if (!manifest) {
          if (entry.type !== 'file' || path !== MANIFEST_NAME)
            throw badRequest(
              `not a tl project archive: its first entry is "${path.slice(0, 120)}", not ${MANIFEST_NAME} (make one with GET /v1/projects/NAME/archive); nothing was imported`,
              'archive_invalid',
            );
          if (entry.size > MANIFEST_MAX_BYTES)
            throw badRequest(`${MANIFEST_NAME} is implausibly large; nothing was imported`, 'archive_invalid');
          const parts: Buffer[] = [];
          for await (const piece of body) parts.push(piece);
          manifest = readManifest(Buffer.concat(parts).toString('utf8'));
          name ??= validateName('project', manifest.project);
          checkFree(store, name, renamed); // before the photos are uploaded into the staging folder
          expected = expectedFiles(manifest, staging, opts.maxImageBytes);
          for (const b of manifest.bundles) await mkdir(join(staging, 'bundles', b.stamp), { recursive: true });
          continue;
        }
        if (entry.type === 'directory') continue;
        const want = expected.get(path);
        if (!want)
          throw badRequest(
            `tar entry "${path.slice(0, 120)}" is not listed in ${MANIFEST_NAME}; nothing was imported`,
            'archive_invalid',
          );
        if (want.seen)
          throw badRequest(`tar entry "${path.slice(0, 120)}" appears twice; nothing was imported`, 'archive_invalid');
        want.seen = true;
        await receive(path, body, entry.size, want);
        const time = want.time ?? entry.mtime;
        await utimes(want.dest, time, time); // photos keep their upload order (by time added)
      }
    } catch (err) {
      if (err instanceof TarFormatError)
        throw badRequest(
          `${err.message}; nothing was imported`,
          err.kind === 'truncated' ? 'archive_truncated' : 'archive_invalid',
        );
      throw err;
    }
    if (!manifest) throw badRequest('the archive is empty; nothing was imported', 'archive_invalid');
    const missing = [...expected].filter(([, e]) => !e.seen).map(([p]) => p);
    if (missing.length)
      throw badRequest(
        `the archive lacks ${missing.length} file(s) its manifest lists (first: ${missing[0].slice(0, 120)}), so it is truncated or incomplete; nothing was imported`,
        'archive_truncated',
      );
    const photos = await placePhotos(manifest, staging);
    await writeFile(
      join(staging, 'project.json'),
      JSON.stringify(
        {
          name,
          classes: manifest.classes,
          createdAt: manifest.createdAt ?? manifest.exportedAt,
          updatedAt: new Date().toISOString(),
        },
        null,
        2,
      ) + '\n',
    );
    checkFree(store, name!, renamed);
    try {
      await rename(staging, store.dir(name!));
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOTEMPTY' || code === 'EEXIST') checkFree(store, name!, renamed);
      throw err;
    }
    return { project: name!, photos, bundles: manifest.bundles.length };
  } finally {
    await rm(staging, { recursive: true, force: true }).catch(() => {});
  }
}

/**
 * Check every staged photo as an upload is checked (type and header, then a full decode that also makes its
 * thumbnail) and move it to images/<class>/<sha256 prefix>.<ext>. Returns the number of photos.
 */
async function placePhotos(m: ArchiveManifest, staging: string): Promise<number> {
  for (const c of m.classes) await mkdir(join(staging, 'images', c), { recursive: true });
  await mkdir(join(staging, 'thumbs'), { recursive: true });
  const queue = m.photos.map((p, i) => ({ ...p, staged: join(staging, 'incoming', String(i)) }));
  const worker = async () => {
    for (let p = queue.shift(); p; p = queue.shift()) {
      let file: string;
      let thumb: Buffer;
      try {
        const { ext } = await checkImage(p.staged, undefined, p.path);
        file = `${p.sha256.slice(0, 16)}.${ext}`;
        thumb = await makeThumbnail(p.staged).catch(() => {
          throw unprocessable(`"${p.path}" is truncated or corrupt; it cannot be decoded`, 'undecodable_image');
        });
      } catch (err) {
        if (err instanceof HttpError)
          throw new HttpError(err.statusCode, err.code, `archive photo: ${err.message}; nothing was imported`);
        throw err;
      }
      await rename(p.staged, join(staging, 'images', p.class, file));
      await writeFile(join(staging, 'thumbs', `${file}.jpg`), thumb);
    }
  };
  await Promise.all(Array.from({ length: Math.min(4, queue.length) }, worker));
  await rm(join(staging, 'incoming'), { recursive: true, force: true });
  return m.photos.length;
}

/** Staging folders a killed import left behind (at start-up: no import runs yet). */
export async function removeStaleImports(store: ProjectStore): Promise<void> {
  if (!existsSync(store.root)) return;
  for (const e of await readdir(store.root))
    if (e.startsWith(IMPORT_STAGING_PREFIX)) await rm(join(store.root, e), { recursive: true, force: true });
}
