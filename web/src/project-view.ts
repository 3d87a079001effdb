// One project's page: its sections (classes and photos, train, results, try it), opening and deleting it.
import { api } from './api';
import { h } from './dom';
import { focusOn } from './a11y';
import { addClass, reloadProject, renderClasses } from './classes';
import { closeLive, openLive } from './live';
import { refreshList, renderList } from './project-list';
import { renderResults, renderStale } from './results';
import { $view, guard, say, state } from './state';
import { closeEvents, followedJob, following, followJob, jobGone, renderTrainState, trainControls } from './training';
import { renderTry, stopWebcam, tryControls } from './try-it';

export async function openProject(name: string): Promise<void> {
  if (state.current?.project.name !== name) {
    stopWebcam();
    closeEvents();
    closeLive();
  }
  const [project, images] = await Promise.all([api.project(name), api.images(name)]);
  const results = project.latestBundle ? await api.results(name).catch(() => null) : null;
  state.current = { project, images, results };
  renderList();
  renderProject();
  focusOn('project-title');
  if (project.activeJob && !following()) followJob(project.activeJob.id);
  watch(name);
}

/** Keep the page current from the project's live stream (changes from other tabs, training, a restarted server). */
function watch(name: string): void {
  const mine = () => state.current?.project.name === name;
  const refreshResults = async () => {
    if (!state.current || !mine()) return;
    const bundle = state.current.project.latestBundle;
    if (bundle && state.current.results?.bundle !== bundle) {
      state.current.results = await api.results(name).catch(() => null);
      renderResults();
      renderTry();
    }
  };
  openLive(name, {
    hello: (project) => {
      if (!mine()) return;
      // A (re)connection: attach to the running job (its events so far follow), or learn how the one shown ended.
      if (project.activeJob) followJob(project.activeJob.id);
      else if (followedJob()) void jobGone(followedJob()!);
      void guard(async () => {
        await reloadProject();
        await refreshResults();
      });
    },
    changed: () => void guard(reloadProject),
    jobStarted: (job) => {
      if (mine() && followedJob() !== job.id) followJob(job.id);
    },
    model: () =>
      void guard(async () => {
        await reloadProject();
        await refreshResults();
      }),
    removed: () => {
      if (!mine()) return;
      say(`Project “${name}” was deleted.`, 'info');
      state.current = null;
      void refreshList();
      location.hash = '';
    },
  });
}

function section(id: string, title: string, ...body: (Node | string)[]): HTMLElement {
  return h(
    'section',
    { class: 'card', id, 'aria-labelledby': `${id}-h` },
    h('h2', { id: `${id}-h`, tabindex: -1 }, title),
    ...body,
  );
}

const SECTIONS = [
  ['classes', 'Classes'],
  ['train', 'Train'],
  ['results', 'Results'],
  ['try', 'Try it'],
] as const;

/** Links to the sections, so that the keyboard reaches Train or Results in a few Tabs past any number of classes. */
function sectionNav(): HTMLElement {
  return h(
    'nav',
    { class: 'section-nav', 'aria-label': 'Project sections' },
    SECTIONS.map(([id, label]) =>
      h(
        'a',
        {
          // The hash is the router's (#/p/NAME): the link moves focus itself instead of changing it.
          href: `#${id}`,
          onclick: (e: Event) => {
            e.preventDefault();
            focusOn(`${id}-h`);
          },
        },
        label,
      ),
    ),
  );
}

function renderProject(): void {
  if (!state.current) return;
  const p = state.current.project;
  $view.replaceChildren(
    h(
      'div',
      { class: 'project-head' },
      h('h1', { id: 'project-title', tabindex: -1 }, p.name),
      sectionNav(),
      h(
        'div',
        { class: 'row project-actions' },
        // Photos, classes and trained classifiers in one file: POST it to another tl serve's "Import a project".
        h(
          'a',
          {
            class: 'button subtle',
            href: api.archiveUrl(p.name),
            download: '',
            id: 'project-archive-link',
            title: 'Photos, classes and trained classifiers in one file, to import on another machine',
          },
          'Download project (.tar)',
        ),
        h(
          'button',
          {
            type: 'button',
            class: 'danger subtle',
            onclick: (e: Event) => deleteProject(p.name, e.currentTarget as HTMLElement),
          },
          'Delete project',
        ),
      ),
    ),
    section(
      'classes',
      '1 · Classes and photos',
      h(
        'form',
        { class: 'inline-form', id: 'add-class', onsubmit: (e: Event) => addClass(e) },
        h('label', { for: 'add-class-name' }, 'New class'),
        h(
          'div',
          { class: 'row' },
          h('input', {
            id: 'add-class-name',
            name: 'name',
            required: true,
            maxlength: 64,
            placeholder: 'e.g. Tigger',
            autocomplete: 'off',
          }),
          h('button', { type: 'submit' }, 'Add class'),
        ),
        h('p', { id: 'add-class-error', class: 'field-error', role: 'alert' }),
      ),
      h('div', { id: 'class-list', class: 'class-list' }),
    ),
    section('train', '2 · Train', trainControls()),
    section(
      'results',
      '3 · Results',
      h('p', { id: 'results-stale', class: 'stale-notice', role: 'status', hidden: true }),
      h('div', { id: 'results-body' }),
    ),
    section(
      'try',
      '4 · Try it',
      h('p', { id: 'try-stale', class: 'stale-notice', role: 'status', hidden: true }),
      tryControls(),
    ),
  );
  renderClasses();
  renderTrainState();
  renderResults();
  renderStale();
}

function deleteProject(name: string, button: HTMLElement): void {
  if (!confirm(`Delete project “${name}” with all its photos and trained classifiers? This cannot be undone.`)) return;
  void guard(async () => {
    await api.deleteProject(name);
    say(`Deleted project “${name}”.`, 'ok');
    state.current = null;
    await refreshList();
    location.hash = '';
  }, button);
}
