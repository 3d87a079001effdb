// auto's plan of a project for the web app's Train panel (POST /v1/projects/{project}/plan): what `tl plan` answers,
// computed in a child process (plan-child.ts) and kept per (photo fingerprint, the options it depends on), so opening
// the panel again is instant. The time budget is not part of the key: the estimates do not depend on it, so a new
// budget is decided again on the kept measurements (plan/plan.ts withTimeBudget) without probing again.
import { createHash } from 'node:crypto';
import { withTimeBudget, type Plan } from '../plan/plan.js';
import { domainSummary } from '../plan/domain-rule.js';
import { DEFAULT_MODEL_ID } from '../backbone/zoo.js';
import { DEFAULT_TIME_BUDGET, TRAIN_OPTIONS } from '../options/train-options.js';
import { envSnapshot } from './child-protocol.js';
import { callChild } from './child-call.js';
import { unprocessable } from './errors.js';
import type { PlanInputs, PlanReply, PlanRequest } from './plan-child.js';
import type { ProjectStore } from './projects.js';
import { parseTrainRequest, requireTrainable, withoutProjectDir } from './training.js';

/** Plans kept (least recently used dropped first): a few per project is what a user flips between. */
const CACHE_SIZE = 32;
/** A measurement nobody has waited for this long is stopped. */
const ABANDON_MS = 2000;
/** As a training child: requests to the server come first on a busy machine. */
const PLAN_NICENESS = 10;

export interface PlanRungView {
  rung: Plan['estimates'][number]['rung'];
  /** What the rung trains, in the plan's words. */
  trains: string;
  seconds: number;
  /** Fine-tuning: the run's seconds if early stopping ends it soonest, and if it runs every epoch. */
  secondsRange: [number, number] | null;
  /** Expected val accuracy change over the head, points; null when no measured set is like this one. */
  expectedGain: number | null;
  fitsBudget: boolean;
  chosen: boolean;
  stages: { stage: string; seconds: number; detail: string | null }[];
}

export interface PlanView {
  backbone: string;
  /** auto's choice and why. */
  choice: Plan['choice'];
  reason: string;
  timeBudget: number;
  imagesPerClass: number;
  trainImages: number;
  rungs: PlanRungView[];
  /** Rungs whose estimate is over the time budget. */
  overBudget: string[];
  /** A rung expected to gain more than the choice, left out only because of the budget. */
  blockedByBudget: { rung: string; seconds: number; gain: number } | null;
  /** The ImageNet-likeness check: far from ImageNet or photo-like, and its one-line summary. */
  domain: { far: boolean; classesPerClass: number; meanTop1: number; images: number; summary: string } | null;
  throughput: Plan['throughput'];
  backboneAdvice: string | null;
  /** This answer came from the cache (no probe ran). */
  cached: boolean;
  /** What measuring cost when it ran (ms, in the child), and what this request cost (ms). */
  computeMs: number;
  ms: number;
}

const r1 = (v: number) => Math.round(v * 10) / 10;

/** The plan as the page shows it: a row per rung, the choice, what the budget rules out, the domain check. */
export function planView(plan: Plan, backbone: string): Omit<PlanView, 'cached' | 'computeMs' | 'ms'> {
  return {
    backbone,
    choice: plan.choice,
    reason: plan.reason,
    timeBudget: plan.timeBudget,
    imagesPerClass: plan.imagesPerClass,
    trainImages: plan.trainImages,
    rungs: plan.estimates.map((e) => ({
      rung: e.rung,
      trains: e.detail,
      seconds: r1(e.seconds),
      secondsRange: e.secondsRange ? [r1(e.secondsRange[0]), r1(e.secondsRange[1])] : null,
      expectedGain: e.expectedGain,
      fitsBudget: e.seconds <= plan.timeBudget,
      // (auto's tries, partial then rung 3, are both chosen: each runs)
      chosen: plan.tries ? plan.tries.includes(e.rung) : e.rung === plan.choice,
      stages: e.stages.map((s) => ({ stage: s.stage, seconds: r1(s.seconds), detail: s.detail ?? null })),
    })),
    overBudget: plan.estimates.filter((e) => e.seconds > plan.timeBudget).map((e) => e.rung),
    blockedByBudget: plan.blockedByBudget
      ? { rung: plan.blockedByBudget.rung, seconds: r1(plan.blockedByBudget.seconds), gain: plan.blockedByBudget.gain }
      : null,
    domain: plan.domain
      ? {
          far: plan.domain.far,
          classesPerClass: Math.round(plan.domain.classesPerClass * 1000) / 1000,
          meanTop1: Math.round(plan.domain.meanTop1 * 1000) / 1000,
          images: plan.domain.images,
          summary: domainSummary(plan.domain),
        }
      : null,
    throughput: plan.throughput,
    backboneAdvice: plan.backboneAdvice?.line ?? null,
  };
}

/** A fingerprint of the project's photos: which files in which class, their sizes and times. */
async function photoFingerprint(store: ProjectStore, project: string): Promise<string> {
  const h = createHash('sha256');
  const images = await store.images(project);
  for (const i of images.map((x) => `${x.class}/${x.file}:${x.bytes}:${x.addedAt}`).sort()) h.update(i + '\n');
  return h.digest('hex');
}

type Measured = { plan: Plan; ms: number };

/** A measurement under way: the requests waiting for it, and what stops it when none is left. */
interface InFlight {
  result: Promise<Measured>;
  waiters: number;
  stop: AbortController;
}

export class ProjectPlans {
  private cache = new Map<string, Measured>();
  private inFlight = new Map<string, InFlight>();
  /** One plan child at a time: each measures this machine, and two at once would measure each other. */
  private queue: Promise<unknown> = Promise.resolve();
  private closed = new AbortController();

  constructor(private store: ProjectStore) {}

  /**
   * The plan of a project for a training request body (400 naming unknown or invalid options). `gone` aborts when
   * the client stops waiting: a measurement nobody waits for any more is stopped (the page asks again when it needs it).
   */
  async plan(project: string, body: unknown, gone?: AbortSignal): Promise<PlanView> {
    const t0 = performance.now();
    const req = parseTrainRequest(body);
    const s = await this.store.summary(project);
    requireTrainable(s);
    // Defaults filled in, so a body that leaves them out and one that names them share a plan.
    const inputs: PlanInputs = {
      model: req.model ?? DEFAULT_MODEL_ID,
      val: req.val ?? TRAIN_OPTIONS.val.default,
      seed: req.seed ?? TRAIN_OPTIONS.seed.default,
      freeze: req.freeze,
      trainLast: req.trainLast,
      replace: req.replace,
    };
    const key = JSON.stringify([s.name, await photoFingerprint(this.store, s.name), inputs]);
    let cached = true;
    let measured = this.cache.get(key);
    if (measured) {
      this.cache.delete(key); // most recently used goes last
      this.cache.set(key, measured);
    } else {
      cached = false;
      measured = await this.measure(key, s.name, inputs, gone);
    }
    const budgeted = withTimeBudget(measured.plan, req.timeBudget ?? DEFAULT_TIME_BUDGET, 'images');
    const view = planView(budgeted, inputs.model!);
    return {
      ...withoutProjectDir(view, this.store.dir(s.name)),
      cached,
      computeMs: Math.round(measured.ms),
      ms: Math.round(performance.now() - t0),
    };
  }

  /** Stop every measurement (the server closes). */
  close(): void {
    this.closed.abort();
  }

  /** Measure in a child; concurrent requests for the same key share one run, stopped when none of them waits. */
  private async measure(key: string, project: string, inputs: PlanInputs, gone?: AbortSignal): Promise<Measured> {
    let entry = this.inFlight.get(key);
    if (!entry) {
      const stop = new AbortController();
      const signal = AbortSignal.any([stop.signal, this.closed.signal]);
      const run = async (): Promise<Measured> => {
        if (signal.aborted) throw unprocessable('the plan was stopped: nobody waits for it', 'plan_failed');
        const request: PlanRequest = { env: envSnapshot(), imagesDir: this.store.imagesDir(project), inputs };
        const reply = await callChild<PlanRequest, PlanReply>(
          'plan-child',
          request,
          (why) => ({ type: 'error', message: `the planning process ended unexpectedly (${why})`, hint: null }),
          { niceness: PLAN_NICENESS, signal },
        );
        if (reply.type === 'error')
          throw unprocessable(
            withoutProjectDir(reply.message + (reply.hint ? ` (${reply.hint})` : ''), this.store.dir(project)),
            'plan_failed',
          );
        this.cache.set(key, { plan: reply.plan, ms: reply.ms });
        while (this.cache.size > CACHE_SIZE) this.cache.delete(this.cache.keys().next().value!);
        return { plan: reply.plan, ms: reply.ms };
      };
      const result = this.queue.then(run).finally(() => {
        if (this.inFlight.get(key) === entry) this.inFlight.delete(key);
      });
      this.queue = result.catch(() => {});
      entry = { result, waiters: 0, stop };
      this.inFlight.set(key, entry);
    }
    const e = entry;
    e.waiters++;
    const leave = () => {
      if (--e.waiters > 0) return;
      // A page that changes an option drops its request and sends the next one at once: give it a moment to join.
      setTimeout(() => {
        if (e.waiters > 0 || e.stop.signal.aborted) return;
        // A request for the same plan from now on starts a new measurement rather than joining a stopped one.
        if (this.inFlight.get(key) === e) this.inFlight.delete(key);
        e.stop.abort();
      }, ABANDON_MS).unref();
    };
    gone?.addEventListener('abort', leave, { once: true });
    try {
      return await e.result;
    } finally {
      gone?.removeEventListener('abort', leave);
    }
  }
}
