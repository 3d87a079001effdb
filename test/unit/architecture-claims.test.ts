// ARCHITECTURE.md's claims that a grep can check (the layer rules themselves are architecture.test.ts's, the option
// table's options-table.test.ts's, the settings' env-settings.test.ts's, the format switch runtimes.test.ts's).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { createRequire } from 'node:module';
import { ROOT } from '../helpers.js';

function sources(): { file: string; lines: string[] }[] {
  return readdirSync(join(ROOT, 'src'), { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts'))
    .map((e) => {
      const path = join(e.parentPath, e.name);
      return { file: relative(ROOT, path), lines: readFileSync(path, 'utf8').split('\n') };
    });
}

const code = (line: string) => !/^\s*(\/\/|\*|\/\*)/.test(line);

test("one device switch: only engine/webgpu/, fine-tuning's training-tf.ts and the runtimes read the device", () => {
  const allowed = /^src\/(engine\/webgpu\/|finetune\/training-tf[.]ts$|backbone\/runtimes\/|util\/env[.]ts$)/;
  // A read of env.device (an assignment `env.device = ...` passes --device on and is allowed), or a comparison
  // with a device name.
  const reads = [/\benv\.device\b(?!\s*=[^=])/, /[!=]==?\s*'(?:webgpu|cpu)'/, /'(?:webgpu|cpu)'\s*[!=]==?/];
  const found: string[] = [];
  for (const { file, lines } of sources()) {
    if (allowed.test(file)) continue;
    lines.forEach((line, i) => {
      if (code(line) && reads.some((r) => r.test(line))) found.push(`${file}:${i + 1}: ${line.trim()}`);
    });
  }
  assert.deepEqual(found, []);
  // The check has teeth.
  assert.ok(reads.some((r) => r.test("if (env.device && env.device !== 'cpu')")));
  assert.ok(!reads.some((r) => r.test('if (opts.device) env.device = opts.device;')));
});

test('the layer diagram and table in ARCHITECTURE.md name every src/ folder, in the order of scripts/layers.cjs', () => {
  const text = readFileSync(join(ROOT, 'ARCHITECTURE.md'), 'utf8');
  const top = readdirSync(join(ROOT, 'src'), { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .map((e) => e.name);
  for (const folder of top)
    assert.match(text, new RegExp(`\`${folder}/\``), `ARCHITECTURE.md's table names ${folder}/`);
  const diagram = /```\n([^`]+)```/.exec(text)![1];
  const order = [...diagram.matchAll(/([a-z]+)\//g)].map((m) => m[1]);
  const { LAYERS } = createRequire(import.meta.url)('../../scripts/layers.cjs') as { LAYERS: [string, string][] };
  const layerFolders = LAYERS.flatMap(([, p]) => /\(([\w|]+)\)/.exec(p)?.[1].split('|') ?? []);
  assert.deepEqual(order, layerFolders, 'the diagram lists the layers low to high, as layers.cjs does');
  assert.deepEqual([...top].sort(), [...layerFolders].sort(), 'every src/ folder is a layer');
});
