// The project list in the sidebar (with damaged projects, which cannot be opened).
import { api } from './api';
import { h } from './dom';
import { plural, state } from './state';

const $list = document.getElementById('project-list') as HTMLUListElement;

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
