// Issue 22 item 7: a cancel that came after the last epoch was answered 202 "cancelling" and the job then ended
// "done" (its classifier saved). Now the answer is the job's real fate: 202 only when the job will end cancelled;
// 409 job_saving while it saves its classifier (it will end done), 409 job_finished once it has ended.
// Real server on 127.0.0.1, real photos, a real small training run.
import { after, before, describe, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { env } from '../../src/util/env.js';
import { startServer, type TlServer } from '../../src/serve/server.js';
import { JobManager } from '../../src/serve/jobs.js';
import { ProjectStore } from '../../src/serve/projects.js';
import { runProjectTraining } from '../../src/serve/training.js';
import { cleanup, DATASETS_DIR, filesIn, MODELS_DIR, sleep, tempDir } from '../helpers.js';

const HYM_TRAIN = join(DATASETS_DIR, 'hymenoptera_data/train');

let work: string;
let projectsDir: string;
let server: TlServer;

async function call(path: string, init: RequestInit = {}) {
  const res = await fetch(`${server.url}${path}`, init);
  const text = await res.text();
  return { status: res.status, text, json: text ? JSON.parse(text) : undefined };
}
const postJson = (path: string, body: unknown) =>
  call(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

before(async () => {
  work = await tempDir('tl-cancel-late-');
  projectsDir = join(work, 'projects');
  env.cacheDir = join(work, 'cache');
  env.modelsDir = MODELS_DIR;
  env.allowDownloads = false;
  server = await startServer({ port: 0, projectsDir, webDir: null });
  assert.equal((await postJson('/v1/projects', { name: 'late', classes: ['ants', 'bees'] })).status, 201);
  for (const cls of ['ants', 'bees']) {
    const form = new FormData();
    for (const f of (await filesIn(join(HYM_TRAIN, cls))).slice(0, 6))
      form.append('file', new Blob([await readFile(f)], { type: 'image/jpeg' }), f.split('/').pop());
    const r = await call(`/v1/projects/late/classes/${cls}/images`, { method: 'POST', body: form });
    assert.equal(r.status, 201, r.text);
  }
});

after(async () => {
  await server?.close();
  await cleanup(work);
});

describe('a cancel that comes too late (issue 22 item 7)', () => {
  test('after the job has ended: 409 job_finished naming its state, not a 200/202 that suggests a cancel', async () => {
    const t = await postJson('/v1/projects/late/train', { seed: 0 });
    assert.equal(t.status, 202, t.text);
    let state = 'running';
    for (let i = 0; i < 600 && state === 'running'; i++) {
      await sleep(200);
      state = (await call(`/v1/jobs/${t.json.job.id}`)).json.state;
    }
    assert.equal(state, 'done');
    for (const init of [
      { method: 'POST', path: 'cancel' },
      { method: 'DELETE', path: '' },
    ]) {
      const c = await call(`/v1/jobs/${t.json.job.id}${init.path ? `/${init.path}` : ''}`, { method: init.method });
      assert.equal(c.status, 409, c.text);
      assert.equal(c.json.error.code, 'job_finished');
      assert.match(c.json.error.message, /has already finished: done/);
    }
    assert.equal((await call(`/v1/jobs/${t.json.job.id}`)).json.state, 'done', 'the job is unchanged');
  });

  test('after the last epoch, while the classifier is saved: the cancel is refused and the job ends done', async () => {
    // The same code path as the route (runProjectTraining + JobManager.cancel), with the cancel placed exactly in
    // the window: when the trained classifier is handed over, before the job is marked done.
    const store = new ProjectStore(projectsDir);
    const jobs = new JobManager();
    const job = jobs.create('late');
    let stateAfterCancel: string | undefined;
    let savingAtCancel: boolean | undefined;
    await runProjectTraining(job, store, { seed: 1, head: { kind: 'linear' } }, async (_stamp, _dir, classifier) => {
      jobs.cancel(job.id);
      stateAfterCancel = job.state;
      savingAtCancel = job.saving;
      await classifier.dispose();
    });
    assert.equal(job.state, 'done', job.error ?? '');
    assert.equal(
      stateAfterCancel,
      'running',
      'a cancel the job cannot honour must not turn it "cancelling" (the route would have answered 202)',
    );
    assert.equal(savingAtCancel, true, 'the route answers 409 job_saving for such a job');
  });

  test('in the one IPC message between the child deciding to save and the server hearing it: the cancel wins, nothing is saved', async () => {
    // TL_TEST_SAVE_DELAY_MS holds the training child between its decision to save and its message to the server, and
    // the child says so on stderr (the server logs it): the cancel is sent exactly inside the window. Before the fix
    // the child had already decided alone: the cancel was answered 202 "cancelling" and the job then ended done.
    const dir = join(work, 'projects-window');
    let decided!: () => void;
    const decidedToSave = new Promise<void>((resolve) => (decided = resolve));
    const logged: string[] = [];
    const s2 = await startServer({
      port: 0,
      projectsDir: dir,
      webDir: null,
      log: (line) => {
        logged.push(line);
        if (/decided to save; waiting/.test(line)) decided();
      },
    });
    env.testSaveDelayMs = 2000;
    try {
      const at = async (path: string, init: RequestInit = {}) => {
        const res = await fetch(`${s2.url}${path}`, init);
        const text = await res.text();
        return { status: res.status, text, json: text ? JSON.parse(text) : undefined };
      };
      const body = (b: unknown) => ({
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(b),
      });
      assert.equal((await at('/v1/projects', body({ name: 'window', classes: ['ants', 'bees'] }))).status, 201);
      for (const cls of ['ants', 'bees']) {
        const form = new FormData();
        for (const f of (await filesIn(join(HYM_TRAIN, cls))).slice(0, 6))
          form.append('file', new Blob([await readFile(f)], { type: 'image/jpeg' }), f.split('/').pop());
        assert.equal(
          (await at(`/v1/projects/window/classes/${cls}/images`, { method: 'POST', body: form })).status,
          201,
        );
      }
      const t = await at('/v1/projects/window/train', body({ seed: 2 }));
      assert.equal(t.status, 202, t.text);
      // An unref'd timer: a pending 240 s sleep kept the test process alive that long after the test had passed.
      await Promise.race([
        decidedToSave,
        delay(240_000, undefined, { ref: false }).then(() =>
          assert.fail(`the child never decided to save:\n${logged.join('\n')}`),
        ),
      ]);
      const c = await at(`/v1/jobs/${t.json.job.id}/cancel`, { method: 'POST' });
      let job = (await at(`/v1/jobs/${t.json.job.id}`)).json;
      for (let i = 0; i < 300 && !['done', 'failed', 'cancelled'].includes(job.state); i++) {
        await sleep(100);
        job = (await at(`/v1/jobs/${t.json.job.id}`)).json;
      }
      const bundles = await readdir(join(dir, 'window', 'bundles'));
      assert.equal(c.status, 202, `the server had not heard "saving": the cancel must win (${c.text})`);
      assert.equal(job.state, 'cancelled', `answered 202 "cancelling", then the job ended ${job.state}`);
      assert.deepEqual(bundles, [], 'a cancelled job saves nothing');
    } finally {
      env.testSaveDelayMs = undefined;
      await s2.close();
    }
  });
});
