// A training job's own process (job-runner.ts starts it): trains one project with runProjectTraining, exactly as the
// server would in its own process, and forwards the job's events, its "saving" moment, the saved bundle and its end
// over IPC. Backbone inference (TF.js on wasm runs on the calling thread) and the solvers then never hold up the
// server's event loop. The server going away (a kill, a crash) disconnects IPC: the run is aborted, so a fine-tuning
// run stops after its step and keeps its last epoch's checkpoint for the resume.
import { Job } from './jobs.js';
import { ProjectStore } from './projects.js';
import { runProjectTraining } from './training.js';
import { applyEnv, type FromChild, type ToChild } from './child-protocol.js';
import { env } from '../util/env.js';

const send = (m: FromChild): Promise<void> =>
  new Promise((resolve) => {
    if (!process.connected) return resolve();
    process.send!(m, undefined, {}, () => resolve());
  });

let job: Job | undefined;
/** Resolves the pending 'saving' question with the server's answer. */
let saveAnswer: ((ok: boolean) => void) | undefined;

async function start(m: Extract<ToChild, { type: 'start' }>): Promise<void> {
  applyEnv(m.env);
  // Not init(): that empties the projects' upload folders, which belong to the server.
  const store = new ProjectStore(m.projectsDir);
  job = new Job(m.project);
  const local = job;
  let sent = Promise.resolve();
  const queue = (msg: FromChild) => (sent = sent.then(() => send(msg)));
  // Ask the server before saving: a cancel it has already answered 202 wins, and nothing is saved.
  local.confirmSaving = async () => {
    const ms = env.testSaveDelayMs;
    if (ms) {
      process.stderr.write(`decided to save; waiting ${ms} ms (TL_TEST_SAVE_DELAY_MS)\n`);
      await new Promise((r) => setTimeout(r, ms));
    }
    if (!process.connected) return false;
    const answer = new Promise<boolean>((resolve) => (saveAnswer = resolve));
    await queue({ type: 'saving' });
    return answer;
  };
  local.subscribe((e) => {
    if (e.event === 'end') return;
    void queue({ type: 'event', event: e.event, data: e.data });
  });
  await runProjectTraining(
    local,
    store,
    m.request,
    async (stamp, _dir, classifier) => {
      // The server loads the saved bundle itself; this process only trains.
      await classifier.dispose();
      await queue({ type: 'trained', stamp });
    },
    (line) => process.stderr.write(line + '\n'),
  );
  await queue({
    type: 'end',
    state: local.state as 'done' | 'failed' | 'cancelled',
    error: local.error,
    bundle: local.bundle,
  });
  await sent;
  // Backbone worker threads would keep the process alive: it has said everything.
  process.exit(0);
}

process.on('message', (m: ToChild) => {
  if (m.type === 'start' && !job) {
    start(m).catch((err) => {
      process.stderr.write(`${(err as Error)?.stack ?? String(err)}\n`);
      process.exit(1);
    });
  } else if (m.type === 'cancel') job?.controller.abort();
  else if (m.type === 'save') {
    saveAnswer?.(m.ok);
    saveAnswer = undefined;
  }
});
// The server is gone: stop training (a fine-tuning run keeps its checkpoint), then exit.
process.on('disconnect', () => {
  saveAnswer?.(false);
  if (job && !job.finished) {
    job.controller.abort();
    setTimeout(() => process.exit(0), 30_000).unref();
  } else process.exit(0);
});
