// The OpenAPI document at /v1/openapi.json is generated from the route schemas: it lists every registered /v1 route
// with its methods and nothing else, and the statuses and error codes the routes really send (probed over real HTTP,
// no models needed) are the ones it documents for that route.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import sharp from 'sharp';
import { startServer, type TlServer } from '../../src/serve/server.js';
import { cleanup, DOG, tempDir } from '../helpers.js';

let work: string;
let server: TlServer;
let doc: any;

const METHODS = ['get', 'post', 'put', 'patch', 'delete'];
/** OpenAPI path template of a Fastify URL: /v1/jobs/:id → /v1/jobs/{id}. */
const template = (url: string) => url.replace(/:([A-Za-z_]+)/g, '{$1}');

before(async () => {
  work = await tempDir('tl-serve-openapi-');
  server = await startServer({ port: 0, projectsDir: join(work, 'projects'), webDir: null });
  const res = await fetch(`${server.url}/v1/openapi.json`);
  assert.equal(res.status, 200);
  doc = await res.json();
});

after(async () => {
  await server?.close();
  await cleanup(work);
});

/** The documented operation a request path falls under (templates matched segment by segment). */
function operationFor(method: string, path: string): { template: string; op: any } | undefined {
  const clean = path.split('?')[0];
  for (const [t, item] of Object.entries<any>(doc.paths)) {
    const re = new RegExp(`^${t.replace(/[.]/g, '\\.').replace(/\{[^}]+\}/g, '[^/]+')}$`);
    if (re.test(clean) && item[method.toLowerCase()]) return { template: t, op: item[method.toLowerCase()] };
  }
  return undefined;
}

/** Every probed response: its status documented for the route, and an error's code among the documented ones. */
const checked = new Map<string, Set<string>>();
function assertDocumented(method: string, path: string, status: number, body: string): void {
  const found = operationFor(method, path);
  assert.ok(found, `${method} ${path} is not in the OpenAPI document`);
  const label = `${method} ${found.template} → ${status} ${body.slice(0, 200)}`;
  const response = found.op.responses[String(status)];
  assert.ok(response, `status not documented: ${label}`);
  if (status >= 400) {
    const code = JSON.parse(body).error.code as string;
    const codes: string[] = response.content['application/json'].schema.properties.error.properties.code.enum;
    assert.ok(codes.includes(code), `code ${code} not documented (documented: ${codes.join(', ')}): ${label}`);
    if (!checked.has(code)) checked.set(code, new Set());
    checked.get(code)!.add(found.template);
  }
}

async function probe(
  method: string,
  path: string,
  init: { headers?: Record<string, string>; body?: BodyInit } = {},
): Promise<number> {
  const res = await fetch(`${server.url}${path}`, { method, ...init });
  const body = await res.text();
  assertDocumented(method, path, res.status, body);
  return res.status;
}
const json = (method: string, path: string, body: unknown) =>
  probe(method, path, { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
async function upload(path: string, files: { data: Buffer; name: string; type: string }[]): Promise<number> {
  const form = new FormData();
  for (const f of files) form.append('file', new Blob([new Uint8Array(f.data)], { type: f.type }), f.name);
  return probe('POST', path, { body: form });
}

/** A request with headers fetch would not send as given (Host, Origin). */
function raw(method: string, path: string, headers: Record<string, string>): Promise<number> {
  const url = new URL(server.url);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: url.hostname, port: url.port, path, method, headers }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (d: string) => (text += d));
      res.on('end', () => {
        try {
          assertDocumented(method, path, res.statusCode ?? 0, text);
          resolve(res.statusCode ?? 0);
        } catch (err) {
          reject(err);
        }
      });
    });
    req.on('error', reject);
    req.end();
  });
}

describe('the OpenAPI document', () => {
  test('is OpenAPI 3.1 and lists exactly the registered /v1 routes, each with its methods and path parameters', () => {
    assert.equal(doc.openapi, '3.1.0');
    assert.equal(typeof doc.info.version, 'string');
    const registered = server.routes.filter((r) => r.url.startsWith('/v1/'));
    assert.ok(registered.length >= 29, `${registered.length} routes`);
    for (const r of registered) {
      const op = doc.paths[template(r.url)]?.[r.method.toLowerCase()];
      assert.ok(op, `${r.method} ${r.url} is registered but not documented`);
      assert.ok(op.summary, `${r.method} ${r.url} has no summary`);
      assert.ok(
        Object.keys(op.responses).some((s) => s.startsWith('2')),
        `${r.method} ${r.url} documents no success response`,
      );
      for (const name of template(r.url).match(/\{([^}]+)\}/g) ?? []) {
        const param = name.slice(1, -1);
        assert.ok(
          op.parameters?.some((p: any) => p.in === 'path' && p.name === param && p.required),
          `${r.method} ${r.url}: path parameter ${param}`,
        );
      }
    }
    const documented = Object.entries<any>(doc.paths).flatMap(([t, item]) =>
      METHODS.filter((m) => item[m]).map((m) => `${m.toUpperCase()} ${t}`),
    );
    assert.deepEqual(
      documented.sort(),
      registered.map((r) => `${r.method} ${template(r.url)}`).sort(),
      'documented operations = registered routes',
    );
    // Component schemas are referenced by name and all exist.
    const refs = [...JSON.stringify(doc).matchAll(/"\$ref":"#\/components\/schemas\/([^"]+)"/g)].map((m) => m[1]);
    assert.ok(refs.length > 10);
    for (const name of refs) assert.ok(doc.components.schemas[name], `missing component ${name}`);
    // Request bodies come from the zod schemas the handlers parse with.
    const create = doc.paths['/v1/projects'].post.requestBody.content['application/json'].schema;
    assert.deepEqual(create.required, ['name']);
    assert.equal(create.additionalProperties, false);
  });

  test('every status and error code the routes send is documented for that route', async () => {
    const jpeg = await readFile(DOG);
    const gif = await sharp({ create: { width: 8, height: 8, channels: 3, background: 'red' } })
      .gif()
      .toBuffer();
    // Projects and classes.
    assert.equal(await json('POST', '/v1/projects', { name: 'docs', classes: ['cats'] }), 201);
    assert.equal(await json('POST', '/v1/projects', { name: 'docs' }), 409);
    assert.equal(await json('POST', '/v1/projects', { name: 'bad/name' }), 400);
    assert.equal(await json('POST', '/v1/projects', { name: 'x', classes: ['A', 'a'] }), 400);
    assert.equal(await json('POST', '/v1/projects', { name: 7, extra: true }), 400);
    assert.equal(
      await probe('POST', '/v1/projects', { headers: { 'content-type': 'application/json' }, body: '{bad json' }),
      400,
    );
    assert.equal(await probe('POST', '/v1/projects', { headers: { 'content-type': 'application/json' } }), 400);
    assert.equal(
      await probe('POST', '/v1/projects', { headers: { 'content-type': 'application/xml' }, body: '<x/>' }),
      415,
    );
    assert.equal(await probe('GET', '/v1/projects'), 200);
    assert.equal(await probe('GET', '/v1/projects/docs'), 200);
    assert.equal(await probe('GET', '/v1/projects/nope'), 404);
    assert.equal(await json('POST', '/v1/projects/docs/classes', { name: 'dogs' }), 201);
    assert.equal(await json('POST', '/v1/projects/docs/classes', { name: 'dogs' }), 409);
    assert.equal(await json('POST', '/v1/projects/docs/classes', { name: 'train' }), 400);
    assert.equal(await json('PATCH', '/v1/projects/docs/classes/nope', { name: 'x' }), 404);
    assert.equal(await json('PATCH', '/v1/projects/docs/classes/dogs', { name: 'cats' }), 409);
    assert.equal(await json('POST', '/v1/projects/docs/classes', { name: 'birds' }), 201);
    assert.equal(await json('PATCH', '/v1/projects/docs/classes/birds', { name: 'owls' }), 200);
    assert.equal(await probe('DELETE', '/v1/projects/docs/classes/owls'), 200);
    assert.equal(await probe('DELETE', '/v1/projects/docs/classes/owls'), 404);
    // Images.
    assert.equal(
      await upload('/v1/projects/docs/classes/dogs/images', [{ data: jpeg, name: 'dog.jpg', type: 'image/jpeg' }]),
      201,
    );
    assert.equal(
      await upload('/v1/projects/docs/classes/dogs/images', [{ data: gif, name: 'x.gif', type: 'image/gif' }]),
      415,
    );
    assert.equal(
      await upload('/v1/projects/docs/classes/dogs/images', [
        { data: jpeg.subarray(0, 2000), name: 'cut.jpg', type: 'image/jpeg' },
      ]),
      422,
    );
    assert.equal(
      await upload('/v1/projects/docs/classes/nope/images', [{ data: jpeg, name: 'dog.jpg', type: 'image/jpeg' }]),
      404,
    );
    assert.equal(await json('POST', '/v1/projects/docs/classes/dogs/images', { file: 'x' }), 415);
    const malformed = { 'content-type': 'multipart/form-data; boundary=XYZ' };
    assert.equal(
      await probe('POST', '/v1/projects/docs/classes/dogs/images', {
        headers: malformed,
        body: '--XYZ\r\ncontent-disposition: form-data; name="file"; filename="a.jpg"\r\n\r\nabc',
      }),
      400,
    );
    const list = await fetch(`${server.url}/v1/projects/docs/images`).then((r) => r.json());
    const img = list.images[0].url as string;
    assert.equal(await probe('GET', '/v1/projects/docs/images'), 200);
    assert.equal(await probe('GET', '/v1/projects/docs/images?class=nope'), 404);
    assert.equal(await probe('GET', img), 200);
    assert.equal(await probe('GET', `${img}/thumbnail`), 200);
    assert.equal(await probe('GET', '/v1/projects/docs/classes/dogs/images/0000000000000000.jpg'), 404);
    assert.equal(await probe('GET', '/v1/projects/docs/classes/dogs/images/0000000000000000.jpg/thumbnail'), 404);
    assert.equal(await probe('DELETE', '/v1/projects/docs/classes/dogs/images/not-an-image'), 404);
    // Training, jobs, bundles, prediction without a trained bundle.
    assert.equal(await json('POST', '/v1/projects/docs/train', { val: 3 }), 400);
    assert.equal(await json('POST', '/v1/projects/docs/train', {}), 422); // cats has no images
    assert.equal(await json('POST', '/v1/projects', { name: 'one', classes: ['only'] }), 201);
    assert.equal(await json('POST', '/v1/projects/one/train', {}), 422);
    assert.equal(await probe('GET', '/v1/projects/docs/jobs'), 200);
    assert.equal(await probe('GET', '/v1/jobs/nope'), 404);
    assert.equal(await probe('POST', '/v1/jobs/nope/cancel'), 404);
    assert.equal(await probe('DELETE', '/v1/jobs/nope'), 404);
    assert.equal(await probe('GET', '/v1/jobs/nope/events'), 404);
    assert.equal(await probe('GET', '/v1/projects/docs/results'), 404);
    assert.equal(await probe('GET', '/v1/projects/docs/bundles'), 200);
    assert.equal(await probe('GET', '/v1/projects/docs/bundles/latest/download'), 404);
    assert.equal(await probe('GET', '/v1/projects/docs/bundles/latest/report'), 404);
    assert.equal(
      await probe('POST', '/v1/projects/docs/predict', {
        headers: { 'content-type': 'image/jpeg' },
        body: new Uint8Array(jpeg),
      }),
      404,
    );
    assert.equal(
      await probe('POST', '/v1/models/nope/predict', {
        headers: { 'content-type': 'image/jpeg' },
        body: new Uint8Array(jpeg),
      }),
      404,
    );
    assert.equal(await probe('GET', '/v1/models/nope'), 404);
    // Service routes.
    for (const path of ['/v1/health', '/v1/models', '/v1/backbones', '/v1/openapi.json'])
      assert.equal(await probe('GET', path), 200);
    // The host check on any route.
    assert.equal(await raw('GET', '/v1/projects', { host: 'evil.example:80' }), 403);
    assert.equal(
      await raw('DELETE', '/v1/projects/docs', { host: new URL(server.url).host, origin: 'http://evil.example' }),
      403,
    );
    // A damaged project.json answers 409 on its routes.
    await mkdir(join(work, 'projects', 'broken'), { recursive: true });
    await writeFile(join(work, 'projects', 'broken', 'project.json'), '{ not json');
    assert.equal(await probe('GET', '/v1/projects/broken'), 409);
    assert.equal(await probe('GET', '/v1/projects/broken/results'), 409);
    assert.equal(await probe('DELETE', '/v1/projects/broken'), 409);
    assert.equal(await probe('DELETE', '/v1/projects/docs'), 204);
    // The probes covered most of the documented codes.
    const sent = [...checked.keys()].sort();
    for (const code of [
      'invalid_body',
      'invalid_name',
      'duplicate_class',
      'invalid_option',
      'malformed_multipart',
      'forbidden_host',
      'cross_origin',
    ])
      assert.ok(sent.includes(code), `${code} probed (${sent.join(', ')})`);
    for (const code of [
      'project_not_found',
      'class_not_found',
      'image_not_found',
      'model_not_found',
      'job_not_found',
      'no_bundle',
      'project_damaged',
      'project_exists',
      'class_exists',
    ])
      assert.ok(sent.includes(code), `${code} probed (${sent.join(', ')})`);
    for (const code of [
      'unsupported_media_type',
      'unsupported_image_format',
      'undecodable_image',
      'not_enough_classes',
      'empty_class',
    ])
      assert.ok(sent.includes(code), `${code} probed (${sent.join(', ')})`);
  });
});
