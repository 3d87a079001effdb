// The training child process (train-child.ts), started the one way: the server's ChildProcessRunner starts one per
// job, and so does a `tl worker` for each training job it takes from `tl serve --queue` (runTrainChild), so both run
// the very same training path: train-child.ts's runProjectTraining.
import type { ChildProcess } from 'node:child_process';
import { childEnd, forkServeChild, stderrTail } from './child-fork.js';
import { envSnapshot, type FromChild, type ToChild } from './child-protocol.js';
import type { TrainRequest } from './training.js';

/** Niceness of a training child: requests to the server come first on a busy machine. */
const CHILD_NICENESS = 10;

/** A training child, IPC open, stderr piped, at a lower CPU priority where allowed. */
export function forkTrainChild(): ChildProcess {
  return forkServeChild('train-child', CHILD_NICENESS);
}

export type TrainChildMessage = Exclude<FromChild, { type: 'end' }>;
export interface TrainChildEnd {
  state: 'done' | 'failed' | 'cancelled';
  error: string | null;
  bundle: string | null;
}

/**
 * Train `project` of `projectsDir` in a training child with this process's settings, pass its messages on, and
 * resolve with its end. An abort asks the child to stop (it ends cancelled at its next check). Rejects when the child
 * ends without saying how the run ended (a crash), with its last stderr line.
 */
export function runTrainChild(
  start: { projectsDir: string; project: string; request: unknown },
  onMessage: (m: TrainChildMessage) => void,
  signal: AbortSignal,
  log: (line: string) => void = () => {},
): Promise<TrainChildEnd> {
  const child = forkTrainChild();
  const stderr = stderrTail(child, 4000, (d) => {
    if (d.trim()) log(d.trimEnd());
  });
  let end: TrainChildEnd | undefined;
  child.on('message', (m: FromChild) => {
    if (m.type === 'end') end = { state: m.state, error: m.error, bundle: m.bundle };
    else if (m.type === 'saving') {
      // The child asks before it saves. Here a cancel is the flag polled into `signal`: one seen by now wins (nothing
      // is saved); the server hears 'saving' only when the save goes ahead.
      const ok = !signal.aborted;
      if (child.connected) child.send({ type: 'save', ok } satisfies ToChild);
      if (ok) onMessage(m);
    } else onMessage(m);
  });
  const cancel = () => {
    if (child.connected) child.send({ type: 'cancel' } satisfies ToChild);
  };
  signal.addEventListener('abort', cancel, { once: true });
  child.send({
    type: 'start',
    projectsDir: start.projectsDir,
    project: start.project,
    request: start.request as TrainRequest,
    env: envSnapshot(),
  } satisfies ToChild);
  if (signal.aborted) cancel();
  return new Promise((resolve, reject) => {
    child.on('exit', (code, sig) => {
      signal.removeEventListener('abort', cancel);
      if (end) return resolve(end);
      reject(new Error(`the training process ended unexpectedly (${childEnd(code, sig, stderr())})`));
    });
  });
}
