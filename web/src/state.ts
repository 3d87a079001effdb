// What the views share: the open project, the project list, the status line, and error handling.
import { ApiError, type DamagedProject, type ImageEntry, type Project, type Results } from './api';

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

export function say(message: string, kind: 'info' | 'error' | 'ok' = 'info'): void {
  $status.textContent = message;
  $status.dataset.kind = kind;
}

/** Run an action; a failure becomes the status line's error message. */
export async function guard(fn: () => Promise<void>): Promise<void> {
  try {
    await fn();
  } catch (err) {
    say(err instanceof ApiError || err instanceof Error ? err.message : String(err), 'error');
  }
}
