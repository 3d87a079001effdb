// One request, one reply, in a child process of its own: what the server runs that would otherwise hold up its event
// loop for seconds (the backbone runs on the calling thread with TF.js on wasm, and onnxruntime's session start
// blocks). exports.ts (an export and its check) and plans.ts (auto's plan of a project) call it; a training job, which
// streams events and can be cancelled, has its own runner (job-runner.ts).
import { TlError } from '../util/errors.js';
import { childEnd, forkServeChild, stderrTail } from './child-fork.js';

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
  const child = forkServeChild(module, opts.niceness);
  const stderr = stderrTail(child, 2000);
  const kill = () => child.kill('SIGKILL');
  if (opts.signal?.aborted) kill();
  else opts.signal?.addEventListener('abort', kill, { once: true });
  child.on('exit', () => opts.signal?.removeEventListener('abort', kill));
  return new Promise((resolve) => {
    let reply: Reply | undefined;
    child.once('message', (m: Reply) => (reply = m));
    child.on('exit', (code, signal) => resolve(reply ?? crashed(childEnd(code, signal, stderr()))));
    child.send(request as object);
  });
}

/** A one-request child's reply when its work failed: a TlError's message and hint, or what went wrong. */
export interface ChildErrorReply {
  type: 'error';
  message: string;
  hint: string | null;
}

/**
 * The child's side: answer the parent's one request with `run`'s reply, then exit (backbone worker threads would
 * keep the process alive: it has said everything). An error other than a TlError is answered as "`failed`: message",
 * its stack on stderr.
 */
export function answerOneRequest<Req, Reply>(run: (request: Req) => Promise<Reply>, failed: string): void {
  process.once('message', (m: Req) => {
    run(m)
      .catch((err): ChildErrorReply => {
        if (err instanceof TlError) return { type: 'error', message: err.message, hint: err.hint ?? null };
        process.stderr.write(`${(err as Error)?.stack ?? String(err)}\n`);
        return { type: 'error', message: `${failed}: ${(err as Error)?.message ?? String(err)}`, hint: null };
      })
      .then((reply) => process.send!(reply, undefined, {}, () => process.exit(0)));
  });
}
