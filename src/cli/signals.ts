// Ctrl-C (SIGINT) and SIGTERM during a long command: the first one aborts the work through an AbortSignal, so it stops
// at its next safe point and keeps what it can; the command then exits 128 + the signal's number (130, 143) with one
// line saying so. A second signal ends the process at once (the listeners are gone by then: Node's default).
import { constants } from 'node:os';

export type StopSignal = 'SIGINT' | 'SIGTERM';
const STOP_SIGNALS: StopSignal[] = ['SIGINT', 'SIGTERM'];

export interface StopListener {
  /** Aborted by the first SIGINT or SIGTERM. */
  readonly signal: AbortSignal;
  /** Which signal aborted it, if one came. */
  readonly received: StopSignal | undefined;
  /** Stops listening (call when the work is done). */
  dispose(): void;
}

export function listenForStop(): StopListener {
  const ac = new AbortController();
  let received: StopSignal | undefined;
  const dispose = () => {
    for (const sig of STOP_SIGNALS) process.off(sig, onSignal);
  };
  const onSignal = (sig: StopSignal) => {
    received = sig;
    dispose();
    ac.abort();
  };
  for (const sig of STOP_SIGNALS) process.on(sig, onSignal);
  return {
    signal: ac.signal,
    get received() {
      return received;
    },
    dispose,
  };
}

/** Exit code of a process that stopped on `sig`, as shells report it (128 + the signal's number). */
export function stopExitCode(sig: StopSignal): number {
  return 128 + constants.signals[sig];
}

/** Writes "stopped (SIGINT): WHAT" to stderr and exits 130 / 143. */
export function exitStopped(sig: StopSignal, what: string): never {
  // A progress bar may be mid-line on a terminal.
  if (process.stderr.isTTY) process.stderr.write('\n');
  process.stderr.write(`stopped (${sig}): ${what}\n`);
  process.exit(stopExitCode(sig));
}
