// Records every module a node process loads, for the start-up test and bench (what does `tl --version` pull in?).
// Use: TL_TRACE_MODULES=/tmp/list.txt node --import ./scripts/trace-modules.mjs dist/src/cli/main.js --version
// Appends one file URL or path per line: ES modules as the loader resolves them (a resolve hook, which runs on the
// loader thread), CommonJS ones from require.cache at exit (packages such as onnxruntime-node or better-sqlite3
// load their internals through require, which no ESM hook sees).
import { appendFileSync } from 'node:fs';
import { createRequire, register } from 'node:module';

const out = process.env.TL_TRACE_MODULES;
if (out) {
  const hook = `
    import { appendFileSync } from 'node:fs';
    export async function resolve(specifier, context, next) {
      const r = await next(specifier, context);
      appendFileSync(${JSON.stringify(out)}, r.url + '\\n');
      return r;
    }`;
  register(`data:text/javascript,${encodeURIComponent(hook)}`);
  const require = createRequire(import.meta.url);
  process.on('exit', () => {
    const paths = Object.keys(require.cache);
    if (paths.length) appendFileSync(out, paths.join('\n') + '\n');
  });
}
