// A class's photos as one keyboard stop: a listbox with a roving tabindex (arrows, Home/End move; Delete or Backspace
// removes the focused photo and focus goes to its neighbour). A class with many photos shows one scrolling strip and a
// "Show all N photos" toggle, so a few dozen photos per class do not make the page thousands of pixels tall.
import type { ImageEntry } from './api';
import { h } from './dom';

/** More photos than this start as a one-row strip. */
const STRIP_OVER = 12;

/** Which photo of each class holds the grid's tab stop, and which classes are shown in full (kept across redraws). */
const current = new Map<string, string>();
const expanded = new Set<string>();
/** The photo (or the emptied class) to focus once the grid is drawn again after a removal. */
let refocus: { cls: string; removed: string; file: string | null } | null = null;

export interface PhotoGridOptions {
  /** A prefix for the ids of the grid's parts, unique on the page. */
  id: string;
  cls: string;
  images: ImageEntry[];
  /** The one remove path (classes.ts); the grid redraws when the project reloads. */
  onRemove: (img: ImageEntry) => void;
}

export function photoGrid({ id, cls, images, onRemove }: PhotoGridOptions): HTMLElement {
  // A removal that failed (the photo is still here) moves nothing.
  const pending = refocus?.cls === cls && !images.some((img) => img.file === refocus!.removed) ? refocus : null;
  if (refocus?.cls === cls) refocus = null;
  if (!images.length) {
    const empty = h('p', { class: 'muted', tabindex: -1 }, 'No photos yet.');
    if (pending) focusWhenShown(empty);
    return empty;
  }
  if (pending?.file) current.set(cls, pending.file);
  const tabStop = images.some((img) => img.file === current.get(cls)) ? current.get(cls)! : images[0].file;
  const strip = images.length > STRIP_OVER && !expanded.has(cls);
  const items = images.map((img) => photoItem(cls, img, img.file === tabStop, () => remove(img)));
  const list = h(
    'ul',
    {
      class: strip ? 'thumbs strip' : 'thumbs',
      role: 'listbox',
      'aria-label': `Photos of ${cls}`,
      'aria-describedby': `${id}-hint`,
      id,
    },
    items,
  );
  const focusAt = (k: number) => {
    const to = items[Math.max(0, Math.min(items.length - 1, k))];
    select(items, to);
    current.set(cls, to.dataset.file!);
    to.focus();
  };
  const remove = (img: ImageEntry) => {
    const k = images.indexOf(img);
    const neighbour = images[k + 1] ?? images[k - 1];
    refocus = { cls, removed: img.file, file: neighbour?.file ?? null };
    onRemove(img);
  };
  list.addEventListener('focusin', (e) => {
    const item = (e.target as HTMLElement).closest<HTMLElement>('[role=option]');
    if (!item) return;
    select(items, item);
    current.set(cls, item.dataset.file!);
  });
  list.addEventListener('keydown', (e) => {
    const item = (e.target as HTMLElement).closest<HTMLElement>('[role=option]');
    if (!item || e.altKey || e.ctrlKey || e.metaKey) return;
    const k = items.indexOf(item as HTMLLIElement);
    const cols = columns(items);
    const moves: Record<string, number> = {
      ArrowLeft: k - 1,
      ArrowRight: k + 1,
      ArrowUp: k - cols >= 0 ? k - cols : k,
      ArrowDown: k + cols < items.length ? k + cols : k,
      Home: 0,
      End: items.length - 1,
    };
    if (e.key in moves) focusAt(moves[e.key]);
    else if (e.key === 'Delete' || e.key === 'Backspace') remove(images[k]);
    else return;
    e.preventDefault();
  });
  if (pending?.file) focusWhenShown(items.find((it) => it.dataset.file === pending.file) ?? items[0]);
  if (images.length <= STRIP_OVER) return h('div', { class: 'photo-grid' }, list, hint(id));
  const toggle = h(
    'button',
    {
      type: 'button',
      class: 'subtle show-all',
      'aria-expanded': String(!strip),
      'aria-controls': list.id,
      onclick: () => {
        if (expanded.has(cls)) expanded.delete(cls);
        else expanded.add(cls);
        const open = expanded.has(cls);
        list.classList.toggle('strip', !open);
        toggle.setAttribute('aria-expanded', String(open));
        toggle.textContent = open ? 'Show one row' : `Show all ${images.length} photos`;
      },
    },
    strip ? `Show all ${images.length} photos` : 'Show one row',
  );
  return h('div', { class: 'photo-grid' }, list, h('div', { class: 'row' }, toggle), hint(id));
}

function photoItem(cls: string, img: ImageEntry, tabStop: boolean, remove: () => void): HTMLLIElement {
  const name = `${cls}: ${img.file}`;
  return h(
    'li',
    {
      role: 'option',
      tabindex: tabStop ? 0 : -1,
      'aria-selected': String(tabStop),
      'aria-label': name,
      'aria-keyshortcuts': 'Delete Backspace',
      title: name,
      'data-file': img.file,
    },
    h('img', { src: img.thumbnailUrl, alt: '', loading: 'lazy', width: 72, height: 72, decoding: 'async' }),
    // The pointer's way to remove (keyboards press Delete): not a button, since an option may hold no control.
    h('span', { class: 'remove', 'aria-hidden': 'true', title: 'Remove this photo', onclick: remove }, '×'),
  );
}

function select(items: HTMLElement[], to: HTMLElement): void {
  for (const it of items) {
    it.tabIndex = it === to ? 0 : -1;
    it.setAttribute('aria-selected', String(it === to));
  }
}

/** Photos per row as laid out now (a strip is one row, so Up/Down stay put there). */
function columns(items: HTMLElement[]): number {
  const top = items[0].offsetTop;
  const n = items.findIndex((it) => it.offsetTop !== top);
  return n === -1 ? items.length : n;
}

/** The keys, for screen readers (the grid's description); sighted keyboard users see it while the grid has focus. */
function hint(id: string): HTMLElement {
  return h(
    'p',
    { id: `${id}-hint`, class: 'grid-hint' },
    'Arrow keys, Home and End move between photos; Delete or Backspace removes the focused photo.',
  );
}

/** Focus once the element is in the page (the grid is built before its card is inserted). */
function focusWhenShown(el: HTMLElement): void {
  queueMicrotask(() => {
    if (el.isConnected) el.focus();
  });
}
