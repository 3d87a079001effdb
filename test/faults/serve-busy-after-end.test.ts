// Issue 25: a training job had ended done (its event stream said so, the page showed the results) but the project
// stayed "training" until the child process had exited: a rename or a class removed at that moment was refused with
// 409 project_busy, and the exit of a finished job's child could unmark a job started right after it. The project is
// released when the child reports its end.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { env } from '../../src/util/env.js';
import { startServer, type TlServer } from '../../src/serve/server.js';
import { cleanup, DATASETS_DIR, filesIn, MODELS_DIR, tempDir } from '../helpers.js';

const HYM_TRAIN = join(DATASETS_DIR, 'hymenoptera_data/train');

let work: string;
let server: TlServer;

async function call(path: string, init: RequestInit = {}) {
  const res = await fetch(`${server.url}${path}`, init);
  const text = await res.text();
  return { status: res.status, text, json: text ? JSON.parse(text) : undefined };
}
const postJson = (path: string, body: unknown) =>
  call(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

before(async () => {
  work = await tempDir('tl-busy-after-end-');
  env.cacheDir = join(work, 'cache');
  env.modelsDir = MODELS_DIR;
  env.allowDownloads = false;
  server = await startServer({ port: 0, projectsDir: join(work, 'projects'), webDir: null });
  assert.equal((await postJson('/v1/projects', { name: 'busy', classes: ['ants', 'bees'] })).status, 201);
  for (const cls of ['ants', 'bees']) {
    const form = new FormData();
    for (const f of (await filesIn(join(HYM_TRAIN, cls))).slice(0, 6))
      form.append('file', new Blob([await readFile(f)], { type: 'image/jpeg' }), f.split('/').pop());
    assert.equal((await call(`/v1/projects/busy/classes/${cls}/images`, { method: 'POST', body: form })).status, 201);
  }
});

after(async () => {
  await server?.close();
  await cleanup(work);
});

test('the moment a job ends done, its classes can be renamed (no 409 project_busy)', async () => {
  const t = await postJson('/v1/projects/busy/train', { seed: 0 });
  assert.equal(t.status, 202, t.text);
  const job = server.jobs.get(t.json.job.id)!;
  // Rename as soon as the job says it has ended, as a page following its events does.
  let busyAtEnd: boolean | undefined;
  const renamed = new Promise<string>((resolve) => {
    job.subscribe((e) => {
      if (e.event !== 'end') return;
      // What the rename, remove-class and delete-project routes check first.
      busyAtEnd = server.store.busy.has('busy');
      server.store.renameClass('busy', 'bees', 'honeybees').then(
        () => resolve('renamed'),
        (err: Error & { code?: string }) => resolve(`${err.code}: ${err.message}`),
      );
    });
  });
  assert.equal(await renamed, 'renamed');
  assert.equal(busyAtEnd, false, 'the project is no longer marked training once its job has ended');
  assert.equal(job.state, 'done');
  const p = await call('/v1/projects/busy');
  assert.deepEqual(
    p.json.classes.map((c: { name: string }) => c.name),
    ['ants', 'honeybees'],
  );
});
