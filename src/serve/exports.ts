// Exports of project bundles (what `tl export` makes): ONNX or TF.js, under <project>/exports/<stamp>/<format>/, with
// the agreement check beside it (<format>.check.json). Each export runs in a child process (export-child.ts).
// Concurrent requests for the same export share one run.
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ExportFormat, ExportMetadata } from '../export/export.js';
import { readExportMetadata } from '../export/export.js';
import { envSnapshot } from './child-protocol.js';
import { callChild } from './child-call.js';
import { unprocessable } from './errors.js';
import type { ExportReply, ExportRequest } from './export-child.js';
import type { ProjectStore } from './projects.js';
import { stripProjectDir } from './training.js';

export const EXPORT_FORMATS: ExportFormat[] = ['onnx', 'tfjs'];
/** Validation photos the agreement check runs on, at most (`tl export` checks them all). */
export const EXPORT_CHECK_LIMIT = 100;

export interface ExportInfo {
  format: ExportFormat;
  files: { name: string; bytes: number }[];
  check: Extract<ExportReply, { type: 'result' }>['check'];
  problems: string[];
  metadata: ExportMetadata;
  exportedAt: string;
}

export const exportDir = (store: ProjectStore, project: string, stamp: string, format: ExportFormat) =>
  join(store.dir(project), 'exports', stamp, format);
const checkFile = (store: ProjectStore, project: string, stamp: string, format: ExportFormat) =>
  join(store.dir(project), 'exports', stamp, `${format}.check.json`);

/** The export of a bundle in a format, if it was made. */
export async function readExport(
  store: ProjectStore,
  project: string,
  stamp: string,
  format: ExportFormat,
): Promise<ExportInfo | undefined> {
  const path = checkFile(store, project, stamp, format);
  if (!existsSync(path)) return undefined;
  try {
    const saved = JSON.parse(await readFile(path, 'utf8')) as Omit<ExportInfo, 'metadata'>;
    return { ...saved, metadata: await readExportMetadata(exportDir(store, project, stamp, format)) };
  } catch {
    return undefined; // half written or removed by hand: made again on request
  }
}

const inFlight = new Map<string, Promise<ExportInfo>>();

/** Export a bundle (again) in a format, in a child process; resolves with the export and its check. */
export function makeExport(
  store: ProjectStore,
  project: string,
  stamp: string,
  bundleDir: string,
  format: ExportFormat,
): Promise<ExportInfo> {
  const key = `${project}\n${stamp}\n${format}`;
  let p = inFlight.get(key);
  if (!p) {
    p = runExport(store, project, stamp, bundleDir, format).finally(() => inFlight.delete(key));
    inFlight.set(key, p);
  }
  return p;
}

async function runExport(
  store: ProjectStore,
  project: string,
  stamp: string,
  bundleDir: string,
  format: ExportFormat,
): Promise<ExportInfo> {
  const out = exportDir(store, project, stamp, format);
  await mkdir(join(out, '..'), { recursive: true });
  const request: ExportRequest = {
    env: envSnapshot(),
    bundleDir,
    imagesDir: store.imagesDir(project),
    out,
    format,
    checkLimit: EXPORT_CHECK_LIMIT,
  };
  const reply = await inChild(request);
  const strip = (t: string) => stripProjectDir(t, store.dir(project));
  if (reply.type === 'error')
    throw unprocessable(strip(reply.message + (reply.hint ? ` (${reply.hint})` : '')), 'export_failed');
  const check =
    'reason' in reply.check
      ? { reason: strip(reply.check.reason) }
      : { ...reply.check, source: strip(reply.check.source) };
  const saved = { format, files: reply.files, check, problems: reply.problems, exportedAt: new Date().toISOString() };
  await writeFile(checkFile(store, project, stamp, format), JSON.stringify(saved, null, 1) + '\n');
  return { ...saved, metadata: await readExportMetadata(out) };
}

function inChild(request: ExportRequest): Promise<ExportReply> {
  return callChild<ExportRequest, ExportReply>('export-child', request, (why) => ({
    type: 'error',
    message: `the export process ended unexpectedly (${why})`,
    hint: null,
  }));
}
