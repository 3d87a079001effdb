// The one line `tl train` ends with when SIGINT/SIGTERM stopped it (exit 130/143): what was kept and how to go on.
import { relative } from 'node:path';
import { TrainingInterrupted } from '../../training/interrupted.js';
import { exitStopped, type StopSignal } from '../signals.js';

/** `err`: what the training threw once aborted (or nothing: it returned, then the command stopped before saving). */
export function exitTrainingStopped(sig: StopSignal, err: unknown, out: string): never {
  const shown = relative(process.cwd(), out) || out;
  const ft = err instanceof TrainingInterrupted ? err.finetune : undefined;
  const kept = ft?.checkpointDir
    ? `the checkpoint of epoch ${ft.epoch} of ${ft.of} is kept in ${ft.checkpointDir}: run the same command again to resume from it`
    : 'features computed so far are kept in the cache: run the same command again to continue';
  exitStopped(sig, `nothing was saved to ${shown}; ${kept}`);
}
