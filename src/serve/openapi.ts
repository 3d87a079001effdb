// The API description served at /v1/openapi.json (OpenAPI 3.1), written by hand next to the routes in server.ts.

const json = (schema: object) => ({ 'application/json': { schema } });
const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const err = (description: string) => ({ description, content: json(ref('Error')) });
const pathParam = (name: string, description: string) => ({ name, in: 'path', required: true, description, schema: { type: 'string' } });

const imageBody = {
  required: true,
  description: 'One image as the raw body (image/jpeg, image/png, image/webp, image/tiff, image/avif), or multipart/form-data with one or more file fields (batch form).',
  content: {
    'image/*': { schema: { type: 'string', format: 'binary' } },
    'application/octet-stream': { schema: { type: 'string', format: 'binary' } },
    'multipart/form-data': { schema: { type: 'object', properties: { file: { type: 'array', items: { type: 'string', format: 'binary' } } } } },
  },
};

const predictResponses = {
  200: {
    description: 'Raw body: one Prediction. Multipart: a BatchPrediction (per-file results; a file that cannot be read has an error instead).',
    content: json({ oneOf: [ref('Prediction'), ref('BatchPrediction')] }),
  },
  400: err('bad query (top), a multipart body without files, or a malformed/truncated multipart body (malformed_multipart)'),
  404: err('no such model / project, or the project has no trained bundle'),
  409: err('the project.json of the project is damaged (project_damaged)'),
  413: err('the image (or one file) is over the size limit, or too many files'),
  415: err('the body is not an image (e.g. text/plain or JSON: unsupported_media_type), or an image format other than JPEG, PNG, WebP, TIFF, AVIF (SVG, GIF...: unsupported_image_format); uploads follow the same rule'),
  422: err('the bytes cannot be decoded (garbage, truncated, empty: undecodable_image) or have too many pixels (image_too_large)'),
  503: err('prediction queue full; retry'),
};

const predictParams = [{ name: 'top', in: 'query', required: false, description: 'classes to return per image (default 3)', schema: { type: 'integer', minimum: 1 } }];

export function openApiDocument(version: string): object {
  return {
    openapi: '3.1.0',
    info: {
      title: 'tl serve API',
      version,
      description:
        'Local HTTP API of the tl transfer-learning toolkit: predict with trained classifier bundles, and manage projects (classes, images, training, results, bundle download). JSON in and out; errors are {"error":{"status","code","message"}}.',
    },
    servers: [{ url: '/' }],
    paths: {
      '/v1/health': { get: { summary: 'Liveness and version', responses: { 200: { description: 'ok', content: json(ref('Health')) } } } },
      '/v1/models': { get: { summary: 'Served bundles (--bundle)', responses: { 200: { description: 'models', content: json({ type: 'object', properties: { models: { type: 'array', items: ref('Model') } } }) } } } },
      '/v1/models/{name}': { get: { summary: 'One served model', parameters: [pathParam('name', 'model name')], responses: { 200: { description: 'model', content: json(ref('Model')) }, 404: err('no such model') } } },
      '/v1/models/{name}/predict': {
        post: { summary: 'Classify one image (raw body) or several (multipart)', parameters: [pathParam('name', 'model name'), ...predictParams], requestBody: imageBody, responses: predictResponses },
      },
      '/v1/projects': {
        get: {
          summary: 'List projects; those whose project.json cannot be read are listed under damaged, with the reason (their endpoints answer 409 project_damaged; nothing is changed)',
          responses: {
            200: {
              description: 'projects',
              content: json({
                type: 'object',
                properties: {
                  projects: { type: 'array', items: ref('Project') },
                  damaged: { type: 'array', items: { type: 'object', properties: { name: { type: 'string' }, damaged: { const: true }, reason: { type: 'string' } } } },
                },
              }),
            },
          },
        },
        post: {
          summary: 'Create a project',
          requestBody: { required: true, content: json({ type: 'object', required: ['name'], additionalProperties: false, properties: { name: { type: 'string' }, classes: { type: 'array', items: { type: 'string' } } } }) },
          responses: { 201: { description: 'created', content: json(ref('Project')) }, 400: err('invalid body (invalid_body), name (invalid_name), or classes differing only in case (duplicate_class)'), 409: err('exists') },
        },
      },
      '/v1/projects/{project}': {
        get: { summary: 'A project with its classes, image counts, latest bundle and running job', parameters: [pathParam('project', 'project name')], responses: { 200: { description: 'project', content: json(ref('Project')) }, 404: err('no such project') } },
        delete: { summary: 'Delete a project and all its files', parameters: [pathParam('project', 'project name')], responses: { 204: { description: 'deleted' }, 404: err('no such project'), 409: err('training') } },
      },
      '/v1/projects/{project}/classes': {
        post: {
          summary: 'Add a class',
          parameters: [pathParam('project', 'project name')],
          requestBody: { required: true, content: json({ type: 'object', required: ['name'], properties: { name: { type: 'string' } } }) },
          responses: { 201: { description: 'the project', content: json(ref('Project')) }, 400: err('invalid name'), 409: err('exists') },
        },
      },
      '/v1/projects/{project}/classes/{class}': {
        patch: {
          summary: 'Rename a class',
          parameters: [pathParam('project', 'project name'), pathParam('class', 'class name')],
          requestBody: { required: true, content: json({ type: 'object', required: ['name'], properties: { name: { type: 'string' } } }) },
          responses: { 200: { description: 'the project', content: json(ref('Project')) }, 404: err('no such class'), 409: err('name taken, or training') },
        },
        delete: { summary: 'Remove a class and its images', parameters: [pathParam('project', 'project name'), pathParam('class', 'class name')], responses: { 200: { description: 'the project', content: json(ref('Project')) }, 404: err('no such class') } },
      },
      '/v1/projects/{project}/classes/{class}/images': {
        post: {
          summary: 'Upload images (multipart, many files). Each is stored as <sha256-prefix>.<ext>; same bytes twice are kept once.',
          parameters: [pathParam('project', 'project name'), pathParam('class', 'class name')],
          requestBody: { required: true, content: { 'multipart/form-data': { schema: { type: 'object', properties: { file: { type: 'array', items: { type: 'string', format: 'binary' } } } } } } },
          responses: {
            201: { description: '{added, duplicates, rejected, project}: the accepted files are stored, each rejected file is listed with its status and code' },
            400: err('malformed or truncated multipart body (malformed_multipart): nothing is stored'),
            409: err('the project.json is damaged (project_damaged)'),
            413: err('too large, or too many files (too_many_parts): nothing is stored'),
            415: err('not images, or a format other than JPEG, PNG, WebP, TIFF, AVIF (unsupported_image_format)'),
            422: err('corrupt images'),
          },
        },
      },
      '/v1/projects/{project}/images': {
        get: {
          summary: 'List images (optionally ?class=NAME) with original and thumbnail URLs',
          parameters: [pathParam('project', 'project name'), { name: 'class', in: 'query', required: false, schema: { type: 'string' } }],
          responses: { 200: { description: '{images: [{class, file, bytes, addedAt, url, thumbnailUrl}]}' } },
        },
      },
      '/v1/projects/{project}/classes/{class}/images/{file}': {
        get: { summary: 'The original image', parameters: [pathParam('project', ''), pathParam('class', ''), pathParam('file', '')], responses: { 200: { description: 'image bytes' }, 404: err('no such image') } },
        delete: { summary: 'Remove an image', parameters: [pathParam('project', ''), pathParam('class', ''), pathParam('file', '')], responses: { 204: { description: 'deleted' }, 404: err('no such image') } },
      },
      '/v1/projects/{project}/classes/{class}/images/{file}/thumbnail': {
        get: { summary: 'A 160x160 JPEG thumbnail (cached on disk)', parameters: [pathParam('project', ''), pathParam('class', ''), pathParam('file', '')], responses: { 200: { description: 'image/jpeg' } } },
      },
      '/v1/projects/{project}/train': {
        post: {
          summary: 'Start training on the project images (seeded stratified split). Returns a job; follow it with /v1/jobs/{id}/events.',
          parameters: [pathParam('project', 'project name')],
          requestBody: { required: false, content: json(ref('TrainOptions')) },
          responses: { 202: { description: '{job, eventsUrl}' }, 409: err('already training'), 422: err('fewer than two classes, or a class without images') },
        },
      },
      '/v1/projects/{project}/jobs': { get: { summary: 'Jobs of the project since the server started', parameters: [pathParam('project', '')], responses: { 200: { description: '{jobs}' } } } },
      '/v1/jobs/{id}': {
        get: { summary: 'Job state and the last event of each type', parameters: [pathParam('id', 'job id')], responses: { 200: { description: 'job', content: json(ref('Job')) }, 404: err('no such job') } },
        delete: { summary: 'Cancel the job', parameters: [pathParam('id', 'job id')], responses: { 202: { description: 'cancelling' }, 200: { description: 'already finished' } } },
      },
      '/v1/jobs/{id}/cancel': { post: { summary: 'Cancel the job', parameters: [pathParam('id', 'job id')], responses: { 202: { description: 'cancelling' } } } },
      '/v1/jobs/{id}/events': {
        get: {
          summary:
            'Server-Sent Events: state, dataset, backbone, extract-start, extract (done/total, imagesPerSecond), extract-done, select-l2, progress (step, trainLoss, trainAcc, valLoss, valAcc), done (accuracy, bundle), failed (message), end. Replays past events; honours Last-Event-ID.',
          parameters: [pathParam('id', 'job id')],
          responses: { 200: { description: 'text/event-stream' }, 204: { description: 'the job has ended and the client has seen every event' } },
        },
      },
      '/v1/projects/{project}/results': {
        get: {
          summary: 'Results of the latest (or ?bundle=STAMP) training: accuracy, per-class, confusion matrix, misclassified images with probabilities, curve',
          parameters: [pathParam('project', ''), { name: 'bundle', in: 'query', required: false, schema: { type: 'string' } }],
          responses: { 200: { description: 'results', content: json(ref('Results')) }, 404: err('not trained yet') },
        },
      },
      '/v1/projects/{project}/bundles': { get: { summary: 'Trained bundles, newest first', parameters: [pathParam('project', '')], responses: { 200: { description: '{bundles: [{stamp, downloadUrl}]}' } } } },
      '/v1/projects/{project}/bundles/{stamp}/download': {
        get: { summary: 'The bundle folder as a .tar stream (stamp "latest" for the newest)', parameters: [pathParam('project', ''), pathParam('stamp', '')], responses: { 200: { description: 'application/x-tar' }, 404: err('no bundle') } },
      },
      '/v1/projects/{project}/bundles/{stamp}/report': { get: { summary: 'The HTML report of a bundle', parameters: [pathParam('project', ''), pathParam('stamp', '')], responses: { 200: { description: 'text/html' } } } },
      '/v1/projects/{project}/predict': {
        post: { summary: "Classify with the project's latest bundle", parameters: [pathParam('project', 'project name'), ...predictParams], requestBody: imageBody, responses: predictResponses },
      },
      '/v1/backbones': { get: { summary: 'Backbones training can use', responses: { 200: { description: '[{id, title, featureDim, default}]' } } } },
    },
    components: {
      schemas: {
        Error: {
          type: 'object',
          properties: { error: { type: 'object', properties: { status: { type: 'integer' }, code: { type: 'string' }, message: { type: 'string' } }, required: ['status', 'code', 'message'] } },
        },
        Health: { type: 'object', properties: { status: { const: 'ok' }, version: { type: 'string' }, uptimeSeconds: { type: 'number' }, models: { type: 'array', items: { type: 'string' } }, jobsRunning: { type: 'integer' } } },
        Model: {
          type: 'object',
          properties: {
            name: { type: 'string' },
            labels: { type: 'array', items: { type: 'string' } },
            backbone: { type: 'string' },
            createdAt: { type: 'string' },
            bundle: { type: 'string' },
            accuracy: { type: 'number' },
            stats: { type: 'object', properties: { images: { type: 'integer' }, batches: { type: 'integer' }, largestBatch: { type: 'integer' } } },
          },
        },
        Prediction: {
          type: 'object',
          properties: {
            model: { type: 'string' },
            label: { type: 'string' },
            probability: { type: 'number' },
            top: { type: 'array', items: { type: 'object', properties: { label: { type: 'string' }, probability: { type: 'number' } } } },
            unknown: { type: 'boolean', description: 'far from every training image (see README: Unknown images)' },
            distance: { type: 'number' },
            timing: {
              type: 'object',
              properties: { decodeMs: { type: 'number' }, queueMs: { type: 'number' }, embedMs: { type: 'number' }, batchSize: { type: 'integer' }, totalMs: { type: 'number' } },
            },
          },
        },
        BatchPrediction: {
          type: 'object',
          properties: {
            model: { type: 'string' },
            results: { type: 'array', items: { type: 'object', description: 'file + the Prediction fields, or file + error {status, code, message}' } },
            timing: { type: 'object', properties: { totalMs: { type: 'number' } } },
          },
        },
        Project: {
          type: 'object',
          properties: {
            name: { type: 'string' },
            createdAt: { type: 'string' },
            updatedAt: { type: 'string' },
            classes: { type: 'array', items: { type: 'object', properties: { name: { type: 'string' }, images: { type: 'integer' } } } },
            images: { type: 'integer' },
            latestBundle: { type: ['string', 'null'] },
          },
        },
        TrainOptions: {
          type: 'object',
          properties: {
            seed: { type: 'integer', default: 0 },
            val: { type: 'number', default: 0.2, description: 'validation fraction' },
            l2: { type: 'number', description: 'default: chosen by 5-fold CV' },
            head: { description: '"linear" (default), "mlp", "mlp:UNITS", "mlp:UNITS,dropout=P" or {kind:"mlp", hidden, dropout} (the syntax of tl train --head)' },
            model: { type: 'string', description: 'backbone id (GET /v1/backbones)' },
            classWeights: { enum: ['auto', 'balanced', 'none'] },
            epochs: { type: 'integer', description: 'MLP head only' },
          },
        },
        Job: {
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
        Results: {
          type: 'object',
          properties: {
            bundle: { type: 'string' },
            accuracy: { type: 'number' },
            count: { type: 'integer' },
            labels: { type: 'array', items: { type: 'string' } },
            perClass: { type: 'array', items: { type: 'object', properties: { label: { type: 'string' }, accuracy: { type: 'number' }, precision: { type: 'number' }, recall: { type: 'number' }, f1: { type: 'number' }, support: { type: 'integer' } } } },
            confusion: { type: 'array', items: { type: 'array', items: { type: 'integer' } }, description: 'confusion[true][predicted]' },
            misclassified: { type: 'array', items: { type: 'object', properties: { file: { type: 'string' }, trueLabel: { type: 'string' }, predictedLabel: { type: 'string' }, probability: { type: 'number' }, probabilities: { type: 'object' }, thumbnailUrl: { type: ['string', 'null'] } } } },
            history: { type: 'array', items: { type: 'object' } },
            downloadUrl: { type: 'string' },
            reportUrl: { type: 'string' },
          },
        },
      },
    },
  };
}
