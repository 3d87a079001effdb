// The tl web app: projects → classes and photos → train (live progress) → results → try it → download.
import './style.css';
import { api, ApiError, type Backbone, type DamagedProject, type HistoryPoint, type ImageEntry, type Prediction, type Project, type Results } from './api';
import { h, pct } from './dom';
import { lineChart } from './chart';

const $status = document.getElementById('status') as HTMLParagraphElement;
const $view = document.getElementById('view') as HTMLDivElement;
const $list = document.getElementById('project-list') as HTMLUListElement;
const $newProject = document.getElementById('new-project') as HTMLFormElement;

interface Current {
  project: Project;
  images: ImageEntry[];
  results: Results | null;
}

let projects: Project[] = [];
let damaged: DamagedProject[] = [];
let current: Current | null = null;
let events: EventSource | null = null;
let backbones: Backbone[] = [];
let webcam: { stream: MediaStream; timer: number | undefined; busy: boolean } | null = null;

const IMAGE_RE = /\.(jpe?g|jfif|png|webp|tiff?|avif)$/i;
const isImage = (f: File) => (f.type ? f.type.startsWith('image/') && f.type !== 'image/gif' && f.type !== 'image/svg+xml' : IMAGE_RE.test(f.name)) || IMAGE_RE.test(f.name);
const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : /(s|sh|ch|x)$/.test(word) ? 'es' : 's'}`;

function say(message: string, kind: 'info' | 'error' | 'ok' = 'info'): void {
  $status.textContent = message;
  $status.dataset.kind = kind;
}

async function guard(fn: () => Promise<void>): Promise<void> {
  try {
    await fn();
  } catch (err) {
    say(err instanceof ApiError || err instanceof Error ? err.message : String(err), 'error');
  }
}

// ---------------------------------------------------------------- project list and routing

async function refreshList(): Promise<void> {
  ({ projects, damaged = [] } = await api.projects());
  renderList();
}

function renderList(): void {
  $list.replaceChildren(
    ...(projects.length
      ? projects.map((p) =>
          h(
            'li',
            {},
            h('a', { href: `#/p/${encodeURIComponent(p.name)}`, 'aria-current': current?.project.name === p.name ? 'page' : undefined }, h('span', { class: 'name' }, p.name), h('small', {}, `${plural(p.classes.length, 'class')} · ${plural(p.images, 'photo')}`)),
          ),
        )
      : damaged.length
        ? []
        : [h('li', { class: 'muted' }, 'No projects yet.')]),
    // Damaged projects cannot be opened; the tooltip says why and what to do.
    ...damaged.map((d) => h('li', { class: 'muted', title: d.reason }, `${d.name} (damaged)`)),
  );
}

function route(): void {
  const m = /^#\/p\/(.+)$/.exec(location.hash);
  if (m) void guard(() => openProject(decodeURIComponent(m[1])));
  else showHome();
}

function showHome(): void {
  stopWebcam();
  closeEvents();
  current = null;
  renderList();
  $view.replaceChildren(
    h(
      'section',
      { class: 'card intro' },
      h('h1', {}, 'Teach the computer to tell your photos apart'),
      h(
        'ol',
        {},
        h('li', {}, 'Create a project (left), e.g. “My cats”.'),
        h('li', {}, 'Add a class per thing to recognise — Tigger, Misty, neither — and drop a few dozen photos on each.'),
        h('li', {}, 'Press Train. It takes seconds: a pretrained network describes each photo, and a new last layer learns your classes.'),
        h('li', {}, 'Check the results, try new photos or your webcam, and download the trained bundle for `tl predict` or `tl serve --bundle`.'),
      ),
    ),
  );
}

$newProject.addEventListener('submit', (e) => {
  e.preventDefault();
  const input = $newProject.elements.namedItem('name') as HTMLInputElement;
  void guard(async () => {
    const p = await api.createProject(input.value.trim());
    input.value = '';
    await refreshList();
    say(`Created project “${p.name}”. Now add classes.`, 'ok');
    location.hash = `#/p/${encodeURIComponent(p.name)}`;
  });
});

// ---------------------------------------------------------------- a project

async function openProject(name: string): Promise<void> {
  if (current?.project.name !== name) {
    stopWebcam();
    closeEvents();
  }
  const [project, images] = await Promise.all([api.project(name), api.images(name)]);
  const results = project.latestBundle ? await api.results(name).catch(() => null) : null;
  current = { project, images, results };
  renderList();
  renderProject();
  if (project.activeJob && !events) followJob(project.activeJob.id);
}

async function reloadProject(): Promise<void> {
  if (!current) return;
  const name = current.project.name;
  const [project, images] = await Promise.all([api.project(name), api.images(name)]);
  current.project = project;
  current.images = images;
  renderClasses();
  renderTrainState();
  const inList = projects.find((p) => p.name === name);
  if (inList) Object.assign(inList, project);
  renderList();
}

function section(id: string, title: string, ...body: (Node | string)[]): HTMLElement {
  return h('section', { class: 'card', id, 'aria-labelledby': `${id}-h` }, h('h2', { id: `${id}-h` }, title), ...body);
}

function renderProject(): void {
  if (!current) return;
  const p = current.project;
  $view.replaceChildren(
    h(
      'div',
      { class: 'project-head' },
      h('h1', { id: 'project-title' }, p.name),
      h('button', { type: 'button', class: 'danger subtle', onclick: () => deleteProject(p.name) }, 'Delete project'),
    ),
    section(
      'classes',
      '1 · Classes and photos',
      h(
        'form',
        { class: 'inline-form', id: 'add-class', onsubmit: (e: Event) => addClass(e) },
        h('label', { for: 'add-class-name' }, 'New class'),
        h('div', { class: 'row' }, h('input', { id: 'add-class-name', name: 'name', required: true, maxlength: 64, placeholder: 'e.g. Tigger', autocomplete: 'off' }), h('button', { type: 'submit' }, 'Add class')),
      ),
      h('div', { id: 'class-list', class: 'class-list' }),
    ),
    section('train', '2 · Train', trainControls()),
    section('results', '3 · Results', h('div', { id: 'results-body' })),
    section('try', '4 · Try it', tryControls()),
  );
  renderClasses();
  renderTrainState();
  renderResults();
}

function deleteProject(name: string): void {
  if (!confirm(`Delete project “${name}” with all its photos and trained classifiers? This cannot be undone.`)) return;
  void guard(async () => {
    await api.deleteProject(name);
    say(`Deleted project “${name}”.`, 'ok');
    current = null;
    await refreshList();
    location.hash = '';
  });
}

function addClass(e: Event): void {
  e.preventDefault();
  const form = e.target as HTMLFormElement;
  const input = form.elements.namedItem('name') as HTMLInputElement;
  void guard(async () => {
    if (!current) return;
    await api.addClass(current.project.name, input.value.trim());
    say(`Added class “${input.value.trim()}”. Drop photos on it.`, 'ok');
    input.value = '';
    await reloadProject();
  });
}

// ---------------------------------------------------------------- classes and photos

function renderClasses(): void {
  const list = document.getElementById('class-list');
  if (!list || !current) return;
  const { project, images } = current;
  if (!project.classes.length) {
    list.replaceChildren(h('p', { class: 'muted' }, 'No classes yet. Add one per thing to recognise (at least two).'));
    return;
  }
  list.replaceChildren(...project.classes.map((c, i) => classCard(c.name, i, images.filter((img) => img.class === c.name))));
}

function classCard(cls: string, index: number, imgs: ImageEntry[]): HTMLElement {
  const id = `class-${index}`;
  const status = h('p', { class: 'upload-status', 'aria-live': 'polite', id: `${id}-status` });
  const filesInput = h('input', { type: 'file', multiple: true, accept: 'image/*', class: 'visually-hidden', id: `${id}-files`, 'data-class': cls });
  const folderInput = h('input', { type: 'file', multiple: true, webkitdirectory: true, class: 'visually-hidden', id: `${id}-folder`, 'data-class': cls });
  const onPick = (input: HTMLInputElement) => () => {
    const files = [...(input.files ?? [])];
    input.value = '';
    void upload(cls, files, status);
  };
  filesInput.addEventListener('change', onPick(filesInput));
  folderInput.addEventListener('change', onPick(folderInput));
  const title = h('h3', { id: `${id}-h` }, cls);
  const head = h(
    'div',
    { class: 'class-head' },
    title,
    h('span', { class: 'count', 'data-testid': 'class-count' }, plural(imgs.length, 'photo')),
    h('button', { type: 'button', class: 'subtle', onclick: () => startRename(head, cls) }, 'Rename'),
    h('button', { type: 'button', class: 'subtle danger', onclick: () => removeClass(cls, imgs.length) }, 'Remove'),
  );
  const card = h(
    'article',
    { class: 'class-card', 'aria-labelledby': `${id}-h`, 'data-class': cls },
    head,
    h(
      'div',
      { class: 'dropzone' },
      h('span', {}, 'Drop photos or folders here, or '),
      h('label', { for: `${id}-files`, class: 'button' }, 'Choose photos'),
      filesInput,
      h('label', { for: `${id}-folder`, class: 'button subtle' }, 'Choose a folder'),
      folderInput,
    ),
    status,
    imgs.length
      ? h(
          'ul',
          { class: 'thumbs', 'aria-label': `Photos of ${cls}` },
          ...imgs.map((img, k) =>
            h(
              'li',
              {},
              h('img', { src: img.thumbnailUrl, alt: `${cls} photo ${k + 1}`, loading: 'lazy', width: 72, height: 72, decoding: 'async' }),
              h('button', { type: 'button', class: 'remove', 'aria-label': `Remove ${cls} photo ${k + 1}`, title: 'Remove this photo', onclick: () => removeImage(img) }, '×'),
            ),
          ),
        )
      : h('p', { class: 'muted' }, 'No photos yet.'),
  );
  setupDrop(card, (files) => upload(cls, files, status));
  return card;
}

function startRename(head: HTMLElement, cls: string): void {
  const input = h('input', { value: cls, 'aria-label': `New name for ${cls}`, maxlength: 64, required: true });
  const form = h(
    'form',
    { class: 'rename-form' },
    input,
    h('button', { type: 'submit' }, 'Save'),
    h('button', { type: 'button', class: 'subtle', onclick: () => renderClasses() }, 'Cancel'),
  );
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    void guard(async () => {
      if (!current) return;
      await api.renameClass(current.project.name, cls, input.value.trim());
      say(`Renamed “${cls}” to “${input.value.trim()}”.`, 'ok');
      await reloadProject();
    });
  });
  head.replaceChildren(form);
  input.focus();
  input.select();
}

function removeClass(cls: string, count: number): void {
  if (count > 0 && !confirm(`Remove class “${cls}” and its ${plural(count, 'photo')}?`)) return;
  void guard(async () => {
    if (!current) return;
    await api.removeClass(current.project.name, cls);
    say(`Removed class “${cls}”.`, 'ok');
    await reloadProject();
  });
}

function removeImage(img: ImageEntry): void {
  void guard(async () => {
    await api.removeImage(img);
    say('Removed the photo.', 'ok');
    await reloadProject();
  });
}

async function upload(cls: string, files: File[], status: HTMLElement): Promise<void> {
  if (!current) return;
  const project = current.project.name;
  const images = files.filter(isImage);
  const ignored = files.length - images.length;
  if (!images.length) {
    say(files.length ? `None of the ${plural(files.length, 'file')} is a photo (JPEG, PNG, WebP, TIFF, AVIF).` : 'No files.', 'error');
    return;
  }
  let done = 0;
  let added = 0;
  let duplicates = 0;
  const problems: string[] = [];
  const CHUNK = 16;
  status.textContent = `Uploading 0/${images.length}…`;
  for (let i = 0; i < images.length; i += CHUNK) {
    const chunk = images.slice(i, i + CHUNK);
    try {
      const r = await api.upload(project, cls, chunk);
      added += r.added.length;
      duplicates += r.duplicates.length;
      problems.push(...r.rejected.map((x) => x.message));
    } catch (err) {
      problems.push((err as Error).message);
    }
    done += chunk.length;
    status.textContent = `Uploading ${done}/${images.length}…`;
  }
  const parts = [`Added ${plural(added, 'photo')} to “${cls}”`];
  if (duplicates) parts.push(`${duplicates} already there`);
  if (ignored) parts.push(`${ignored} non-image ${ignored === 1 ? 'file' : 'files'} ignored`);
  if (problems.length) parts.push(`${problems.length} refused: ${problems.slice(0, 3).join('; ')}${problems.length > 3 ? '…' : ''}`);
  say(parts.join(', ') + '.', problems.length && !added ? 'error' : 'ok');
  await reloadProject();
}

/** Drag-and-drop of files and whole folders (walked with webkitGetAsEntry). */
function setupDrop(el: HTMLElement, onFiles: (files: File[]) => Promise<void> | void): void {
  let depth = 0;
  el.addEventListener('dragenter', (e) => {
    e.preventDefault();
    depth++;
    el.classList.add('dragging');
  });
  el.addEventListener('dragover', (e) => {
    e.preventDefault();
    if (e.dataTransfer) e.dataTransfer.dropEffect = 'copy';
  });
  el.addEventListener('dragleave', () => {
    if (--depth <= 0) el.classList.remove('dragging');
  });
  el.addEventListener('drop', (e) => {
    e.preventDefault();
    depth = 0;
    el.classList.remove('dragging');
    const dt = e.dataTransfer;
    if (!dt) return;
    const entries = [...dt.items].map((it) => (it.kind === 'file' ? it.webkitGetAsEntry?.() : null));
    if (entries.some((en) => en?.isDirectory)) void guard(async () => void (await onFiles(await filesFromEntries(entries.filter((x): x is FileSystemEntry => !!x)))));
    else void onFiles([...dt.files]);
  });
}

async function filesFromEntries(entries: FileSystemEntry[]): Promise<File[]> {
  const out: File[] = [];
  const walk = async (entry: FileSystemEntry): Promise<void> => {
    if (entry.isFile) {
      out.push(await new Promise<File>((res, rej) => (entry as FileSystemFileEntry).file(res, rej)));
    } else if (entry.isDirectory) {
      const reader = (entry as FileSystemDirectoryEntry).createReader();
      for (;;) {
        const batch = await new Promise<FileSystemEntry[]>((res, rej) => reader.readEntries(res, rej));
        if (!batch.length) break;
        for (const child of batch) if (!child.name.startsWith('.')) await walk(child);
      }
    }
  };
  for (const e of entries) await walk(e);
  return out;
}

// ---------------------------------------------------------------- training

function trainControls(): HTMLElement {
  const backboneSelect = h('select', { id: 'opt-backbone', name: 'model' });
  const fill = () =>
    backboneSelect.replaceChildren(...backbones.map((b) => h('option', { value: b.id, selected: b.default }, `${b.id} (${b.featureDim}-d)${b.default ? ' — default' : ''}`)));
  if (backbones.length) fill();
  else void api.backbones().then((b) => ((backbones = b), fill())).catch(() => {});
  return h(
    'div',
    {},
    h(
      'div',
      { class: 'row' },
      h('button', { type: 'button', id: 'train-button', class: 'primary', onclick: () => startTraining() }, 'Train'),
      h('span', { id: 'train-hint', class: 'muted' }),
    ),
    h(
      'details',
      { class: 'advanced' },
      h('summary', {}, 'Advanced options'),
      h(
        'div',
        { class: 'options' },
        h('label', {}, 'Seed', h('input', { id: 'opt-seed', type: 'number', min: 0, step: 1, value: 0 })),
        h('label', {}, 'Validation fraction', h('input', { id: 'opt-val', type: 'number', min: 0.05, max: 0.5, step: 0.05, value: 0.2 })),
        h('label', {}, 'Head', h('select', { id: 'opt-head' }, h('option', { value: 'linear' }, 'linear (a new softmax)'), h('option', { value: 'mlp:256' }, 'MLP, 256 hidden units'))),
        h('label', {}, 'Backbone', backboneSelect),
        h('p', { class: 'muted' }, 'The regularization strength is chosen by 5-fold cross-validation; the same seed gives the same classifier.'),
      ),
    ),
    h(
      'div',
      { id: 'progress', class: 'progress', hidden: true },
      h('p', { id: 'phase', 'aria-live': 'polite' }),
      h('div', { class: 'row' }, h('progress', { id: 'extract-bar', max: 1, value: 0, 'aria-label': 'Feature extraction progress' }), h('span', { id: 'rate', class: 'muted' })),
      h('div', { id: 'charts', class: 'charts' }),
      h('button', { type: 'button', id: 'cancel-button', class: 'danger', onclick: () => cancelTraining() }, 'Cancel training'),
    ),
  );
}

let activeJobId: string | null = null;

function renderTrainState(): void {
  const btn = document.getElementById('train-button') as HTMLButtonElement | null;
  const hint = document.getElementById('train-hint');
  if (!btn || !hint || !current) return;
  const classes = current.project.classes;
  const empty = classes.filter((c) => c.images === 0).map((c) => c.name);
  let why = '';
  if (classes.length < 2) why = 'Add at least two classes.';
  else if (empty.length) why = `Add photos to ${empty.map((n) => `“${n}”`).join(', ')}.`;
  else if (classes.some((c) => c.images < 10)) hint.textContent = 'Tip: 20 or more photos per class give far more reliable results.';
  btn.disabled = !!why || !!activeJobId;
  if (why) hint.textContent = why;
  else if (!classes.some((c) => c.images < 10)) hint.textContent = `${plural(current.project.images, 'photo')} in ${classes.length} classes.`;
}

function startTraining(): void {
  void guard(async () => {
    if (!current) return;
    const num = (id: string) => (document.getElementById(id) as HTMLInputElement).value;
    const head = (document.getElementById('opt-head') as HTMLSelectElement).value;
    const model = (document.getElementById('opt-backbone') as HTMLSelectElement).value || undefined;
    const r = await api.train(current.project.name, { seed: Number(num('opt-seed') || 0), val: Number(num('opt-val') || 0.2), head, model });
    followJob(r.job.id);
  });
}

function cancelTraining(): void {
  if (!activeJobId) return;
  const id = activeJobId;
  void guard(async () => {
    await api.cancel(id);
    setPhase('Cancelling…');
  });
}

function setPhase(text: string): void {
  const el = document.getElementById('phase');
  if (el) el.textContent = text;
}

function closeEvents(): void {
  events?.close();
  events = null;
  activeJobId = null;
}

function followJob(jobId: string): void {
  closeEvents();
  activeJobId = jobId;
  renderTrainState();
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
  const es = new EventSource(`/v1/jobs/${encodeURIComponent(jobId)}/events`);
  events = es;
  const on = (name: string, fn: (data: any) => void) => es.addEventListener(name, (e) => fn(JSON.parse((e as MessageEvent).data)));
  on('dataset', (d: { counts: { label: string; train: number; val: number }[]; warnings: string[] }) => {
    const train = d.counts.reduce((s, c) => s + c.train, 0);
    const val = d.counts.reduce((s, c) => s + c.val, 0);
    setPhase(`Training on ${plural(train, 'photo')}, checking on ${val} held-out ${val === 1 ? 'photo' : 'photos'}.`);
    if (d.warnings.length) say(d.warnings.join(' '), 'info');
  });
  on('extract-start', (d: { split: string; total: number }) => {
    setPhase(`Describing the ${d.split === 'train' ? 'training' : 'validation'} photos with the pretrained network…`);
    bar.max = Math.max(1, d.total);
    bar.value = 0;
  });
  on('extract', (d: { done: number; total: number; imagesPerSecond: number | null; cached: number }) => {
    bar.max = Math.max(1, d.total);
    bar.value = d.done;
    rate.textContent = `${d.done}/${d.total} photos · ${d.imagesPerSecond ?? '–'} images/s${d.cached ? ` · ${d.cached} from cache` : ''}`;
  });
  on('select-l2', (d: { cvAccuracy: number | null }) => setPhase(`Fitting the new last layer (cross-validated accuracy ${d.cvAccuracy === null ? '–' : pct(d.cvAccuracy)})…`));
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
  on('done', (d: { accuracy: number; seconds: number }) => setPhase(`Done in ${d.seconds.toFixed(1)} s: accuracy ${pct(d.accuracy)}.`));
  on('failed', (d: { message: string }) => say(`Training failed: ${d.message}`, 'error'));
  on('end', (d: { state: string }) => {
    es.close();
    if (events === es) events = null;
    activeJobId = null;
    cancel.hidden = true;
    renderTrainState();
    if (d.state === 'cancelled') {
      setPhase('Training cancelled.');
      say('Training cancelled; nothing was saved.', 'info');
    } else if (d.state === 'failed') setPhase('Training failed.');
    else if (d.state === 'done') {
      say('Training finished. See the results below.', 'ok');
      void guard(async () => {
        if (!current) return;
        current.results = await api.results(current.project.name);
        current.project = await api.project(current.project.name);
        renderResults();
        renderTry();
        await refreshList();
      });
    }
  });
}

function curveCharts(history: readonly HistoryPoint[]): SVGElement[] {
  const s = (key: keyof HistoryPoint) => history.map((p) => [p.step, p[key] ?? NaN] as [number, number]);
  const hasVal = history.some((p) => p.valAcc !== undefined && p.valAcc !== null);
  return [
    lineChart('Loss', [{ name: 'train', points: s('trainLoss'), className: 's-train' }, ...(hasVal ? [{ name: 'validation', points: s('valLoss'), className: 's-val' }] : [])], { yMin: 0 }),
    lineChart('Accuracy', [{ name: 'train', points: s('trainAcc'), className: 's-train' }, ...(hasVal ? [{ name: 'validation', points: s('valAcc'), className: 's-val' }] : [])], {
      yMin: 0,
      yMax: 1,
      yFormat: (v) => pct(v, 0),
    }),
  ];
}

// ---------------------------------------------------------------- results

function renderResults(): void {
  const body = document.getElementById('results-body');
  if (!body || !current) return;
  const r = current.results;
  if (!r) {
    body.replaceChildren(h('p', { class: 'muted' }, 'Train to see how well the classifier does on photos it did not learn from.'));
    return;
  }
  const on = r.evaluatedOn === 'val' ? `${plural(r.count, 'held-out photo')}` : `${plural(r.count, 'training photo')} (no held-out photos: add more)`;
  const confusion = h(
    'table',
    { class: 'confusion' },
    h('caption', {}, 'Confusion matrix: rows are the true class, columns the predicted one'),
    h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'true \\ predicted'), ...r.labels.map((l) => h('th', { scope: 'col' }, l)))),
    h(
      'tbody',
      {},
      ...r.confusion.map((row, t) =>
        h('tr', {}, h('th', { scope: 'row' }, r.labels[t]), ...row.map((n, p) => h('td', { class: n === 0 ? 'zero' : p === t ? 'hit' : 'miss' }, String(n)))),
      ),
    ),
  );
  const perClass = h(
    'table',
    { class: 'per-class' },
    h('caption', {}, 'Per class'),
    h('thead', {}, h('tr', {}, ...['class', 'accuracy', 'precision', 'F1', 'photos'].map((t) => h('th', { scope: 'col' }, t)))),
    h('tbody', {}, ...r.perClass.map((c) => h('tr', {}, h('th', { scope: 'row' }, c.label), h('td', {}, pct(c.accuracy)), h('td', {}, pct(c.precision)), h('td', {}, c.f1.toFixed(3)), h('td', {}, String(c.support))))),
  );
  const mistakes = r.misclassified.length
    ? h(
        'ul',
        { class: 'mistakes' },
        ...r.misclassified.map((m) =>
          h(
            'li',
            {},
            m.thumbnailUrl ? h('img', { src: m.thumbnailUrl, alt: `A ${m.trueLabel} photo taken for ${m.predictedLabel}`, width: 96, height: 96, loading: 'lazy' }) : h('div', { class: 'missing' }, '(removed)'),
            h('p', {}, h('strong', {}, m.predictedLabel), ` ${pct(m.probability, 0)}`, h('br', {}), h('span', { class: 'muted' }, `really ${m.trueLabel}`)),
            h('p', { class: 'probs' }, Object.entries(m.probabilities).sort((a, b) => b[1] - a[1]).map(([l, v]) => `${l} ${pct(v, 0)}`).join(' · ')),
          ),
        ),
      )
    : h('p', { class: 'muted' }, 'No held-out photo was misclassified.');
  body.replaceChildren(
    h(
      'div',
      { class: 'headline' },
      h('span', { id: 'accuracy', class: 'big', 'data-value': String(r.accuracy) }, pct(r.accuracy)),
      h('span', {}, ` accuracy on ${on}`),
    ),
    h('div', { class: 'row wrap' }, h('a', { class: 'button primary', href: r.downloadUrl, download: '', id: 'download-link' }, 'Download the classifier (.tar)'), h('a', { class: 'button subtle', href: r.reportUrl, target: '_blank', rel: 'noopener' }, 'Full report')),
    h('div', { class: 'tables' }, h('div', { class: 'scroll-x' }, perClass), h('div', { class: 'scroll-x' }, confusion)),
    h('h3', {}, `Misclassified photos (${r.misclassified.length})`),
    mistakes,
    r.history.length ? h('details', { class: 'curves' }, h('summary', {}, 'Training curves'), h('div', { class: 'charts' }, ...curveCharts(r.history))) : '',
  );
}

// ---------------------------------------------------------------- try it

function tryControls(): HTMLElement {
  const wrap = h('div', { id: 'try-body' });
  queueMicrotask(renderTry);
  return wrap;
}

function renderTry(): void {
  const body = document.getElementById('try-body');
  if (!body || !current) return;
  stopWebcam();
  if (!current.project.latestBundle) {
    body.replaceChildren(h('p', { class: 'muted' }, 'Train first, then test the classifier on new photos here.'));
    return;
  }
  const input = h('input', { type: 'file', accept: 'image/*', id: 'try-file', class: 'visually-hidden' });
  const preview = h('img', { id: 'try-preview', alt: 'The photo being classified', hidden: true });
  const video = h('video', { id: 'try-video', autoplay: true, muted: true, playsinline: true, hidden: true, 'aria-label': 'Webcam view' });
  const result = h('div', { id: 'try-result', class: 'try-result', 'aria-live': 'polite' });
  const canUseCamera = !!navigator.mediaDevices?.getUserMedia;
  const camButton = h('button', { type: 'button', id: 'webcam-button', class: 'subtle', hidden: !canUseCamera }, 'Use webcam');
  // Only the newest request's answer is shown: a webcam frame still in flight when a photo is chosen (or dropped)
  // must not replace the photo's answer when it comes back later.
  let latest = 0;
  const classify = (blob: Blob) => {
    const mine = ++latest;
    return guard(async () => {
      if (!current) return;
      const pred = await api.predict(current.project.name, blob);
      if (mine === latest) showPrediction(result, pred);
    });
  };
  input.addEventListener('change', () => {
    const f = input.files?.[0];
    input.value = '';
    if (!f) return;
    stopWebcam();
    video.hidden = true;
    preview.src = URL.createObjectURL(f);
    preview.hidden = false;
    result.replaceChildren(h('p', { class: 'muted' }, 'Classifying…'));
    void classify(f);
  });
  camButton.addEventListener('click', () => {
    if (webcam) {
      stopWebcam();
      return;
    }
    void guard(async () => {
      const stream = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 }, audio: false });
      video.srcObject = stream;
      video.hidden = false;
      preview.hidden = true;
      camButton.textContent = 'Stop webcam';
      webcam = { stream, timer: undefined, busy: false };
      const canvas = document.createElement('canvas');
      const tick = () => {
        if (!webcam) return;
        if (!webcam.busy && video.videoWidth) {
          canvas.width = video.videoWidth;
          canvas.height = video.videoHeight;
          canvas.getContext('2d')?.drawImage(video, 0, 0);
          webcam.busy = true;
          canvas.toBlob(
            (blob) => {
              if (!blob || !webcam) return;
              void classify(blob).finally(() => webcam && (webcam.busy = false));
            },
            'image/jpeg',
            0.85,
          );
        }
        webcam.timer = window.setTimeout(tick, 250);
      };
      tick();
    });
  });
  const drop = h('div', { class: 'dropzone' }, h('span', {}, 'Drop a photo here, or '), h('label', { for: 'try-file', class: 'button' }, 'Choose a photo'), input, camButton);
  setupDrop(drop, (files) => {
    const f = files.find(isImage);
    if (!f) return;
    stopWebcam();
    preview.src = URL.createObjectURL(f);
    preview.hidden = false;
    void classify(f);
  });
  body.replaceChildren(drop, h('div', { class: 'try-grid' }, h('div', { class: 'try-media' }, preview, video), result));
}

function showPrediction(el: HTMLElement, p: Prediction): void {
  el.replaceChildren(
    h('p', { class: 'try-label' }, h('strong', { id: 'try-top-label' }, p.label), ` ${pct(p.probability)}`),
    p.unknown ? h('p', { class: 'warning' }, 'This photo looks unlike all the training photos: the answer may be meaningless.') : '',
    h(
      'ul',
      { class: 'bars' },
      ...p.top.map((t) =>
        h(
          'li',
          {},
          h('span', { class: 'bar-label' }, t.label),
          h('span', { class: 'bar', role: 'img', 'aria-label': `${t.label}: ${pct(t.probability)}` }, h('span', { class: 'fill', style: `width:${(t.probability * 100).toFixed(1)}%` })),
          h('span', { class: 'bar-value' }, pct(t.probability)),
        ),
      ),
    ),
    h('p', { class: 'muted small' }, `${p.timing.totalMs.toFixed(0)} ms`),
  );
}

function stopWebcam(): void {
  if (!webcam) return;
  clearTimeout(webcam.timer);
  for (const t of webcam.stream.getTracks()) t.stop();
  webcam = null;
  const btn = document.getElementById('webcam-button');
  if (btn) btn.textContent = 'Use webcam';
  const video = document.getElementById('try-video') as HTMLVideoElement | null;
  if (video) {
    video.srcObject = null;
    video.hidden = true;
  }
}

// ---------------------------------------------------------------- start

window.addEventListener('hashchange', route);
void guard(async () => {
  await refreshList();
  route();
});
