// A node:test reporter (scripts/test.mjs adds it beside the usual one): at the end of the run, the slowest test files
// by wall time (the file's own process from start to exit: imports, hooks and tests), so a CI log shows where the
// suite's minutes go. Node reports each file as a test named by its path; its `test:complete` carries that time.
import { relative } from 'node:path';

const SHOWN = 15;

export default async function* durations(source) {
  const files = new Map();
  for await (const event of source) {
    const d = event.data;
    if (event.type === 'test:complete' && d.nesting === 0 && d.file && d.name === d.file)
      files.set(d.file, d.details.duration_ms / 1000);
  }
  if (files.size === 0) return;
  const sorted = [...files].sort((a, b) => b[1] - a[1]);
  const total = sorted.reduce((s, [, t]) => s + t, 0);
  const lines = sorted.slice(0, SHOWN).map(([f, t]) => `${t.toFixed(1).padStart(7)} s  ${relative(process.cwd(), f)}`);
  yield (
    `\nslowest ${Math.min(SHOWN, sorted.length)} of ${sorted.length} test files (wall s each; ` +
    `all files ${total.toFixed(0)} s):\n${lines.join('\n')}\n`
  );
}
