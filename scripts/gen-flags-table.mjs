#!/usr/bin/env node
// `npm run docs:tables` (alias `docs:flags`): rewrite the generated tables of the docs from their one source each —
// the README's `tl train` flags (between <!-- flags:start --> and <!-- flags:end -->) from the option table,
// src/options/train-options.ts, and docs/settings.md's TL_* settings (<!-- settings:start/end -->) from SETTINGS in
// src/util/env.ts. Only what lies between the markers changes; without them it changes nothing and exits 1 saying so.
// Runs through tsx: node --import tsx.
import { readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { withFlagsTable } from '../src/options/flags-markdown.ts';
import { withSettingsTable } from '../src/util/settings-markdown.ts';

const root = resolve(import.meta.dirname, '..');
let failed = false;
for (const [file, rewrite, what] of [
  ['README.md', withFlagsTable, 'flags table'],
  ['docs/settings.md', withSettingsTable, 'settings table'],
]) {
  const path = resolve(root, file);
  const before = readFileSync(path, 'utf8');
  let after;
  try {
    after = rewrite(before);
  } catch (e) {
    console.error(`error: ${e.message}`);
    failed = true;
    continue;
  }
  if (after === before) console.log(`${file}: ${what} already current`);
  else {
    writeFileSync(path, after);
    console.log(`${file}: ${what} rewritten`);
  }
}
process.exit(failed ? 1 : 0);
