// How the server starts its child processes (a training job's, a `tl worker`'s, an export's, a plan's) and words the
// way one ended: child-call.ts (one request, one reply), train-process.ts and job-runner.ts (a training run) share it.
import { fork, type ChildProcess } from 'node:child_process';
import { setPriority } from 'node:os';
import { fileURLToPath } from 'node:url';

/** The child modules of src/serve. */
export type ServeChild = 'export-child' | 'plan-child' | 'train-child';

/**
 * Fork `module` (./<module>.js beside this file; .ts under tsx): IPC open (advanced serialization), stdout ignored,
 * stderr piped, at `niceness` where that is allowed.
 */
export function forkServeChild(module: ServeChild, niceness?: number): ChildProcess {
  const ts = import.meta.url.endsWith('.ts');
  const child = fork(fileURLToPath(new URL(`./${module}.${ts ? 'ts' : 'js'}`, import.meta.url)), [], {
    execArgv: ts ? ['--import', 'tsx'] : [],
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    serialization: 'advanced',
  });
  if (niceness !== undefined && child.pid) {
    try {
      setPriority(child.pid, niceness);
    } catch {
      // not allowed here (some containers): the child runs at its parent's priority
    }
  }
  return child;
}

/** Keeps the last `max` characters of the child's stderr (read with the returned function); `onData` sees each piece. */
export function stderrTail(child: ChildProcess, max: number, onData?: (d: string) => void): () => string {
  let tail = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => {
    tail = (tail + d).slice(-max);
    onData?.(d);
  });
  child.on('error', (err) => (tail += `\n${err.message}`));
  return () => tail;
}

/** How a child ended, for a message: "signal SIGKILL" or "exit code 1", then its stderr's last line. */
export function childEnd(code: number | null, signal: NodeJS.Signals | null, stderr: string): string {
  const last = stderr.trim().split('\n').at(-1) ?? '';
  return `${signal ? `signal ${signal}` : `exit code ${code}`}${last ? `: ${last.slice(0, 300)}` : ''}`;
}
