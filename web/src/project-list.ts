// The project list in the sidebar (with damaged projects, which cannot be opened).
import { api } from './api';
import { h } from './dom';
import { guard, plural, say, state } from './state';

const $list = document.getElementById('project-list') as HTMLUListElement;

// "Import a project": a .tar made by "Download project (.tar)" here or on another machine, under its own name or a
// new one (the server never overwrites a project: a name that exists is refused).
function importForm(): HTMLFormElement {
  const file = h('input', {
    id: 'import-project-file',
    name: 'file',
    type: 'file',
    accept: '.tar,application/x-tar',
    required: true,
  });
  const name = h('input', {
    id: 'import-project-name',
    name: 'name',
    maxlength: 64,
    placeholder: 'keep its name',
    autocomplete: 'off',
  });
  const submit = h('button', { type: 'submit' }, 'Import');
  const form = h(
    'form',
    { id: 'import-project', class: 'inline-form import-project' },
    h('h3', { id: 'import-project-h' }, 'Import a project'),
    h('label', { for: 'import-project-file' }, 'Project file (.tar)'),
    file,
    h('label', { for: 'import-project-name' }, 'Name (optional)'),
    h('div', { class: 'row' }, name, submit),
  );
  form.setAttribute('aria-labelledby', 'import-project-h');
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const archive = file.files?.[0];
    if (!archive) return;
    submit.disabled = true;
    say(`Importing “${archive.name}”…`);
    void guard(async () => {
      const r = await api.importProject(archive, name.value.trim() || undefined);
      form.reset();
      await refreshList();
      say(
        `Imported project “${r.project.name}”: ${plural(r.imported.photos, 'photo')}, ${plural(r.imported.bundles, 'trained classifier')}.`,
        'ok',
      );
      location.hash = `#/p/${encodeURIComponent(r.project.name)}`;
    }).finally(() => (submit.disabled = false));
  });
  return form;
}

$list.after(importForm());

export async function refreshList(): Promise<void> {
  ({ projects: state.projects, damaged: state.damaged = [] } = await api.projects());
  renderList();
}

export function renderList(): void {
  $list.replaceChildren(
    ...(state.projects.length
      ? state.projects.map((p) =>
          h(
            'li',
            {},
            h(
              'a',
              {
                href: `#/p/${encodeURIComponent(p.name)}`,
                'aria-current': state.current?.project.name === p.name ? 'page' : undefined,
              },
              h('span', { class: 'name' }, p.name),
              h('small', {}, `${plural(p.classes.length, 'class')} · ${plural(p.images, 'photo')}`),
            ),
          ),
        )
      : state.damaged.length
        ? []
        : [h('li', { class: 'muted' }, 'No projects yet.')]),
    // Damaged projects cannot be opened; the tooltip says why and what to do.
    ...state.damaged.map((d) => h('li', { class: 'muted', title: d.reason }, `${d.name} (damaged)`)),
  );
}
