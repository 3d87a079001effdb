// The architecture check: no import cycle and no import from a lower layer to a higher one (.dependency-cruiser.cjs
// lists the layers). It cruises dist/src/ (scripts/test.mjs builds first), one emitted file per src/ module, so files
// left in dist/ by deleted sources are not checked. The last two tests prove the rules fire on a planted cycle and on
// a planted upward import.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { ROOT, tempDir, cleanup } from '../helpers.js';

const CONFIG = join(ROOT, '.dependency-cruiser.cjs');
const { LAYERS } = createRequire(import.meta.url)('../../scripts/layers.cjs') as { LAYERS: [string, string][] };
const DEPCRUISE = join(ROOT, 'node_modules/dependency-cruiser/bin/dependency-cruise.mjs');

interface Violation {
  from: string;
  to: string;
  rule: { name: string };
  cycle?: { name: string }[];
}

function cruise(cwd: string, files: string[]): Violation[] {
  const r = spawnSync(process.execPath, [DEPCRUISE, ...files, '--config', CONFIG, '--output-type', 'json'], {
    cwd,
    encoding: 'utf8',
    maxBuffer: 64 * 2 ** 20,
  });
  assert.ok(r.stdout, `depcruise printed nothing: ${r.stderr}`);
  const out = JSON.parse(r.stdout) as { summary: { violations: Violation[]; totalCruised: number } };
  assert.ok(out.summary.totalCruised >= files.length, `cruised ${out.summary.totalCruised} of ${files.length} files`);
  return out.summary.violations;
}

async function tsFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  return entries
    .filter((e) => e.isFile() && e.name.endsWith('.ts') && !e.name.endsWith('.d.ts'))
    .map((e) => join(e.parentPath, e.name));
}

const describe = (v: Violation) =>
  `${v.rule.name}: ${v.from} -> ${v.to}${v.cycle ? ` (cycle ${v.cycle.map((c) => c.name).join(' -> ')})` : ''}`;

test('src/: no import cycle, no import from a lower layer to a higher one', async () => {
  const emitted = (await tsFiles(join(ROOT, 'src'))).map((f) =>
    join('dist', relative(ROOT, f)).replace(/\.ts$/, '.js'),
  );
  const missing = emitted.filter((f) => !existsSync(join(ROOT, f)));
  assert.deepEqual(missing, [], 'every src/ module is built (run through scripts/test.mjs, which runs tsc first)');
  const violations = cruise(ROOT, emitted);
  assert.deepEqual(violations.map(describe), []);
});

/** Layer index of a src/ module, by the name tsc gives its JavaScript (the patterns match dist/src/...js). */
function layerOf(srcFile: string): number {
  const emitted = join('dist', srcFile).replace(/\.ts$/, '.js');
  return LAYERS.findIndex(([, p]) => new RegExp(p).test(emitted));
}

test('the layers are folders: every src/ module falls in exactly one layer', async () => {
  const files = (await tsFiles(join(ROOT, 'src'))).map((f) => relative(ROOT, f));
  const wrong = files.filter(
    (f) => LAYERS.filter(([, p]) => new RegExp(p).test(join('dist', f).replace(/\.ts$/, '.js'))).length !== 1,
  );
  assert.deepEqual(wrong, []);
  // Folder-only rules: each pattern names folders (or the library's one root file), no look-aheads on file names.
  for (const [name, pattern] of LAYERS)
    assert.match(pattern, /^\^dist\/src\/(\([\w|]+\)\/|index\[\.\]js\$)$/, `layer ${name}: ${pattern}`);
});

test('type-only imports (erased by tsc, so not in the cruised graph) keep the layer order too', async () => {
  const upward: string[] = [];
  for (const file of await tsFiles(join(ROOT, 'src'))) {
    const from = relative(ROOT, file);
    for (const m of (await readFile(file, 'utf8')).matchAll(/^(?:import|export)\s+type\s[^;]*?from\s+'(\.[^']+)'/gms)) {
      const to = relative(ROOT, resolve(dirname(file), m[1])).replace(/\.js$/, '.ts');
      if (layerOf(to) > layerOf(from))
        upward.push(`${from} (${LAYERS[layerOf(from)][0]}) -> ${to} (${LAYERS[layerOf(to)][0]})`);
    }
  }
  assert.ok(
    layerOf('src/util/math.ts') === 0 && layerOf('src/index.ts') === LAYERS.length - 1,
    'the layer patterns match src/ files',
  );
  assert.deepEqual(upward, []);
});

test('the check fails on a planted import cycle and on a planted upward import', async () => {
  const dir = await tempDir('tl-arch-');
  try {
    const src = join(dir, 'dist/src');
    await mkdir(join(src, 'util'), { recursive: true });
    await mkdir(join(src, 'cli'), { recursive: true });
    await writeFile(join(src, 'util/a.js'), "import { b } from './b.js';\nexport const a = () => b;\n");
    await writeFile(join(src, 'util/b.js'), "import { a } from './a.js';\nexport const b = () => a;\n");
    await writeFile(join(src, 'util/c.js'), "export const c = async () => (await import('../cli/main.js')).main;\n");
    await writeFile(join(src, 'cli/main.js'), 'export const main = 1;\n');
    const rules = cruise(dir, [
      'dist/src/util/a.js',
      'dist/src/util/b.js',
      'dist/src/util/c.js',
      'dist/src/cli/main.js',
    ]).map((v) => `${v.rule.name} ${v.from}`);
    assert.ok(rules.includes('no-circular dist/src/util/a.js'), rules.join('\n'));
    assert.ok(rules.includes('layer-util dist/src/util/c.js'), rules.join('\n'));
  } finally {
    await cleanup(dir);
  }
});
