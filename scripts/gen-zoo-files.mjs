// Regenerates assets/zoo-files.json (file names, sizes and sha256 of every model file) from a models directory
// laid out like ../shared/models. Run once when a zoo entry is added: `node scripts/gen-zoo-files.mjs ../shared/models`.
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = process.argv[2] ?? '../shared/models';
const folders = ['mobilenetv2_int8_onnx', 'mobilenet_v1_075_tfjs_layers', 'mobilenet_v1_025_tfjs_layers', 'darknet_tiny_tfjs_layers'];
const skip = /^(SOURCE\.md|README\.md|labels\.txt|synsets\.txt|metadata\.json)$/;
const out = {};
for (const folder of folders) {
  const names = readdirSync(join(dir, folder)).filter((n) => !skip.test(n));
  // model.json first, then shards in numeric order, so listings read naturally.
  names.sort((a, b) => (a === 'model.json' ? -1 : b === 'model.json' ? 1 : a.localeCompare(b, 'en', { numeric: true })));
  out[folder] = names.map((name) => {
    const p = join(dir, folder, name);
    return { name, size: statSync(p).size, sha256: createHash('sha256').update(readFileSync(p)).digest('hex') };
  });
}
writeFileSync('assets/zoo-files.json', JSON.stringify(out, null, 1) + '\n');
console.log(Object.entries(out).map(([k, v]) => `${k}: ${v.length} files`).join('\n'));
