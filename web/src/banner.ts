// "Can't reach the tl server": a banner shown while the server does not answer, a probe of /v1/health with back-off
// until it does, then the banner goes and whoever asked (onServerBack) re-fetches its state. One console error per
// outage, however many requests fail during it.
import { h } from './dom';

const FIRST_RETRY_MS = 1000;
const MAX_RETRY_MS = 8000;

let banner: HTMLElement | null = null;
let down = false;
let timer: number | undefined;
let delay = FIRST_RETRY_MS;
const backListeners = new Set<() => void>();

/** The server did not answer the last request (the banner is up, probes are running). */
export const serverDown = () => down;

/** Call `fn` each time the server answers again after an outage. */
export function onServerBack(fn: () => void): () => void {
  backListeners.add(fn);
  return () => backListeners.delete(fn);
}

function bannerEl(): HTMLElement {
  if (!banner) {
    banner = h('div', { id: 'server-banner', class: 'server-banner', role: 'alert', hidden: true });
    // Inside <main> (every part of the page in a landmark); CSS keeps it at the top of the window.
    (document.getElementById('main') ?? document.body).prepend(banner);
  }
  return banner;
}

/** A request failed with a network error, or the live stream dropped and the server does not answer: say so, retry. */
export function serverUnreachable(): void {
  if (down) return;
  down = true;
  delay = FIRST_RETRY_MS;
  const el = bannerEl();
  el.textContent = `Can't reach the tl server at ${location.host} — retrying…`;
  el.hidden = false;
  document.body.classList.add('server-down');
  console.error(`tl: cannot reach the server at ${location.host}; retrying until it answers`);
  schedule();
}

function schedule(): void {
  clearTimeout(timer);
  timer = window.setTimeout(() => void probe(), delay);
  delay = Math.min(MAX_RETRY_MS, Math.round(delay * 1.6));
}

async function probe(): Promise<void> {
  if (!down) return;
  if (await reachable()) serverReachable();
  else schedule();
}

/** Whether the server answers now (its health route). */
export async function reachable(): Promise<boolean> {
  try {
    const res = await fetch('/v1/health', { cache: 'no-store' });
    return res.ok;
  } catch {
    return false;
  }
}

/** The server answered: hide the banner and tell everyone to re-fetch. */
export function serverReachable(): void {
  if (!down) return;
  down = false;
  clearTimeout(timer);
  const el = bannerEl();
  el.hidden = true;
  el.textContent = '';
  document.body.classList.remove('server-down');
  for (const fn of [...backListeners]) fn();
}
