// What the routes declare about themselves (Fastify route schemas); @fastify/swagger turns them into the OpenAPI
// document at /v1/openapi.json. The schemas describe; the handlers check (zod bodies, validateName, parseTop), so
// the error messages stay the API's own. server.ts turns schema validation and schema serialization off.
import { z } from 'zod';
import { TRAIN_REQUEST_SCHEMA } from './training.js';

/** Every error code the API sends, with its status and what it means (one place, so routes only name codes). */
export const ERROR_CODES = {
  // Fastify's own codes, lower-cased, for a JSON body it cannot parse.
  fst_err_ctp_invalid_json_body: [400, 'the body is not valid JSON'],
  fst_err_ctp_empty_json_body: [400, 'Content-Type application/json with an empty body'],
  invalid_body: [400, 'the JSON body has the wrong shape'],
  invalid_name: [400, 'a project or class name with characters not allowed, or a reserved class name'],
  duplicate_class: [400, 'two classes that differ only in case'],
  invalid_option: [400, 'an unknown training option, one out of range, or an unknown head or backbone'],
  invalid_top: [400, '?top is not a positive integer'],
  no_files: [400, 'a multipart body without a file part'],
  malformed_multipart: [400, 'a malformed or truncated multipart body (nothing is stored)'],
  archive_invalid: [400, 'not a tl project archive, or one whose manifest or entries are wrong (nothing is imported)'],
  archive_truncated: [400, 'a project archive that ends early or lacks files its manifest lists (nothing is imported)'],
  archive_unsafe_path: [400, 'a tar entry with an absolute path or a .. part (nothing is imported)'],
  forbidden_host: [403, 'a Host header that is not this machine (DNS rebinding guard)'],
  cross_origin: [403, 'a write from a web page of another origin'],
  project_not_found: [404, 'no such project'],
  class_not_found: [404, 'no such class in the project'],
  image_not_found: [404, 'no such image'],
  model_not_found: [404, 'no served model of that name'],
  job_not_found: [404, 'no such job'],
  no_bundle: [404, 'the project has no trained bundle (or not that one)'],
  no_report: [404, 'the bundle has no report.html'],
  invalid_format: [400, 'an export format other than onnx or tfjs'],
  no_export: [404, 'the bundle has not been exported in that format (POST .../exports first), or no such file'],
  export_failed: [422, 'the export could not be made (its message says why, e.g. a fused backbone)'],
  plan_failed: [422, 'the plan could not be made (its message says why)'],
  project_damaged: [409, 'the project.json of the project cannot be read; nothing is changed'],
  project_exists: [409, 'a project of that name exists'],
  class_exists: [409, 'a class of that name exists'],
  project_busy: [409, 'the project is training'],
  already_training: [409, 'the project is already training'],
  job_finished: [409, 'the job has already finished (its state is in the message); nothing to cancel'],
  job_saving: [409, 'the job has finished training and is saving its classifier: it will end done'],
  payload_too_large: [413, 'the body, or one file, is over the size limit'],
  too_many_parts: [413, 'too many files or fields in one request (nothing is stored)'],
  unsupported_media_type: [415, 'a body that is not an image (or not the expected type)'],
  unsupported_image_format: [415, 'an image format other than JPEG, PNG, WebP, TIFF, AVIF'],
  undecodable_image: [422, 'bytes that cannot be decoded as an image (garbage, truncated, empty)'],
  archive_hash_mismatch: [
    422,
    "an archive file whose size or sha256 differs from its manifest's (nothing is imported)",
  ],
  archive_unsupported: [422, 'a project archive of a newer format than this tl reads'],
  image_too_large: [422, 'an image with too many pixels'],
  not_enough_classes: [422, 'fewer than two classes'],
  empty_class: [422, 'a class without images'],
  tl_error: [500, 'the toolkit refused (its message says why)'],
  internal_error: [500, 'an unexpected failure (logged by the server)'],
  busy: [503, 'the prediction queue is full; retry'],
} as const satisfies Record<string, readonly [number, string]>;

export type ErrorCode = keyof typeof ERROR_CODES;

/** Codes every /v1 route can send (the host check and unexpected failures); server.ts adds them to each route. */
export const COMMON_ERRORS: ErrorCode[] = ['forbidden_host', 'cross_origin', 'tl_error', 'internal_error'];
/** Codes of any route that takes a JSON body (Fastify's own parser answers these before the handler runs). */
export const JSON_BODY_ERRORS: ErrorCode[] = [
  'fst_err_ctp_invalid_json_body',
  'fst_err_ctp_empty_json_body',
  'invalid_body',
  'unsupported_media_type',
];
/** Codes of any route under /v1/projects/{project}. */
export const PROJECT_ERRORS: ErrorCode[] = ['invalid_name', 'project_not_found', 'project_damaged'];
/** Codes of the routes that read images (predict, upload). */
export const IMAGE_ERRORS: ErrorCode[] = [
  'malformed_multipart',
  'no_files',
  'payload_too_large',
  'too_many_parts',
  'unsupported_media_type',
  'unsupported_image_format',
  'undecodable_image',
  'image_too_large',
];

const errorSchema = (status: number, codes: string[]) => ({
  type: 'object',
  required: ['error'],
  properties: {
    error: {
      type: 'object',
      required: ['status', 'code', 'message'],
      properties: { status: { const: status }, code: { enum: codes }, message: { type: 'string' } },
    },
  },
});

/** Error responses for these codes, grouped by status; each lists its codes (enum) and what they mean. */
export function errorResponses(...codes: ErrorCode[]): Record<number, object> {
  const byStatus = new Map<number, string[]>();
  for (const code of new Set(codes)) {
    const status = ERROR_CODES[code][0];
    byStatus.set(status, [...(byStatus.get(status) ?? []), code]);
  }
  const out: Record<number, object> = {};
  for (const [status, list] of [...byStatus].sort((a, b) => a[0] - b[0])) {
    out[status] = {
      description: list.map((c) => `${c}: ${ERROR_CODES[c as ErrorCode][1]}`).join('; '),
      content: { 'application/json': { schema: errorSchema(status, list) } },
    };
  }
  return out;
}

export const json = (schema: object, description: string) => ({
  description,
  content: { 'application/json': { schema } },
});
export const ref = (id: string) => ({ $ref: `${id}#` });
export const noContent = (description: string) => ({ description, type: 'null' });
/** A non-JSON response (images, tar, HTML, event streams). */
export const binary = (type: string, description: string) => ({
  description,
  content: { [type]: { schema: { type: 'string', format: 'binary' } } },
});

/** Path parameters, all strings. */
export function pathParams(params: Record<string, string>): object {
  return {
    type: 'object',
    required: Object.keys(params),
    properties: Object.fromEntries(Object.entries(params).map(([k, d]) => [k, { type: 'string', description: d }])),
  };
}

/** A JSON request body described by the zod schema its handler parses with, so the two cannot drift. */
export const zodBody = (schema: z.ZodType) => {
  const { $schema: _drop, ...rest } = z.toJSONSchema(schema) as Record<string, unknown>;
  return rest;
};

const FILES = { type: 'object', properties: { file: { type: 'array', items: { type: 'string', format: 'binary' } } } };
export const multipartBody = { content: { 'multipart/form-data': { schema: FILES } } };
export const imageBody = {
  description:
    'One image as the raw body (image/jpeg, image/png, image/webp, image/tiff, image/avif), or multipart/form-data with one or more file fields (batch form).',
  content: {
    'image/*': { schema: { type: 'string', format: 'binary' } },
    'application/octet-stream': { schema: { type: 'string', format: 'binary' } },
    'multipart/form-data': { schema: FILES },
  },
};

/** Shared component schemas (server.ts adds them with app.addSchema; they become components.schemas). */
export const COMPONENT_SCHEMAS = [
  {
    $id: 'Health',
    type: 'object',
    properties: {
      status: { const: 'ok' },
      version: { type: 'string' },
      uptimeSeconds: { type: 'number' },
      models: { type: 'array', items: { type: 'string' } },
      jobsRunning: { type: 'integer' },
    },
  },
  {
    $id: 'Model',
    type: 'object',
    properties: {
      name: { type: 'string' },
      labels: { type: 'array', items: { type: 'string' } },
      backbone: { type: 'string' },
      createdAt: { type: 'string' },
      bundle: { type: 'string' },
      accuracy: { type: 'number' },
      stats: {
        type: 'object',
        properties: { images: { type: 'integer' }, batches: { type: 'integer' }, largestBatch: { type: 'integer' } },
      },
    },
  },
  {
    $id: 'Prediction',
    type: 'object',
    properties: {
      model: { type: 'string' },
      label: { type: 'string' },
      probability: { type: 'number' },
      top: {
        type: 'array',
        items: { type: 'object', properties: { label: { type: 'string' }, probability: { type: 'number' } } },
      },
      unknown: { type: 'boolean', description: 'far from every training image (see docs/unknown.md)' },
      distance: { type: 'number' },
      timing: {
        type: 'object',
        properties: {
          decodeMs: { type: 'number' },
          queueMs: { type: 'number' },
          embedMs: { type: 'number' },
          batchSize: { type: 'integer' },
          totalMs: { type: 'number' },
        },
      },
    },
  },
  {
    $id: 'BatchPrediction',
    type: 'object',
    properties: {
      model: { type: 'string' },
      results: {
        type: 'array',
        items: { type: 'object', description: 'file + the Prediction fields, or file + error {status, code, message}' },
      },
      timing: { type: 'object', properties: { totalMs: { type: 'number' } } },
    },
  },
  {
    $id: 'Project',
    type: 'object',
    properties: {
      name: { type: 'string' },
      createdAt: { type: 'string' },
      updatedAt: { type: 'string' },
      classes: {
        type: 'array',
        items: { type: 'object', properties: { name: { type: 'string' }, images: { type: 'integer' } } },
      },
      images: { type: 'integer' },
      latestBundle: { type: ['string', 'null'] },
      activeJob: { description: 'GET /v1/projects/{project} only: the running job, or null' },
      model: {
        description:
          'GET /v1/projects/{project} only: the latest model, or null: {bundle, stale (its classes or photos changed since it was trained: train again), changes {classesAdded, classesRemoved, classesRenamed [{from, to}], photosAdded, photosRemoved}, photosKnown, summary}',
      },
    },
  },
  // Generated from the option table (src/options/train-options.ts), as the handler parses it.
  { $id: 'TrainOptions', ...zodBody(TRAIN_REQUEST_SCHEMA) },
  {
    $id: 'Job',
    type: 'object',
    properties: {
      id: { type: 'string' },
      project: { type: 'string' },
      state: { enum: ['running', 'cancelling', 'done', 'failed', 'cancelled'] },
      startedAt: { type: 'string' },
      finishedAt: { type: ['string', 'null'] },
      error: { type: ['string', 'null'] },
      bundle: { type: ['string', 'null'] },
      lastEvents: { type: 'object' },
    },
  },
  {
    $id: 'Results',
    type: 'object',
    properties: {
      project: { type: 'string' },
      bundle: { type: 'string' },
      createdAt: { type: 'string' },
      backbone: { type: 'string' },
      rung: { type: 'string', enum: ['head', 'partial', 'full'], description: 'the ladder rung that trained it' },
      splits: {
        type: ['object', 'null'],
        description:
          'which split every number is on: reported (val), decisions (inner-val or cv-on-train: L2, best epoch), unknown (calibrated on train)',
      },
      timings: {
        type: ['object', 'null'],
        properties: {
          totalSeconds: { type: 'number' },
          extractSeconds: { type: 'number' },
          trainSeconds: { type: 'number' },
        },
      },
      plan: {
        type: ['object', 'null'],
        description: "auto's choice: {choice, reason, timeBudget}",
      },
      exportsUrl: { type: 'string', description: 'ONNX / TF.js exports of this bundle' },
      model: {
        description:
          'the latest bundle only (else null): {bundle, stale, changes, photosKnown, summary}, as GET /v1/projects/{project} has it',
      },
      labels: { type: 'array', items: { type: 'string' } },
      evaluatedOn: { type: ['string', 'null'] },
      trainImages: { type: ['integer', 'null'] },
      valImages: { type: ['integer', 'null'] },
      accuracy: { type: 'number' },
      count: { type: 'integer' },
      macroF1: { type: 'number' },
      logLoss: { type: 'number' },
      perClass: {
        type: 'array',
        items: {
          type: 'object',
          properties: {
            label: { type: 'string' },
            accuracy: { type: 'number' },
            precision: { type: 'number' },
            recall: { type: 'number' },
            f1: { type: 'number' },
            support: { type: 'integer' },
          },
        },
      },
      confusion: {
        type: 'array',
        items: { type: 'array', items: { type: 'integer' } },
        description: 'confusion[true][predicted]',
      },
      misclassified: {
        type: 'array',
        items: {
          type: 'object',
          properties: {
            file: { type: 'string' },
            trueLabel: { type: 'string' },
            predictedLabel: { type: 'string' },
            probability: { type: 'number' },
            probabilities: { type: 'object' },
            url: { type: ['string', 'null'] },
            thumbnailUrl: { type: ['string', 'null'] },
          },
        },
      },
      history: { type: 'array', items: { type: 'object' } },
      downloadUrl: { type: 'string' },
      reportUrl: { type: 'string' },
    },
  },
];
