// What the server and a training child process (train-child.ts) say to each other over IPC, and the toolkit settings
// a child starts with: the server's own `env` (a library user or a test may have assigned them, not only TL_*).
import type { EnvSnapshot } from '../util/env.js';
import type { TrainRequest } from './training.js';

/** The toolkit settings a child applies first: the parent's `env`, whatever set them (util/env.ts's snapshot). */
export { envSnapshot, applyEnv, type EnvSnapshot } from '../util/env.js';

/** Server → child. */
export type ToChild =
  | { type: 'start'; projectsDir: string; project: string; request: TrainRequest; env: EnvSnapshot }
  | { type: 'cancel' }
  /** The answer to 'saving': save (the server now refuses cancels with 409 job_saving), or not (it was cancelled). */
  | { type: 'save'; ok: boolean };

/** Child → server, in order. */
export type FromChild =
  | { type: 'event'; event: string; data: unknown }
  /** Training is over: may the classifier be saved? The child waits for the server's 'save' answer. */
  | { type: 'saving' }
  /** The bundle is saved (before the 'done' event): the server loads it for predictions. */
  | { type: 'trained'; stamp: string }
  | { type: 'end'; state: 'done' | 'failed' | 'cancelled'; error: string | null; bundle: string | null };
