// Every TL_* setting is read in src/util/env.ts and documented in its SETTINGS table (the docs' settings page comes
// from it): no other module reads process.env.TL_*, every name env.ts or a message mentions is in the table, and the
// engine knobs moved there keep their meaning.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { env, SETTINGS } from '../../src/util/env.js';
import { WASM_MIN_UNITS, wasmPays } from '../../src/solvers/wasm-objective.js';
import { STEP_MEMORY_BUDGET } from '../../src/finetune/step-memory.js';
import { ROOT } from '../helpers.js';

const ENV_TS = 'src/util/env.ts';

function sources(): { file: string; text: string }[] {
  return readdirSync(join(ROOT, 'src'), { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts'))
    .map((e) => {
      const path = join(e.parentPath, e.name);
      return { file: relative(ROOT, path), text: readFileSync(path, 'utf8') };
    });
}

test('no module but src/util/env.ts reads a TL_* variable from process.env', () => {
  const reads = /process\.env\s*(\.\s*TL_|\[\s*['"`]TL_)/;
  const hits = sources()
    .filter((s) => s.file !== ENV_TS)
    .flatMap((s) =>
      s.text
        .split('\n')
        .map((line, i) => ({ line, at: `${s.file}:${i + 1}` }))
        .filter((l) => reads.test(l.line))
        .map((l) => `${l.at}: ${l.line.trim()}`),
    );
  assert.deepEqual(hits, [], 'read it through `env` (src/util/env.ts) and add it to SETTINGS');
  assert.ok(
    reads.test('if (process.env.TL_DEBUG) x();') && reads.test("process.env['TL_WEBGPU']"),
    'the pattern fires',
  );
  // env.ts reads each variable through its one reader, typed by the table's names.
  const envText = readFileSync(join(ROOT, ENV_TS), 'utf8');
  assert.doesNotMatch(envText, reads);
});

test('every TL_* name in src/ (env.ts, messages, hints) is in SETTINGS, once, with a default and what it does', () => {
  const names = SETTINGS.map((s) => s.name);
  assert.equal(new Set(names).size, names.length, 'each name once');
  for (const s of SETTINGS) {
    assert.match(s.name, /^TL_[A-Z0-9_]+$/);
    assert.ok(s.default.length > 0 && s.what.length > 10, s.name);
  }
  const mentioned = new Map<string, string>();
  for (const s of sources()) for (const m of s.text.matchAll(/\bTL_[A-Z0-9_]+/g)) mentioned.set(m[0], s.file);
  const undocumented = [...mentioned].filter(([n]) => !names.includes(n as never)).map(([n, f]) => `${n} (${f})`);
  assert.deepEqual(undocumented, []);
  // ...and each documented name is one env.ts reads (no stale rows).
  const envText = readFileSync(join(ROOT, ENV_TS), 'utf8');
  const readInEnv = [...envText.matchAll(/(?:read|Var)\('(TL_[A-Z0-9_]+)'\)/g)].map((m) => m[1]);
  assert.deepEqual([...new Set(readInEnv)].sort(), [...names].sort());
});

test('the defaults the table states are the code', () => {
  const def = (name: string) => SETTINGS.find((s) => s.name === name)!.default;
  assert.equal(def('TL_HEAD_WASM_MIN_UNITS'), String(WASM_MIN_UNITS));
  assert.equal(def('TL_FT_MEMORY_MB'), String(STEP_MEMORY_BUDGET / 2 ** 20));
});

test('the knobs moved into env keep their meaning; a value assigned on env wins over the environment', () => {
  const knobs = ['TL_WEBGPU', 'TL_HEAD_KERNEL', 'TL_HEAD_WASM_MIN_UNITS', 'TL_DEBUG'];
  const saved = knobs.map((k) => [k, process.env[k]] as const);
  try {
    for (const k of knobs) delete process.env[k];
    assert.equal(env.webgpu, true);
    assert.equal(env.headKernel, 'auto');
    assert.equal(env.headWasmMinUnits, undefined);
    assert.equal(env.debug, false);
    assert.equal(wasmPays(10, 10, 2), false);
    process.env.TL_WEBGPU = 'off';
    process.env.TL_HEAD_KERNEL = 'js';
    process.env.TL_HEAD_WASM_MIN_UNITS = '100';
    process.env.TL_DEBUG = '1';
    assert.equal(env.webgpu, false);
    assert.equal(env.headKernel, 'js');
    assert.equal(env.headWasmMinUnits, 100);
    assert.equal(env.debug, true);
    assert.equal(wasmPays(10, 10, 1), true, '100 units reach the lowered threshold');
    process.env.TL_HEAD_WASM_MIN_UNITS = 'lots';
    assert.equal(env.headWasmMinUnits, undefined, 'not a number: the default');
    env.webgpu = true;
    env.headWasmMinUnits = 1e9;
    assert.equal(env.webgpu, true);
    assert.equal(wasmPays(10, 10, 1), false);
  } finally {
    for (const [k, v] of saved) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    env.webgpu = undefined;
    env.headWasmMinUnits = undefined;
  }
  assert.equal(env.webgpu, saved[0][1] !== 'off', 'undefined hands the setting back to the environment');
});

test("docs/settings.md's table is generated from SETTINGS, and each setting's env field exists", async () => {
  const { settingsTable, withSettingsTable } = await import('../../src/util/settings-markdown.js');
  const docs = readFileSync(join(ROOT, 'docs/settings.md'), 'utf8');
  assert.equal(withSettingsTable(docs), docs, 'docs/settings.md is stale: run `npm run docs:tables`');
  assert.equal(settingsTable().split('\n').length, SETTINGS.length + 2);
  for (const s of SETTINGS) if ('field' in s) assert.ok(s.field in env, `${s.name}: env.${s.field}`);
});

test("a child process's env snapshot carries every setting with an env field, and applyEnv restores it", async () => {
  const { envSnapshot, applyEnv } = await import('../../src/util/env.js');
  const fields = SETTINGS.flatMap((s) => ('field' in s ? [s.field] : []));
  const before = envSnapshot();
  assert.deepEqual(Object.keys(before).sort(), [...fields].sort());
  try {
    applyEnv({ ...before, queue: 'redis://127.0.0.1:1', maxImageBytes: 1234 });
    assert.equal(env.queue, 'redis://127.0.0.1:1');
    assert.equal(env.maxImageBytes, 1234);
  } finally {
    applyEnv({ ...before, queue: undefined, maxImageBytes: undefined });
  }
  assert.equal(env.queue, before.queue);
  assert.equal(env.maxImageBytes, before.maxImageBytes);
});
