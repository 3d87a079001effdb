// Where keyboard focus goes after each step (open a project, start training, training ends), so that it never falls
// back to <body> and a screen reader hears the new part of the page; and errors announced beside their control.
import { guard } from './state';

/** Focus an element that is not a control (a heading, a region: they carry tabindex="-1"), scrolling it into view. */
export function focusOn(id: string): void {
  const el = document.getElementById(id);
  if (!el) return;
  el.focus({ preventScroll: true });
  el.scrollIntoView({ block: 'start', behavior: 'auto' });
}

/**
 * Focus `id` unless the user has moved on: only when focus is lost (on <body>) or still inside `within` (the part of
 * the page that the finished step belongs to). Typing in another field is never interrupted.
 */
export function focusIfIdle(id: string, within: string): void {
  const active = document.activeElement;
  const idle = !active || active === document.body || !!document.getElementById(within)?.contains(active);
  if (idle) focusOn(id);
}

/**
 * guard (state.ts) with the failure's message in the role=alert element `alertId` beside the control that failed, so
 * that a screen reader reads it at once and everyone sees it where they are looking (a lost connection: the banner).
 */
export async function guardNear(alertId: string, fn: () => Promise<void>): Promise<void> {
  await guard(fn, document.getElementById(alertId));
}
