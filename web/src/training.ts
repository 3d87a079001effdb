// Training: the controls, starting and cancelling a job, and its live progress (from the project's live stream).
import { api, type Backbone, type HistoryPoint } from './api';
import { h, pct } from './dom';
import { curveCharts } from './curves';
import { focusIfIdle, focusOn, guardNear } from './a11y';
import { ProgressTracker, type Progress } from './eta';
import { cancelPlan, planControls, schedulePlan, trainRequest } from './plan';
import { refreshList } from './project-list';
import { renderResults } from './results';
import { jobEvents } from './live';
import { guard, plural, say, state } from './state';
import { renderTry } from './try-it';

let backbones: Backbone[] = [];
let events: (EventTarget & { close(): void }) | null = null;
let activeJobId: string | null = null;

/** A job is being followed (its event stream is open). */
export const following = () => events !== null;
/** The job this page shows the progress of, if any. */
export const followedJob = () => activeJobId;

export function trainControls(): HTMLElement {
  const replan = () => schedulePlan();
  const backboneSelect = h('select', { id: 'opt-backbone', name: 'model', onchange: replan });
  const fill = () =>
    backboneSelect.replaceChildren(
      // Each says whether it is here or what it would download, its ImageNet figure and what it is good for; one that
      // cannot run (not here, and the server is offline) is listed but cannot be chosen.
      ...backbones.map((b) =>
        h(
          'option',
          { value: b.id, selected: b.default, disabled: !b.canRun, title: b.goodFor },
          `${b.id}${b.default ? ' (default)' : ''} — ${(b.imagenet.value * 100).toFixed(1)}% ImageNet ${b.imagenet.metric} — ${
            b.onDisk
              ? 'on disk'
              : b.canRun
                ? `download ${(b.downloadBytes / 2 ** 20).toFixed(0)} MiB`
                : 'not here (offline)'
          }${b.fineTunable ? '' : ' — rung 1 only'}`,
        ),
      ),
    );
  if (backbones.length) fill();
  else
    void api
      .backbones()
      .then((b) => ((backbones = b), fill()))
      .catch(() => {});
  return h(
    'div',
    {},
    planControls(),
    h(
      'div',
      { class: 'row' },
      h('button', { type: 'button', id: 'train-button', class: 'primary', onclick: () => startTraining() }, 'Train'),
      h('span', { id: 'train-hint', class: 'muted' }),
    ),
    h('p', { id: 'train-error', class: 'field-error', role: 'alert' }),
    h(
      'details',
      { class: 'advanced' },
      h('summary', {}, 'Advanced options'),
      h(
        'div',
        { class: 'options' },
        h(
          'label',
          {},
          'Seed',
          h('input', { id: 'opt-seed', type: 'number', min: 0, step: 1, value: 0, onchange: replan }),
        ),
        h(
          'label',
          {},
          'Validation fraction',
          h('input', { id: 'opt-val', type: 'number', min: 0.05, max: 0.5, step: 0.05, value: 0.2, onchange: replan }),
        ),
        h(
          'label',
          {},
          'Head',
          h(
            'select',
            { id: 'opt-head' },
            h('option', { value: 'linear' }, 'linear (a new softmax)'),
            h('option', { value: 'mlp:256' }, 'MLP, 256 hidden units'),
          ),
        ),
        h('label', {}, 'Backbone', backboneSelect),
        h(
          'p',
          { class: 'muted' },
          'The regularization strength is chosen by 5-fold cross-validation; the same seed gives the same classifier.',
        ),
      ),
    ),
    h(
      'div',
      // Takes focus when training starts; only the phase line is live (not each photo's tick).
      { id: 'progress', class: 'progress', hidden: true, role: 'region', 'aria-label': 'Training', tabindex: -1 },
      h('p', { id: 'phase', 'aria-live': 'polite' }),
      h(
        'div',
        { class: 'row' },
        h('progress', { id: 'extract-bar', max: 1, value: 0, 'aria-label': 'Feature extraction progress' }),
        h('span', { id: 'rate', class: 'muted' }),
      ),
      h(
        'p',
        { class: 'progress-line' },
        h('span', { id: 'stage', class: 'stage' }),
        h('span', { id: 'stage-rate', class: 'muted' }),
        h('span', { id: 'eta', class: 'eta' }),
      ),
      h('div', { id: 'charts', class: 'charts' }),
      h(
        'button',
        { type: 'button', id: 'cancel-button', class: 'danger', onclick: () => cancelTraining() },
        'Cancel training',
      ),
    ),
  );
}

export function renderTrainState(): void {
  const btn = document.getElementById('train-button') as HTMLButtonElement | null;
  const hint = document.getElementById('train-hint');
  if (!btn || !hint || !state.current) return;
  const classes = state.current.project.classes;
  const empty = classes.filter((c) => c.images === 0).map((c) => c.name);
  let why = '';
  if (classes.length < 2) why = 'Add at least two classes.';
  else if (empty.length) why = `Add photos to ${empty.map((n) => `“${n}”`).join(', ')}.`;
  else if (classes.some((c) => c.images < 10))
    hint.textContent = 'Tip: 20 or more photos per class give far more reliable results.';
  btn.disabled = !!why || !!activeJobId;
  // The plan needs photos in two classes, and is not asked for while a job trains (it would measure that job).
  if (!why && !activeJobId) schedulePlan();
  if (why) hint.textContent = why;
  else if (!classes.some((c) => c.images < 10))
    hint.textContent = `${plural(state.current.project.images, 'photo')} in ${classes.length} classes.`;
}

function startTraining(): void {
  const btn = document.getElementById('train-button') as HTMLButtonElement | null;
  if (btn) btn.disabled = true; // no second job while the first request is on its way
  void guardNear('train-error', async () => {
    if (!state.current) return;
    cancelPlan();
    const r = await api.train(state.current.project.name, trainRequest());
    followJob(r.job.id);
    focusOn('progress');
  }).then(() => renderTrainState());
}

function cancelTraining(): void {
  if (!activeJobId) return;
  const id = activeJobId;
  void guard(async () => {
    await api.cancel(id);
    setPhase('Cancelling…');
  }, document.getElementById('cancel-button'));
}

function setPhase(text: string): void {
  const el = document.getElementById('phase');
  if (el) el.textContent = text;
}

export function closeEvents(): void {
  events?.close();
  events = null;
  activeJobId = null;
}

/** Stage, rate and time left under the progress bar. */
function showProgress(p: Progress): void {
  const stage = document.getElementById('stage');
  const rate = document.getElementById('stage-rate');
  const eta = document.getElementById('eta');
  if (!stage || !rate || !eta) return;
  stage.textContent = p.stageText;
  stage.dataset.stage = p.stage;
  rate.textContent = p.rateText;
  eta.textContent = p.etaText;
}

export function followJob(jobId: string): void {
  closeEvents();
  cancelPlan();
  activeJobId = jobId;
  renderTrainState();
  const tracker = new ProgressTracker(state.current?.project.images ?? 0);
  showProgress(tracker.progress);
  const progress = document.getElementById('progress') as HTMLElement;
  const bar = document.getElementById('extract-bar') as HTMLProgressElement;
  const rate = document.getElementById('rate') as HTMLElement;
  const charts = document.getElementById('charts') as HTMLElement;
  const cancel = document.getElementById('cancel-button') as HTMLButtonElement;
  progress.hidden = false;
  cancel.hidden = false;
  cancel.disabled = false;
  charts.replaceChildren();
  bar.value = 0;
  rate.textContent = '';
  setPhase('Starting…');
  const history: HistoryPoint[] = [];
  let drawPending = false;
  const draw = () => {
    drawPending = false;
    charts.replaceChildren(...curveCharts(history));
  };
  const es = jobEvents(jobId);
  events = es;
  const on = <T>(name: string, fn: (data: T) => void) =>
    es.addEventListener(name, (e) => fn(JSON.parse((e as MessageEvent).data) as T));
  on('dataset', (d: { counts: { label: string; train: number; val: number }[]; warnings: string[] }) => {
    const train = d.counts.reduce((s, c) => s + c.train, 0);
    const val = d.counts.reduce((s, c) => s + c.val, 0);
    tracker.dataset(d.counts);
    setPhase(`Training on ${plural(train, 'photo')}, checking on ${val} held-out ${val === 1 ? 'photo' : 'photos'}.`);
    if (d.warnings.length) say(d.warnings.join(' '), 'info');
  });
  on('extract-start', (d: { split: string; total: number }) => {
    setPhase(`Describing the ${d.split === 'train' ? 'training' : 'validation'} photos with the pretrained network…`);
    showProgress(tracker.extractStart(d.split as 'train' | 'val', d.total));
    bar.max = Math.max(1, d.total);
    bar.value = 0;
  });
  on('extract', (d: { split: string; done: number; total: number; imagesPerSecond: number | null; cached: number }) => {
    showProgress(tracker.extract(d.split as 'train' | 'val', d.done, d.total, d.imagesPerSecond));
    bar.max = Math.max(1, d.total);
    bar.value = d.done;
    rate.textContent = `${d.done}/${d.total} photos · ${d.imagesPerSecond ?? '–'} images/s${d.cached ? ` · ${d.cached} from cache` : ''}`;
  });
  on('extract-done', (d: { split: string }) => showProgress(tracker.extractDone(d.split as 'train' | 'val')));
  on('select-l2', (d: { cvAccuracy: number | null }) =>
    setPhase(
      `Fitting the new last layer (cross-validated accuracy ${d.cvAccuracy === null ? '–' : pct(d.cvAccuracy)})…`,
    ),
  );
  on('progress', (d: HistoryPoint) => {
    history.push(d);
    if (!drawPending) {
      drawPending = true;
      requestAnimationFrame(draw);
    }
  });
  on('state', (d: { state: string }) => {
    if (d.state === 'cancelling') {
      setPhase('Cancelling…');
      cancel.disabled = true;
    }
  });
  on('plan', (d: { choice: string; reason: string }) => setPhase(`Plan: ${d.choice}. ${d.reason}`));
  on('resumed', () => say('The server restarted: training goes on where it stopped.', 'info'));
  on('finetune-budget', (d: { epochs: number; of: number }) =>
    setPhase(`Fine-tuning: the time budget holds ${d.epochs} of ${d.of} epochs…`),
  );
  on('finetune-resume', (d: { epoch: number; of: number }) =>
    setPhase(`Fine-tuning resumes after epoch ${d.epoch} of ${d.of}…`),
  );
  on(
    'finetune-step',
    (d: { epoch: number; of: number; done: number; total: number; imagesPerSecond?: number | null }) => {
      setPhase(`Fine-tuning: epoch ${d.epoch} of ${d.of}…`);
      showProgress(tracker.step(d.epoch, d.of, d.done, d.total, d.imagesPerSecond ?? null));
      bar.max = Math.max(1, d.total);
      bar.value = d.done;
      rate.textContent = `${d.done}/${d.total} photos of this epoch`;
    },
  );
  on('finetune-epoch', (d: { seconds: number }) => showProgress(tracker.epoch(d.seconds)));
  on('saving', () => showProgress(tracker.saving()));
  on('done', (d: { accuracy: number; seconds: number; rung?: string; backbone?: string }) => {
    showProgress(tracker.ended('Done'));
    setPhase(
      `Done in ${d.seconds.toFixed(1)} s${d.rung ? ` (${d.rung}, ${d.backbone})` : ''}: accuracy ${pct(d.accuracy)}.`,
    );
  });
  on('failed', (d: { message: string }) => {
    say(`Training failed: ${d.message}`, 'error');
    const alert = document.getElementById('train-error');
    if (alert) alert.textContent = `Training failed: ${d.message}`;
  });
  on('end', (d: { state: string }) => {
    es.close();
    if (events === es) events = null;
    activeJobId = null;
    cancel.hidden = true;
    if (d.state !== 'done') showProgress(tracker.ended(d.state === 'cancelled' ? 'Cancelled' : 'Failed'));
    renderTrainState();
    if (d.state === 'cancelled') {
      setPhase('Training cancelled.');
      say('Training cancelled; nothing was saved.', 'info');
    } else if (d.state === 'failed') setPhase('Training failed.');
    else if (d.state === 'done') {
      say('Training finished. See the results below.', 'ok');
      void guard(async () => {
        if (!state.current) return;
        state.current.results = await api.results(state.current.project.name);
        state.current.project = await api.project(state.current.project.name);
        renderResults();
        renderTry();
        focusIfIdle('results-h', 'train');
        await refreshList();
      });
    }
  });
}

/**
 * The followed job is no longer running on the server (it ended while this page was away, or the server stopped and
 * could not resume it): say how it ended, put the controls back.
 */
export async function jobGone(jobId: string): Promise<void> {
  if (activeJobId !== jobId) return;
  const job = await api.job(jobId).catch(() => null);
  if (activeJobId !== jobId) return;
  closeEvents();
  const cancel = document.getElementById('cancel-button') as HTMLButtonElement | null;
  if (cancel) cancel.hidden = true;
  renderTrainState();
  if (job?.state === 'done') setPhase('Training finished while this page was not connected.');
  else if (job?.state === 'cancelled') setPhase('Training cancelled; nothing was saved.');
  else
    setPhase(
      job?.state === 'failed'
        ? `Training failed: ${job.error ?? 'no reason given'}`
        : 'Training stopped: the server stopped and could not resume the job. Your photos and classes are kept; press Train to start again.',
    );
}
