// What a training run stopped through its AbortSignal (Ctrl-C in `tl train`, a cancelled server job) throws instead of
// returning: no classifier is built from a half-run, and the caller learns what was kept for a re-run.
import { TlError } from '../util/errors.js';

/** Where fine-tuning stopped: its last finished epoch and that epoch's checkpoint (finetune/checkpoint.ts). */
export interface FinetuneStop {
  /** The last finished epoch (0: none yet, so no checkpoint) of the planned number. */
  epoch: number;
  of: number;
  /** The kept checkpoint's folder (a re-run with the same options resumes from it); undefined when none was saved. */
  checkpointDir?: string;
}

export class TrainingInterrupted extends TlError {
  constructor(readonly finetune?: FinetuneStop) {
    super(
      finetune?.checkpointDir
        ? `training interrupted after epoch ${finetune.epoch} of ${finetune.of}; its checkpoint is kept in ${finetune.checkpointDir}`
        : 'training interrupted; features computed so far are kept in the cache',
      'Run the same training again to continue from there.',
    );
    this.name = 'TrainingInterrupted';
  }
}

/** Stops the run here when its signal was aborted. */
export function throwIfInterrupted(signal: AbortSignal | undefined, at?: FinetuneStop): void {
  if (signal?.aborted) throw new TrainingInterrupted(at);
}

/**
 * Lets the event loop run (signal handlers, worker messages): a fine-tuning step on one thread resolves its promises
 * as microtasks only, so without this an epoch loop never gives a SIGINT handler the chance to abort it.
 */
export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
