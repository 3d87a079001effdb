// What the views share: the open project, the project list, the status line, and error handling: an error is said
// next to the control that caused it (an inline message beside the form or button), a lost connection by the banner.
import { ApiError, type DamagedProject, type ImageEntry, type Project, type Results } from './api';
import { serverDown } from './banner';

export interface Current {
  project: Project;
  images: ImageEntry[];
  results: Results | null;
}

export const state: { projects: Project[]; damaged: DamagedProject[]; current: Current | null } = {
  projects: [],
  damaged: [],
  current: null,
};

export const $view = document.getElementById('view') as HTMLDivElement;
const $status = document.getElementById('status') as HTMLParagraphElement;

const IMAGE_RE = /\.(jpe?g|jfif|png|webp|tiff?|avif)$/i;
export const isImage = (f: File) =>
  (f.type
    ? f.type.startsWith('image/') && f.type !== 'image/gif' && f.type !== 'image/svg+xml'
    : IMAGE_RE.test(f.name)) || IMAGE_RE.test(f.name);
export const plural = (n: number, word: string) =>
  `${n} ${word}${n === 1 ? '' : /(s|sh|ch|x)$/.test(word) ? 'es' : 's'}`;

type Kind = 'info' | 'error' | 'ok';

/**
 * Say something. With a control (the form, button or panel it is about), the message goes in the control's message
 * element (role=alert, read at once), where the eye already is: the control itself when it is one (a .field-error the
 * page has beside a field), else the element right after it, made on first use. Without one, in the status line.
 */
export function say(message: string, kind: Kind = 'info', control?: Element | null): void {
  if (control?.isConnected) {
    const slot = messageSlot(control);
    slot.textContent = message;
    slot.dataset.kind = kind;
    return;
  }
  $status.textContent = message;
  $status.dataset.kind = kind;
}

const isSlot = (el: Element | null | undefined): el is HTMLElement =>
  el instanceof HTMLElement && el.classList.contains('field-error');

/** The message element of a control: itself when it is one, else the one right after it (made on first use). */
function messageSlot(control: Element): HTMLElement {
  if (isSlot(control)) return control;
  if (isSlot(control.nextElementSibling)) return control.nextElementSibling;
  const slot = document.createElement('p');
  slot.className = 'field-error';
  slot.setAttribute('role', 'alert');
  control.after(slot);
  return slot;
}

/** Clear a control's message (its action succeeded, or is starting again). */
export function clearSay(control?: Element | null): void {
  const slot = isSlot(control) ? control : control?.nextElementSibling;
  if (isSlot(slot)) slot.textContent = '';
}

/** A request that failed because the server did not answer (the banner says so; no message per control). */
export const isUnreachable = (err: unknown) => err instanceof ApiError && err.status === 0;

/**
 * Run an action. A failure is said next to `control` (or in the status line); a lost connection is left to the banner
 * (serverUnreachable is already up), so an outage does not leave a message beside every control. Resolves whether it
 * succeeded, so a caller can put its control back.
 */
export async function guard(fn: () => Promise<void>, control?: Element | null): Promise<boolean> {
  clearSay(control);
  try {
    await fn();
    return true;
  } catch (err) {
    if (isUnreachable(err) || (serverDown() && !(err instanceof ApiError))) return false;
    say(err instanceof ApiError || err instanceof Error ? err.message : String(err), 'error', control);
    return false;
  }
}

const UNDO_MS = 8000;
let toast: { el: HTMLElement; timer: number } | null = null;

/**
 * A short notice at the bottom of the window with an Undo button for a few seconds (undo null: the notice only). A
 * later notice replaces it. Kept outside the views, so a redraw from the live stream does not take it away.
 */
export function offerUndo(message: string, undo: (() => Promise<void>) | null): void {
  if (toast) {
    clearTimeout(toast.timer);
    toast.el.remove();
  }
  const el = document.createElement('div');
  el.className = 'toast';
  el.setAttribute('role', 'status');
  const text = document.createElement('span');
  text.textContent = message;
  el.append(text);
  const dismiss = () => {
    if (toast?.el !== el) return;
    clearTimeout(toast.timer);
    el.remove();
    toast = null;
  };
  if (undo) {
    const button = document.createElement('button');
    button.type = 'button';
    button.textContent = 'Undo';
    button.addEventListener('click', () => {
      button.disabled = true;
      void guard(undo, button).then((ok) => (ok ? dismiss() : (button.disabled = false)));
    });
    el.append(button);
  }
  (document.getElementById('main') ?? document.body).append(el);
  toast = { el, timer: window.setTimeout(dismiss, UNDO_MS) };
}
