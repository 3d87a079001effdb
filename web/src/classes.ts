// A project's classes and photos: class cards, rename, remove, upload (files, folders, drops).
import { guardNear } from './a11y';
import { api, type ImageEntry } from './api';
import { h } from './dom';
import { setupDrop } from './drop';
import { photoGrid } from './photo-grid';
import { renderList } from './project-list';
import { renderStale } from './results';
import { guard, isImage, isUnreachable, offerUndo, plural, say, state } from './state';
import { renderTrainState } from './training';
import { syncWebcam, webcamControls } from './webcam';

let reloading: Promise<void> | null = null;
let reloadAgain = false;

/**
 * Reload the open project after a change to its classes or photos (here, in another tab, or by the API), and redraw
 * what shows them. Calls while one is on its way share it, and one more reload follows so the last change is seen.
 */
export function reloadProject(): Promise<void> {
  if (reloading) {
    reloadAgain = true;
    return reloading;
  }
  reloading = (async () => {
    try {
      do {
        reloadAgain = false;
        await reloadOnce();
      } while (reloadAgain);
    } finally {
      reloading = null;
    }
  })();
  return reloading;
}

async function reloadOnce(): Promise<void> {
  if (!state.current) return;
  const name = state.current.project.name;
  const [project, images] = await Promise.all([api.project(name), api.images(name)]);
  if (state.current?.project.name !== name) return;
  // The same data again (this tab's own change, then its event from the live stream): no redraw, so focus, an open
  // strip and a pending refocus stay as they are.
  const changed = JSON.stringify([project, images]) !== JSON.stringify([state.current.project, state.current.images]);
  state.current.project = project;
  state.current.images = images;
  if (changed) {
    const focused = focusKey();
    renderClasses();
    restoreFocus(focused);
  }
  renderTrainState();
  renderStale();
  const inList = state.projects.find((p) => p.name === name);
  if (inList) Object.assign(inList, project);
  renderList();
}

/** How to find the focused element of the class list again after a redraw (a photo by its file, else by id). */
function focusKey(): string | null {
  const el = document.activeElement;
  if (!(el instanceof HTMLElement) || !document.getElementById('class-list')?.contains(el)) return null;
  if (el.dataset.file) return `#class-list [data-file="${CSS.escape(el.dataset.file)}"]`;
  return el.id ? `#${CSS.escape(el.id)}` : null;
}

/** Put focus back where it was before a redraw took its element away (never when it has moved on). */
function restoreFocus(key: string | null): void {
  const el = document.activeElement;
  if (key && (!el || el === document.body)) document.querySelector<HTMLElement>(key)?.focus({ preventScroll: true });
}

export function addClass(e: Event): void {
  e.preventDefault();
  const form = e.target as HTMLFormElement;
  const input = form.elements.namedItem('name') as HTMLInputElement;
  void guardNear('add-class-error', async () => {
    if (!state.current) return;
    await api.addClass(state.current.project.name, input.value.trim());
    say(`Added class “${input.value.trim()}”. Drop photos on it.`, 'ok');
    input.value = '';
    await reloadProject();
  });
}

export function renderClasses(): void {
  drawClasses();
  syncWebcam();
}

function drawClasses(): void {
  const list = document.getElementById('class-list');
  if (!list || !state.current) return;
  const { project, images } = state.current;
  if (!project.classes.length) {
    list.replaceChildren(h('p', { class: 'muted' }, 'No classes yet. Add one per thing to recognise (at least two).'));
    return;
  }
  list.replaceChildren(
    ...project.classes.map((c, i) =>
      classCard(
        c.name,
        i,
        images.filter((img) => img.class === c.name),
      ),
    ),
  );
}

function classCard(cls: string, index: number, imgs: ImageEntry[]): HTMLElement {
  const id = `class-${index}`;
  const status = h('p', { class: 'upload-status', 'aria-live': 'polite', id: `${id}-status` });
  const filesInput = h('input', {
    type: 'file',
    multiple: true,
    accept: 'image/*',
    class: 'visually-hidden',
    id: `${id}-files`,
    'data-class': cls,
  });
  const folderInput = h('input', {
    type: 'file',
    multiple: true,
    webkitdirectory: true,
    class: 'visually-hidden',
    id: `${id}-folder`,
    'data-class': cls,
  });
  const onPick = (input: HTMLInputElement) => () => {
    const files = [...(input.files ?? [])];
    input.value = '';
    void upload(cls, files, status);
  };
  filesInput.addEventListener('change', onPick(filesInput));
  folderInput.addEventListener('change', onPick(folderInput));
  const webcam = webcamControls(cls, (frames, st) => upload(cls, frames, st));
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
      webcam.button,
    ),
    webcam.area,
    status,
    photoGrid({ id: `${id}-photos`, cls, images: imgs, onRemove: removeImage }),
  );
  setupDrop(card, async (files) => void (await upload(cls, files, status)));
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
      if (!state.current) return;
      await api.renameClass(state.current.project.name, cls, input.value.trim());
      say(`Renamed “${cls}” to “${input.value.trim()}”.`, 'ok');
      await reloadProject();
    }, form);
  });
  head.replaceChildren(form);
  input.focus();
  input.select();
}

function removeClass(cls: string, count: number): void {
  if (count > 0 && !confirm(`Remove class “${cls}” and its ${plural(count, 'photo')}?`)) return;
  void guard(async () => {
    if (!state.current) return;
    await api.removeClass(state.current.project.name, cls);
    say(`Removed class “${cls}”.`, 'ok');
    await reloadProject();
  }, cardOf(cls)?.querySelector('.class-head'));
}

const cardOf = (cls: string) => document.querySelector(`article[data-class="${CSS.escape(cls)}"]`);

/** Remove at once (every tab sees it), with an Undo for a few seconds that puts the very same photo back. */
function removeImage(img: ImageEntry): void {
  void guard(async () => {
    if (!state.current) return;
    const project = state.current.project.name;
    // Its bytes, kept for Undo: the photo is stored under its content hash, so uploading them again restores it.
    const blob = await fetch(img.url)
      .then((r) => (r.ok ? r.blob() : null))
      .catch(() => null);
    await api.removeImage(img);
    await reloadProject();
    offerUndo(
      `Removed a photo from “${img.class}”.`,
      blob &&
        (async () => {
          await api.upload(project, img.class, [new File([blob], img.file, { type: blob.type })]);
          say(`Put the photo back in “${img.class}”.`, 'ok');
          if (state.current?.project.name === project) await reloadProject();
        }),
    );
  }, cardOf(img.class)?.querySelector('.upload-status'));
}

/** Upload files to a class (also the webcam's frames); resolves to the summary it showed. */
async function upload(cls: string, files: File[], status: HTMLElement): Promise<string> {
  if (!state.current) return '';
  const project = state.current.project.name;
  const images = files.filter(isImage);
  const ignored = files.length - images.length;
  if (!images.length) {
    const message = files.length
      ? `None of the ${plural(files.length, 'file')} is a photo (JPEG, PNG, WebP, TIFF, AVIF).`
      : 'No files.';
    say(message, 'error', status);
    return message;
  }
  let done = 0;
  let added = 0;
  let duplicates = 0;
  let unreachable = false;
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
      // The server went away: stop here (the banner says it); what was sent is kept.
      if (isUnreachable(err)) {
        unreachable = true;
        break;
      }
      problems.push((err as Error).message);
    }
    done += chunk.length;
    status.textContent = `Uploading ${done}/${images.length}…`;
  }
  if (unreachable) {
    status.textContent = '';
    const message = `Upload to “${cls}” stopped: the server did not answer. ${plural(done, 'photo')} of ${images.length} were sent; add the rest again when it is back.`;
    say(message, 'error', status);
    say(message, 'error'); // the card is redrawn when the server is back: the status line keeps it
    return message;
  }
  const parts = [`Added ${plural(added, 'photo')} to “${cls}”`];
  if (duplicates) parts.push(`${duplicates} already there`);
  if (ignored) parts.push(`${ignored} non-image ${ignored === 1 ? 'file' : 'files'} ignored`);
  if (problems.length)
    parts.push(`${problems.length} refused: ${problems.slice(0, 3).join('; ')}${problems.length > 3 ? '…' : ''}`);
  const summary = parts.join(', ') + '.';
  status.textContent = '';
  say(summary, problems.length && !added ? 'error' : 'ok');
  await guard(reloadProject, status);
  return summary;
}
