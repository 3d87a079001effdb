// auto's plan of a project before training: what each rung would cost and bring on these photos and this machine,
// what auto picks and why, what the time budget rules out (plans.ts; measured in a child process, then cached).
import type { FastifyInstance } from 'fastify';
import { JSON_BODY_ERRORS, PROJECT_ERRORS, errorResponses, json, pathParams, ref } from '../api-schemas.js';
import type { RouteOptions } from '../context.js';
import { ProjectPlans } from '../plans.js';

type P = { Params: { project: string } };

const num = { type: 'number' };
const str = { type: 'string' };
const PLAN_SCHEMA = {
  type: 'object',
  properties: {
    backbone: str,
    choice: { enum: ['head', 'partial', 'full'], description: "auto's choice" },
    reason: { type: 'string', description: 'why auto chose it' },
    timeBudget: { type: 'number', description: 'seconds (the request’s timeBudget, or the default)' },
    imagesPerClass: num,
    trainImages: num,
    rungs: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          rung: { enum: ['head', 'partial', 'full'] },
          trains: { type: 'string', description: 'what the rung trains' },
          seconds: { type: 'number', description: 'estimated wall time of the whole run' },
          secondsRange: {
            type: ['array', 'null'],
            items: num,
            description: 'fine-tuning: early stopping soonest..every epoch',
          },
          expectedGain: {
            type: ['number', 'null'],
            description: 'val accuracy points over the head; null: no measured set like it',
          },
          fitsBudget: { type: 'boolean' },
          chosen: { type: 'boolean' },
          stages: { type: 'array', items: { type: 'object' } },
        },
      },
    },
    overBudget: { type: 'array', items: str, description: 'rungs whose estimate is over the time budget' },
    blockedByBudget: {
      type: ['object', 'null'],
      description: 'a rung expected to gain more, stopped only by the budget',
    },
    domain: {
      type: ['object', 'null'],
      description: 'the ImageNet-likeness check: {far, classesPerClass, meanTop1, images, summary}',
    },
    throughput: { type: 'object' },
    backboneAdvice: { type: ['string', 'null'] },
    cached: { type: 'boolean', description: 'answered from the cache (no probe ran)' },
    computeMs: { type: 'number', description: 'what measuring cost when it ran, ms' },
    ms: { type: 'number', description: 'what this request cost, ms' },
  },
};

export async function planRoutes(app: FastifyInstance, { ctx }: RouteOptions): Promise<void> {
  const plans = new ProjectPlans(ctx.store);
  app.post<P>(
    '/v1/projects/:project/plan',
    {
      schema: {
        summary:
          "auto's plan (what `tl plan` answers) for training the project with these options: each rung's estimated time and expected gain, the choice and why, what the time budget rules out, the ImageNet-likeness check. The first call for the project's photos and options measures this machine (seconds); later ones are cached; a new timeBudget is decided again without measuring.",
        params: pathParams({ project: 'project name' }),
        body: ref('TrainOptions'),
        response: {
          200: json(PLAN_SCHEMA, 'the plan'),
          ...errorResponses(
            ...JSON_BODY_ERRORS,
            'invalid_option',
            ...PROJECT_ERRORS,
            'not_enough_classes',
            'empty_class',
            'plan_failed',
          ),
        },
      },
    },
    async (req, reply) => {
      // The client hung up before the answer (the page asks again when it needs one): nobody waits for it any more.
      const gone = new AbortController();
      reply.raw.on('close', () => {
        if (!reply.raw.writableFinished) gone.abort();
      });
      return plans.plan(req.params.project, req.body, gone.signal);
    },
  );
  app.addHook('onClose', async () => plans.close());
}
