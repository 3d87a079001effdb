// Thin typed client of the tl serve API (same origin).
// The training request's type is the server's option table itself (type-only: nothing of src/ is bundled).
import type { TrainRequestBody } from '../../src/options/train-options.js';
import { serverReachable, serverUnreachable } from './banner';

export type { TrainRequestBody };

export interface ClassSummary {
  name: string;
  images: number;
}
export interface JobSummary {
  id: string;
  project: string;
  state: 'running' | 'cancelling' | 'done' | 'failed' | 'cancelled';
  error: string | null;
  bundle: string | null;
}
/** A project whose project.json the server cannot read; listed with the reason, left untouched. */
export interface DamagedProject {
  name: string;
  reason: string;
}

export interface Project {
  name: string;
  classes: ClassSummary[];
  images: number;
  latestBundle: string | null;
  activeJob?: JobSummary | null;
  /** The latest model and whether it still matches the classes and photos (GET /v1/projects/{project} only). */
  model?: ModelState | null;
}
/** "Retrain needed": what changed since the model was trained. */
export interface ModelState {
  bundle: string;
  stale: boolean;
  changes: {
    classesAdded: string[];
    classesRemoved: string[];
    classesRenamed: { from: string; to: string }[];
    photosAdded: number;
    photosRemoved: number;
  };
  photosKnown: boolean;
  summary: string;
}
export interface ImageEntry {
  class: string;
  file: string;
  url: string;
  thumbnailUrl: string;
}
export interface LabelProb {
  label: string;
  probability: number;
}
export interface Prediction {
  label: string;
  probability: number;
  top: LabelProb[];
  unknown: boolean;
  timing: { totalMs: number; batchSize: number };
}
export interface HistoryPoint {
  step: number;
  trainLoss: number | null;
  trainAcc: number | null;
  valLoss?: number | null;
  valAcc?: number | null;
}
export interface Results {
  bundle: string;
  accuracy: number;
  count: number;
  evaluatedOn: string | null;
  trainImages: number | null;
  valImages: number | null;
  labels: string[];
  perClass: { label: string; accuracy: number; precision: number; recall: number; f1: number; support: number }[];
  confusion: number[][];
  misclassified: {
    file: string;
    trueLabel: string;
    predictedLabel: string;
    probability: number;
    probabilities: Record<string, number>;
    thumbnailUrl: string | null;
    url: string | null;
  }[];
  history: HistoryPoint[];
  downloadUrl: string;
  reportUrl: string;
  backbone: string;
  /** The ladder rung that trained it. */
  rung: 'head' | 'partial' | 'full';
  splits: Splits | null;
  timings: { totalSeconds: number; extractSeconds: number; trainSeconds: number } | null;
  plan: { choice: string; reason: string; timeBudget: number } | null;
  exportsUrl: string;
}
/** Which split every number is on (the bundle's config.splits). */
export interface Splits {
  reported: { split: string; images: number; accuracy: number };
  decisions: { split: string; decided: string[]; images: number; accuracy?: number };
  unknown: { calibratedOn: string; targetFlagRate: number; flagRateOnVal?: number };
}
export type ExportCheck =
  | {
      images: number;
      bundleAccuracy: number;
      exportAccuracy: number;
      top1Agreement: number;
      maxProbDiff: number;
      source: string;
    }
  | { reason: string };
export interface ExportView {
  format: 'onnx' | 'tfjs';
  backbone: string;
  labels: string[];
  files: { name: string; bytes: number }[];
  check: ExportCheck;
  snippets: { browser: string; node: string };
  downloadUrl: string;
  filesUrl: string;
  exportedAt: string;
}
export interface Backbone {
  id: string;
  title: string;
  featureDim: number;
  default: boolean;
  onDisk: boolean;
  downloadBytes: number;
  canRun: boolean;
  imagenet: { value: number; metric: 'top-1' | 'linear' | 'zero-shot' };
  goodFor: string;
  fineTunable: boolean;
  unverified: boolean;
}

/** auto's plan of a project (POST /v1/projects/{project}/plan; the server's src/serve/plans.ts PlanView). */
export type Rung = 'head' | 'partial' | 'full';
export interface PlanRung {
  rung: Rung;
  trains: string;
  seconds: number;
  secondsRange: [number, number] | null;
  expectedGain: number | null;
  fitsBudget: boolean;
  chosen: boolean;
}
export interface PlanView {
  backbone: string;
  choice: Rung;
  reason: string;
  timeBudget: number;
  imagesPerClass: number;
  rungs: PlanRung[];
  overBudget: Rung[];
  blockedByBudget: { rung: Rung; seconds: number; gain: number } | null;
  domain: { far: boolean; summary: string } | null;
  backboneAdvice: string | null;
  cached: boolean;
  computeMs: number;
  ms: number;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

async function call<T>(
  method: string,
  url: string,
  body?: BodyInit | object,
  headers: Record<string, string> = {},
  signal?: AbortSignal,
): Promise<T> {
  let payload: BodyInit | undefined;
  if (body instanceof FormData || body instanceof Blob) payload = body;
  else if (body !== undefined) {
    payload = JSON.stringify(body);
    headers = { 'content-type': 'application/json', ...headers };
  }
  let res: Response;
  try {
    res = await fetch(url, { method, body: payload, headers, signal });
  } catch (err) {
    // Dropped by the caller (a newer plan request replaced it): not a sign of the server.
    if (signal?.aborted) throw err;
    // The banner says it (once) and retries; the caller's control gets its state back.
    serverUnreachable();
    throw new ApiError(0, `cannot reach the tl server at ${location.host}; is \`tl serve\` still running?`);
  }
  serverReachable();
  if (res.status === 204) return undefined as T;
  const text = await res.text();
  let data: unknown;
  try {
    data = text ? JSON.parse(text) : undefined;
  } catch {
    data = undefined;
  }
  if (!res.ok) {
    const msg =
      (data as { error?: { message?: string } } | undefined)?.error?.message ?? `${res.status} ${res.statusText}`;
    throw new ApiError(res.status, msg);
  }
  return data as T;
}

const p = (name: string) => `/v1/projects/${encodeURIComponent(name)}`;
/** The project's live stream (Server-Sent Events). */
export const projectEventsUrl = (name: string) => `${p(name)}/events`;
const c = (project: string, cls: string) => `${p(project)}/classes/${encodeURIComponent(cls)}`;

export const api = {
  projects: () => call<{ projects: Project[]; damaged?: DamagedProject[] }>('GET', '/v1/projects'),
  project: (name: string) => call<Project>('GET', p(name)),
  createProject: (name: string) => call<Project>('POST', '/v1/projects', { name }),
  deleteProject: (name: string) => call<void>('DELETE', p(name)),
  addClass: (project: string, name: string) => call<Project>('POST', `${p(project)}/classes`, { name }),
  renameClass: (project: string, cls: string, name: string) => call<Project>('PATCH', c(project, cls), { name }),
  removeClass: (project: string, cls: string) => call<Project>('DELETE', c(project, cls)),
  images: (project: string) => call<{ images: ImageEntry[] }>('GET', `${p(project)}/images`).then((r) => r.images),
  upload: (project: string, cls: string, files: File[]) => {
    const form = new FormData();
    for (const f of files) form.append('file', f, f.name);
    return call<{ added: ImageEntry[]; duplicates: ImageEntry[]; rejected: { file: string; message: string }[] }>(
      'POST',
      `${c(project, cls)}/images`,
      form,
    );
  },
  removeImage: (img: ImageEntry) => call<void>('DELETE', img.url),
  train: (project: string, options: TrainRequestBody) =>
    call<{ job: JobSummary; eventsUrl: string }>('POST', `${p(project)}/train`, options),
  /** `signal` drops the request (the server stops measuring when nobody waits for the plan). */
  plan: (project: string, options: TrainRequestBody, signal?: AbortSignal) =>
    call<PlanView>('POST', `${p(project)}/plan`, options, {}, signal),
  cancel: (jobId: string) => call<JobSummary>('POST', `/v1/jobs/${jobId}/cancel`),
  job: (jobId: string) => call<JobSummary>('GET', `/v1/jobs/${encodeURIComponent(jobId)}`),
  results: (project: string) => call<Results>('GET', `${p(project)}/results`),
  predict: (project: string, image: Blob) =>
    call<Prediction>('POST', `${p(project)}/predict?top=5`, image, {
      'content-type': image.type || 'application/octet-stream',
    }),
  backbones: () => call<Backbone[]>('GET', '/v1/backbones'),
  exports: (exportsUrl: string) => call<{ exports: ExportView[] }>('GET', exportsUrl).then((r) => r.exports),
  makeExport: (exportsUrl: string, format: 'onnx' | 'tfjs') => call<ExportView>('POST', exportsUrl, { format }),
  /** A whole project as one .tar (photos, classes, trained bundles). */
  archiveUrl: (project: string) => `${p(project)}/archive`,
  importProject: (archive: File, name?: string) => {
    const form = new FormData();
    if (name) form.append('name', name); // before the file: the server reads fields that come first
    form.append('file', archive, archive.name);
    return call<{ project: Project; imported: { photos: number; bundles: number } }>(
      'POST',
      '/v1/projects/import',
      form,
    );
  },
};
