// auto's plan of one project in a process of its own (plans.ts starts it through child-call.ts): `tl plan` on the
// project's images folder, split as a training run splits it. The probes load the backbone and time real forward and
// training steps (seconds of CPU on the calling thread): here they never hold up the server's event loop. Sends one
// message, then exits.
import { loadDataset } from '../data/dataset.js';
import { planTraining, type Plan } from '../plan/plan.js';
import { answerOneRequest, type ChildErrorReply } from './child-call.js';
import { applyEnv, type EnvSnapshot } from './child-protocol.js';

/** The options a plan depends on: the split (val, seed), the backbone and the blocks asked for (the table's keys). */
export interface PlanInputs {
  model?: string;
  val?: number;
  seed?: number;
  freeze?: number;
  trainLast?: number;
  replace?: number[];
}

export interface PlanRequest {
  env: EnvSnapshot;
  imagesDir: string;
  inputs: PlanInputs;
}

export type PlanReply = { type: 'result'; plan: Plan; ms: number } | ChildErrorReply;

async function run(m: PlanRequest): Promise<PlanReply> {
  applyEnv(m.env);
  const t0 = performance.now();
  const { model, val, seed, freeze, trainLast, replace } = m.inputs;
  const dataset = loadDataset(m.imagesDir, { valFraction: val, seed: seed ?? 0 });
  // What `tl plan` runs (every rung measured); the server decides the time budget itself (plan.ts withTimeBudget).
  const plan = await planTraining(dataset, {
    model,
    freeze,
    trainLast,
    replace,
    alwaysMeasure: true,
    dataArg: 'images',
  });
  return { type: 'result', plan, ms: performance.now() - t0 };
}

answerOneRequest(run, 'planning failed');
