// Starting a worker thread from a module next to the caller, compiled (dist/*.js) or from TypeScript source.
import { Worker, type WorkerOptions } from 'node:worker_threads';

/**
 * A worker running the module `name` (without extension) that sits beside `callerUrl` (pass import.meta.url).
 * From TypeScript source (tests, development under tsx), Node 20 does not hand `--import tsx`'s loader hooks to a
 * worker in time for its entry module, so the worker registers tsx itself first, then loads the entry.
 */
export function startModuleWorker(callerUrl: string, name: string, opts: Omit<WorkerOptions, 'eval'> = {}): Worker {
  if (!callerUrl.endsWith('.ts')) return new Worker(new URL(`./${name}.js`, callerUrl), opts);
  const tsxApi = import.meta.resolve('tsx/esm/api');
  const entry = new URL(`./${name}.ts`, callerUrl).href;
  const bootstrap = `import(${JSON.stringify(tsxApi)}).then((tsx) => { tsx.register(); return import(${JSON.stringify(entry)}); })`;
  return new Worker(bootstrap, { ...opts, eval: true });
}
