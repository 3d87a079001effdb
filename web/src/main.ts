// The tl web app: projects → classes and photos → train (live progress) → results → try it → download.
// This module routes (#/p/NAME opens a project) and shows the home page; each part of a project has its own module.
import './style.css';
import { guardNear } from './a11y';
import { api } from './api';
import { onServerBack } from './banner';
import { closeLive } from './live';
import { h } from './dom';
import { openProject } from './project-view';
import { refreshList, renderList } from './project-list';
import { $view, guard, say, state } from './state';
import { closeEvents } from './training';
import { stopWebcam } from './try-it';

const $newProject = document.getElementById('new-project') as HTMLFormElement;

function route(): void {
  const m = /^#\/p\/(.+)$/.exec(location.hash);
  if (m) void guard(() => openProject(decodeURIComponent(m[1])));
  else showHome();
}

function showHome(): void {
  stopWebcam();
  closeEvents();
  closeLive();
  state.current = null;
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
        h(
          'li',
          {},
          'Add a class per thing to recognise — Tigger, Misty, neither — and drop a few dozen photos on each.',
        ),
        h(
          'li',
          {},
          'Press Train. It takes seconds: a pretrained network describes each photo, and a new last layer learns your classes.',
        ),
        h(
          'li',
          {},
          'Check the results, try new photos or your webcam, and download the trained bundle for `tl predict` or `tl serve --bundle`.',
        ),
      ),
    ),
  );
}

$newProject.addEventListener('submit', (e) => {
  e.preventDefault();
  const input = $newProject.elements.namedItem('name') as HTMLInputElement;
  void guardNear('new-project-error', async () => {
    const p = await api.createProject(input.value.trim());
    input.value = '';
    await refreshList();
    say(`Created project “${p.name}”. Now add classes.`, 'ok');
    location.hash = `#/p/${encodeURIComponent(p.name)}`;
  });
});

// The server is back after an outage: the project list may have changed (an open project's stream reloads it; a
// project that could not be opened is opened now).
onServerBack(
  () =>
    void guard(async () => {
      await refreshList();
      if (!state.current) route();
    }),
);

window.addEventListener('hashchange', route);
void guard(async () => {
  await refreshList();
  route();
});
