// Regenerates assets/zoo-files.json (file names, sizes and sha256 of every model file) from a models directory
// laid out like ../shared/models, for every folder of the one zoo registry (src/backbone/zoo.ts). Run once after adding
// a zoo entry there: `node --import tsx scripts/gen-zoo-files.mjs ../shared/models`.
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = process.argv[2] ?? '../shared/models';
const { ZOO } = await import('../src/backbone/zoo.ts');
// Entries marked `unverified` list their files (from the publisher's Git LFS pointers) in zoo.ts itself.
const folders = ZOO.filter((e) => !e.unverified).map((e) => e.folder);
const skip = /^(SOURCE\.md|README\.md|labels\.txt|synsets\.txt|metadata\.json)$/;
const out = {};
for (const folder of folders) {
  const names = readdirSync(join(dir, folder)).filter((n) => !skip.test(n));
  // model.json first, then shards in numeric order, so listings read naturally.
  names.sort((a, b) =>
    a === 'model.json' ? -1 : b === 'model.json' ? 1 : a.localeCompare(b, 'en', { numeric: true }),
  );
  out[folder] = names.map((name) => {
    const p = join(dir, folder, name);
    return { name, size: statSync(p).size, sha256: createHash('sha256').update(readFileSync(p)).digest('hex') };
  });
}
writeFileSync('assets/zoo-files.json', JSON.stringify(out, null, 1) + '\n');
console.log(
  Object.entries(out)
    .map(([k, v]) => `${k}: ${v.length} files`)
    .join('\n'),
);
