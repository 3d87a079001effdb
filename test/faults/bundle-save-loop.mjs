// Child of bundle-kill-save.test.ts: saves a copy of a real bundle to DIR over and over, until the test SIGKILLs it.
// Uses the built library's save path (dist/), so a kill lands anywhere in a real save. Prints "ready", then "saved N".
// Usage: node bundle-save-loop.mjs SOURCE_BUNDLE DIR [big|small]
import { loadBundle, saveBundle } from '../../dist/src/classifier/bundle.js';

const [source, dir, size = 'big'] = process.argv.slice(2);
const data = await loadBundle(source);
if (size === 'big') {
  // ~8 MB of weights: a save takes long enough that a random kill often lands while it writes. Small saves (the bundle
  // as trained, ~60 KB) spend a larger share of their time in the renames and the cleanup.
  const refs = data.unknown.references;
  const big = new Float32Array(Math.ceil(2_000_000 / refs.length) * refs.length);
  for (let i = 0; i < big.length; i += refs.length) big.set(refs, i);
  data.unknown = { ...data.unknown, references: big };
}
process.stdout.write('ready\n');
for (let n = 1; ; n++) {
  await saveBundle(
    dir,
    { ...data, config: { ...data.config, saveNumber: n } },
    { 'report.html': `<p>save ${n}</p>\n` },
  );
  process.stdout.write(`saved ${n}\n`);
}
