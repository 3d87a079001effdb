// One request, one reply, in a child process of its own: what the server runs that would otherwise hold up its event
// loop for seconds (the backbone runs on the calling thread with TF.js on wasm, and onnxruntime's session start
// blocks). exports.ts (an export and its check) and plans.ts (auto's plan of a project) call it; a training job, which
// streams events and can be cancelled, has its own runner (job-runner.ts).
import { fork } from 'node:child_process';
import { setPriority } from 'node:os';
import { fileURLToPath } from 'node:url';

/** The child modules of src/serve that answer one request (each sends one message, then exits). */
export type ChildModule = 'export-child' | 'plan-child';

export interface ChildCallOptions {
  /** Run the child at this niceness (requests to the server come first on a busy machine). */
  niceness?: number;
  /** Kill the child when this aborts (nobody waits for the reply any more, or the server closes). */
  signal?: AbortSignal;
}

/**
 * Fork `module` (./<module>.js beside this file; .ts under tsx), send it `request` and resolve with its one reply, or
 * with `crashed(why)` when it exits without one (the why names the exit and stderr's last line; a kill by `signal`
 * reads "signal SIGKILL").
 */
export function callChild<Req, Reply>(
  module: ChildModule,
  request: Req,
  crashed: (why: string) => Reply,
  opts: ChildCallOptions = {},
): Promise<Reply> {
  const ts = import.meta.url.endsWith('.ts');
  const child = fork(fileURLToPath(new URL(`./${module}.${ts ? 'ts' : 'js'}`, import.meta.url)), [], {
    execArgv: ts ? ['--import', 'tsx'] : [],
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    serialization: 'advanced',
  });
  if (opts.niceness !== undefined && child.pid) {
    try {
      setPriority(child.pid, opts.niceness);
    } catch {
      // not allowed here (some containers): the child runs at the server's priority
    }
  }
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-2000)));
  const kill = () => child.kill('SIGKILL');
  if (opts.signal?.aborted) kill();
  else opts.signal?.addEventListener('abort', kill, { once: true });
  child.on('exit', () => opts.signal?.removeEventListener('abort', kill));
  return new Promise((resolve) => {
    let reply: Reply | undefined;
    child.once('message', (m: Reply) => (reply = m));
    child.on('exit', (code, signal) => {
      const last = stderr.trim().split('\n').at(-1) ?? '';
      resolve(
        reply ??
          crashed(`${signal ? `signal ${signal}` : `exit code ${code}`}${last ? `: ${last.slice(0, 300)}` : ''}`),
      );
    });
    child.send(request as object);
  });
}
