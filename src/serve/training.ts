// Training a project: trainClassifier on the project's images folder (an ImageFolder; seeded stratified split),
// progress turned into job events, the bundle saved under bundles/<timestamp>/ with its HTML report, the curve and
// every misclassified validation image.
import { basename, dirname, join, relative, sep } from 'node:path';
import { trainClassifier, type HeadSpec, type TrainEvent, type TrainOptions } from '../training/train.js';
import { parseTrainRequestBody, trainRequestSchema } from '../options/train-schema.js';
import { normaliseStrategy } from '../options/normalise.js';
import { TRAIN_OPTIONS, type TrainRequestBody } from '../options/train-options.js';
import { parseHeadSpec } from '../classifier/head-spec.js';
import type { Classifier } from '../classifier/classifier.js';
import { renderHtmlReport } from '../eval/report.js';
import { listModels } from '../backbone/registry.js';
import { TlError } from '../util/errors.js';
import type { Job } from './jobs.js';
import type { ProjectStore, ProjectSummary } from './projects.js';
import { badRequest, unprocessable } from './errors.js';
import { TRAINED_ON_FILE, trainedOnRecord } from './project-models.js';

/** A training request: the option table's API keys (options/train-options.ts), the head parsed. */
export type TrainRequest = Omit<TrainRequestBody, 'head'> & { head: HeadSpec };

/** The server's schema: the web app trains the head it asks for, so strategy defaults to head here (auto elsewhere). */
export const TRAIN_REQUEST_SCHEMA = trainRequestSchema({ strategy: 'head' });
const SERVER_STRATEGY = 'head';

export interface Misclassified {
  /** <class>/<file> inside the project's images folder, when training ran. */
  image: string;
  trueLabel: string;
  predictedLabel: string;
  probability: number;
  probabilities: Record<string, number>;
}

/** 422 unless the project can be trained (a training request, and a plan of one). */
export function requireTrainable(s: ProjectSummary): void {
  if (s.classes.length < 2)
    throw unprocessable(
      `a classifier needs at least two classes; "${s.name}" has ${s.classes.length}`,
      'not_enough_classes',
    );
  const empty = s.classes.filter((c) => c.images === 0);
  if (empty.length) {
    const names = empty.map((c) => `"${c.name}"`).join(', ');
    throw unprocessable(
      `class${empty.length > 1 ? 'es' : ''} without images: ${names}; add photos or remove ${empty.length > 1 ? 'them' : 'it'}`,
      'empty_class',
    );
  }
}

/**
 * Validate a JSON body into training options: the table's schema (unknown keys and values out of range are a 400
 * naming them), the library's one strategy rule, the head's one parser, a known backbone.
 */
export function parseTrainRequest(body: unknown): TrainRequest {
  let b: TrainRequestBody;
  try {
    b = normaliseStrategy(parseTrainRequestBody(body, TRAIN_REQUEST_SCHEMA), 'key');
  } catch (e) {
    if (e instanceof TlError) throw badRequest(e.message, 'invalid_option');
    throw e;
  }
  // The library's one head-spec parser: the same syntax as the CLI's --head; the table's default when not given.
  let head: HeadSpec;
  try {
    head = parseHeadSpec(b.head ?? TRAIN_OPTIONS.head.default);
  } catch (e) {
    throw badRequest((e as Error).message, 'invalid_option');
  }
  if (b.model !== undefined && !listModels().some((m) => m.id === b.model))
    throw badRequest(
      `unknown backbone "${b.model}"; known: ${listModels()
        .map((m) => m.id)
        .join(', ')}`,
      'invalid_option',
    );
  return { ...b, head };
}

/**
 * The same JSON value with the project's absolute folder taken out of every string: paths become relative to the
 * project (images/ants/x.jpg), so a downloaded bundle or report does not reveal where the server keeps its files.
 */
export function withoutProjectDir<T>(value: T, projectDir: string): T {
  return JSON.parse(JSON.stringify(value), (_key, v: unknown) =>
    typeof v === 'string' ? stripProjectDir(v, projectDir) : v,
  ) as T;
}

/** Text with the project's absolute folder taken out (for bundles saved before paths were made relative). */
export function stripProjectDir(text: string, projectDir: string): string {
  const prefix = projectDir.endsWith(sep) ? projectDir : projectDir + sep;
  return text.split(prefix).join('').split(projectDir).join('.');
}

/** Where each job's current epoch started being timed: its first step event (the setup before it is not a step). */
const epochClock = new WeakMap<Job, { epoch: number; done: number; at: number; rate: number | null }>();

/**
 * Fine-tuning's images per second in this epoch, from its step events (the page's ETA divides by it); before a
 * second step of the epoch, the last epoch's rate (null in the first).
 */
function stepRate(job: Job, epoch: number, done: number): number | null {
  const now = performance.now();
  const c = epochClock.get(job);
  if (!c || c.epoch !== epoch) {
    epochClock.set(job, { epoch, done, at: now, rate: c?.rate ?? null });
    return c?.rate ?? null;
  }
  if (now > c.at && done > c.done) c.rate = Math.round(((done - c.done) / ((now - c.at) / 1000)) * 10) / 10;
  return c.rate;
}

const r4 = (v: number | undefined) => (v === undefined || !Number.isFinite(v) ? null : Math.round(v * 10_000) / 10_000);

function toJobEvent(job: Job, imagesDir: string, e: TrainEvent): void {
  switch (e.type) {
    case 'dataset':
      job.emit('dataset', {
        classes: e.dataset.classes,
        counts: e.counts,
        warnings: withoutProjectDir(e.warnings, dirname(imagesDir)),
        split: e.dataset.splitSource,
      });
      break;
    case 'backbone':
      job.emit('backbone', { id: e.id, featureDim: e.featureDim });
      break;
    case 'extract-start':
      job.emit('extract-start', { split: e.split, total: e.total });
      break;
    case 'extract': {
      const p = e.progress;
      const seconds = p.elapsedMs / 1000;
      job.emitThrottled('extract', `extract-${e.split}`, {
        split: e.split,
        done: p.done,
        total: p.total,
        embedded: p.embedded,
        cached: p.cached,
        skipped: p.skipped,
        elapsedSeconds: r4(seconds),
        imagesPerSecond: seconds > 0 ? Math.round((p.done / seconds) * 10) / 10 : null,
      });
      break;
    }
    case 'extract-done':
      job.flush(`extract-${e.split}`);
      job.emit('extract-done', {
        split: e.split,
        embedded: e.embedded,
        cached: e.cached,
        skipped: e.skipped,
        seconds: r4(e.seconds),
      });
      break;
    case 'skip':
      job.emit('skip', { image: relative(imagesDir, e.file.path).split(sep).join('/'), reason: e.file.reason });
      break;
    case 'select-l2': {
      const best = e.selection.curve.find((p) => p.l2 === e.selection.best);
      job.emit('select-l2', { l2: e.selection.best, cvAccuracy: r4(best?.cvAccuracy), seconds: r4(e.seconds) });
      break;
    }
    case 'progress':
      job.emit('progress', {
        step: e.point.step,
        of: e.of ?? null,
        trainLoss: r4(e.point.trainLoss),
        trainAcc: r4(e.point.trainAcc),
        valLoss: r4(e.point.valLoss),
        valAcc: r4(e.point.valAcc),
      });
      break;
    case 'plan':
      // The reason may quote a command naming the images folder: paths relative to the project, as everywhere.
      job.emit(
        'plan',
        withoutProjectDir(
          {
            choice: e.plan.choice,
            reason: e.plan.reason,
            timeBudget: e.plan.timeBudget,
            estimates: e.plan.estimates.map((x) => ({
              rung: x.rung,
              seconds: r4(x.seconds),
              expectedGain: x.expectedGain,
              detail: x.detail,
            })),
            blockedByBudget: e.plan.blockedByBudget
              ? { rung: e.plan.blockedByBudget.rung, seconds: r4(e.plan.blockedByBudget.seconds) }
              : null,
          },
          dirname(imagesDir),
        ),
      );
      break;
    case 'finetune-setup':
      job.emit('finetune-setup', {
        cut: e.cut,
        trainable: e.trainable,
        backend: e.backend,
        device: e.device ?? null,
        size: e.size ?? null,
        note: e.note ?? null,
      });
      break;
    case 'finetune-step':
      job.emitThrottled('finetune-step', 'finetune-step', {
        epoch: e.epoch,
        of: e.of,
        done: e.done,
        total: e.total,
        imagesPerSecond: stepRate(job, e.epoch, e.done),
      });
      break;
    case 'finetune-budget':
      job.emit('finetune-budget', { epochs: e.epochs, of: e.of });
      break;
    case 'finetune-resume':
      // The checkpoint's folder is in the server's cache: the client needs the epoch only.
      job.emit('finetune-resume', { epoch: e.epoch, of: e.of });
      break;
    case 'finetune-epoch':
      job.flush('finetune-step');
      job.emit('finetune-epoch', { epoch: e.epoch, seconds: r4(e.seconds), images: e.images });
      break;
    case 'done':
      break;
  }
}

/**
 * Run one training job to the end. `onTrained` receives the saved bundle and the live classifier (so predictions can
 * use it at once); it then owns the classifier.
 */
export async function runProjectTraining(
  job: Job,
  store: ProjectStore,
  req: TrainRequest,
  onTrained: (stamp: string, dir: string, classifier: Classifier) => Promise<void>,
  log: (msg: string) => void = () => {},
): Promise<void> {
  const project = job.project;
  const imagesDir = store.imagesDir(project);
  const projectDir = store.dir(project);
  store.busy.add(project);
  job.emit('state', { state: 'running' });
  try {
    const r = await trainClassifier(imagesDir, {
      ...req,
      // The web app trains the head it was asked for (linear or MLP); `tl train` and the library default to auto.
      strategy: req.strategy ?? SERVER_STRATEGY,
      signal: job.controller.signal,
      onEvent: (e) => toJobEvent(job, imagesDir, e),
    } as TrainOptions);
    // From here the job ends done: a cancel now is refused (409) rather than answered "cancelling" and then ignored.
    // A cancel that came first (here, or on the server for a child process: startSaving asks it) saves nothing.
    if (!(await job.startSaving())) {
      await r.classifier.dispose();
      job.finish('cancelled');
      return;
    }
    job.emit('saving', {});
    // Every misclassified evaluation image with its probabilities (the metrics keep only the 10 worst); the features
    // come from the feature cache, so this costs no backbone pass.
    const evalItems = r.config.evaluatedOn === 'val' ? r.dataset.val : r.dataset.train;
    const truth = new Map(evalItems.map((x) => [x.path, x.label]));
    const labels = r.classifier.labels;
    const { predictions } = await r.classifier.predictFiles(
      evalItems.map((x) => x.path),
      { top: labels.length },
    );
    const misclassified: Misclassified[] = predictions
      .filter((p) => p.label !== truth.get(p.path))
      .sort((a, b) => b.probability - a.probability)
      .map((p) => ({
        image: relative(imagesDir, p.path).split(sep).join('/'),
        trueLabel: truth.get(p.path)!,
        predictedLabel: p.label,
        probability: r4(p.probability)!,
        probabilities: Object.fromEntries(p.top.map((t) => [t.label, r4(t.probability)!])),
      }));
    const stamp = store.newBundleStamp();
    const dir = join(store.bundlesDir(project), stamp);
    // What is saved names the project's files relative to the project (config.data = "images", metric paths).
    const config = withoutProjectDir(r.config, projectDir);
    const metrics = withoutProjectDir(r.metrics, projectDir);
    r.classifier.data.config = config;
    r.classifier.data.metrics = metrics;
    const html = renderHtmlReport({
      title: `tl: ${project} on ${r.config.model}`,
      metrics,
      history: r.history,
      config,
      cvCurve: r.selection?.curve,
    });
    await r.classifier.save(dir, {
      'report.html': html,
      'history.json': JSON.stringify(r.history) + '\n',
      'misclassified.json': JSON.stringify(misclassified, null, 1) + '\n',
      // What it was trained on (classes, photos by content hash): the server marks the model stale when they change.
      [TRAINED_ON_FILE]:
        JSON.stringify(
          trainedOnRecord(
            r.dataset.classes,
            [...r.dataset.train, ...r.dataset.val, ...r.dataset.test, ...r.dataset.skipped],
            imagesDir,
          ),
        ) + '\n',
      'training.json':
        JSON.stringify(
          withoutProjectDir(
            {
              counts: r.counts,
              warnings: r.warnings,
              timings: r.timings,
              stages: r.stages ?? null,
              plan: r.plan ? { choice: r.plan.choice, reason: r.plan.reason, timeBudget: r.plan.timeBudget } : null,
              selection: r.selection ? { best: r.selection.best, curve: r.selection.curve } : null,
            },
            projectDir,
          ),
          null,
          1,
        ) + '\n',
    });
    await onTrained(stamp, dir, r.classifier);
    job.emit('done', {
      rung: r.config.strategy ?? 'head',
      backbone: r.config.model,
      accuracy: r4(r.metrics.accuracy),
      macroF1: r4(r.metrics.macroF1),
      count: r.metrics.count,
      evaluatedOn: r.config.evaluatedOn,
      bundle: stamp,
      seconds: r4(r.timings.totalSeconds),
      extractSeconds: r4(r.timings.extractSeconds),
      trainSeconds: r4(r.timings.trainSeconds),
    });
    job.finish('done', { bundle: stamp });
  } catch (err) {
    if (job.controller.signal.aborted) {
      job.finish('cancelled');
      return;
    }
    const message = withoutProjectDir(
      err instanceof TlError
        ? err.message + (err.hint ? ` (${err.hint})` : '')
        : `training failed: ${(err as Error)?.message ?? String(err)}`,
      projectDir,
    );
    if (!(err instanceof TlError))
      log(`training job ${job.id} of ${project} failed: ${(err as Error)?.stack ?? String(err)}`);
    job.emit('failed', { message });
    job.finish('failed', { error: message });
  } finally {
    store.busy.delete(project);
  }
}

export function bundleDownloadName(project: string, stamp: string): string {
  return `${basename(project).replace(/[^\w.-]+/g, '_')}-${stamp}`;
}
