#!/usr/bin/env node
// `npm run docs:flags`: rewrite the README's `tl train` flags table (between <!-- flags:start --> and
// <!-- flags:end -->) from the option table, src/options/train-options.ts. Only what lies between the markers changes;
// without the markers it changes nothing and exits 1 saying so. Runs through tsx: node --import tsx.
import { readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { withFlagsTable } from '../src/options/flags-markdown.ts';

const readme = resolve(import.meta.dirname, '..', process.argv[2] ?? 'README.md');
const before = readFileSync(readme, 'utf8');
let after;
try {
  after = withFlagsTable(before);
} catch (e) {
  console.error(`error: ${e.message}`);
  process.exit(1);
}
if (after === before) console.log(`${readme}: flags table already current`);
else {
  writeFileSync(readme, after);
  console.log(`${readme}: flags table rewritten`);
}
