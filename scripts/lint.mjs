#!/usr/bin/env node
// `npm run lint`: ESLint over the repository (eslint.config.js); other arguments go to ESLint (`npm run lint -- --fix`).
// `--format` also checks Prettier's layout (as `npm run format:check`). ESLint and typescript-eslint are installed in tools/lint from its own lock (they need
// TypeScript 5's JavaScript API; the project compiles with TypeScript 7): installed here on first use or when the
// lock changed. Exit status 1 with the violations printed when anything is off.
import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const tools = resolve(root, 'tools/lint');
const run = (cmd, args, opts = {}) => spawnSync(cmd, args, { stdio: 'inherit', cwd: root, ...opts }).status ?? 1;

/** The fast path: `tools/lint/node_modules` was installed from the current lock. */
function toolsInstalled() {
  const installed = resolve(tools, 'node_modules/.package-lock.json');
  return existsSync(installed) && statSync(installed).mtimeMs >= statSync(resolve(tools, 'package-lock.json')).mtimeMs;
}

function lint({ format = false, eslintArgs = [] } = {}) {
  if (!toolsInstalled()) {
    console.log('lint: installing ESLint into tools/lint (once)');
    const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
    if (run(npm, ['ci', '--prefix', tools, '--no-audit', '--no-fund', '--loglevel=error']) !== 0) {
      console.error('lint: could not install tools/lint (npm ci --prefix tools/lint)');
      return 1;
    }
  }
  // The cache keeps a re-run to the files that changed (seconds instead of a minute on two busy cores).
  const cache = ['--cache', '--cache-location', resolve(root, 'node_modules/.cache/eslint/')];
  let status = run(process.execPath, [
    resolve(tools, 'node_modules/eslint/bin/eslint.js'),
    ...cache,
    ...eslintArgs,
    '.',
  ]);
  if (status !== 0) console.error('lint: ESLint found problems (above); `npm run lint -- --fix` fixes some');
  if (format) {
    const prettier = run(process.execPath, [resolve(root, 'node_modules/prettier/bin/prettier.cjs'), '--check', '.']);
    if (prettier !== 0) console.error('lint: files not in Prettier layout (above); `npm run format` rewrites them');
    status ||= prettier;
  }
  return status;
}

const args = process.argv.slice(2);
process.exit(lint({ format: args.includes('--format'), eslintArgs: args.filter((a) => a !== '--format') }));
