// The rung-3 engine's SIMD kernels are written in src/engine/simd/kernels.wat and shipped as base64 in kernels.ts.
// Nothing else ties the two: these tests compile the .wat with wabt (the same wat2wasm `npm run build:simd` uses) and
// require the embedded bytes to be exactly its output, so an edit to either side alone fails here.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { compileWat, embeddedBase64, TS_PATH, WAT_PATH } from '../../scripts/build-simd.mjs';

const wat = readFileSync(WAT_PATH, 'utf8');
const embedded = Buffer.from(embeddedBase64(readFileSync(TS_PATH, 'utf8')), 'base64');

describe('SIMD kernels: kernels.ts embeds kernels.wat compiled', () => {
  test('the embedded bytes equal wat2wasm of kernels.wat, byte for byte', async () => {
    // Compared whole, custom sections included: wat2wasm writes none unless debug names are asked for (the build
    // script does not ask), so there is no non-semantic section to strip and any difference is a real one.
    const compiled = await compileWat(wat);
    assert.ok(
      compiled.equals(embedded),
      `kernels.ts holds ${embedded.length} bytes, kernels.wat compiles to ${compiled.length} different ones: run \`npm run build:simd\``,
    );
  });

  test('one changed instruction in the .wat changes the bytes (the check above has teeth)', async () => {
    // ReLU6's gradient mask: lo <= x becomes lo < x, a one-opcode change that still validates.
    const edited = wat.replace(
      '(f32x4.ge (local.get $v) (local.get $vlo))',
      '(f32x4.gt (local.get $v) (local.get $vlo))',
    );
    assert.notEqual(edited, wat, 'the instruction to change is still in kernels.wat');
    const compiled = await compileWat(edited);
    assert.equal(compiled.length, embedded.length, 'same size: only one opcode differs');
    assert.ok(!compiled.equals(embedded), 'the edited .wat compiled to the embedded bytes');
  });

  test('the embedded module exports the two kernels over an imported memory', () => {
    const module = new WebAssembly.Module(embedded);
    assert.deepEqual(
      WebAssembly.Module.exports(module).map((e) => `${e.kind} ${e.name}`),
      ['function dwFilterGrad', 'function clipGrad'],
    );
    assert.deepEqual(
      WebAssembly.Module.imports(module).map((i) => `${i.kind} ${i.module}.${i.name}`),
      ['memory env.memory'],
    );
  });

  test('`build-simd.mjs --check` finds nothing to rebuild', () => {
    const r = spawnSync(process.execPath, [resolve(import.meta.dirname, '../../scripts/build-simd.mjs'), '--check'], {
      encoding: 'utf8',
    });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /already holds kernels\.wat's \d+ bytes/);
  });
});
