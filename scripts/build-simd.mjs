#!/usr/bin/env node
// `npm run build:simd`: compiles src/engine/simd/kernels.wat with wabt (its wasm build, a pinned devDependency) and
// writes the module's bytes, base64, into the WASM_BASE64 literal of src/engine/simd/kernels.ts. Run it after editing
// the .wat; test/unit/simd-kernels-source.test.ts fails while the two disagree. `--check` writes nothing and exits 1
// when the embedded bytes are stale.
import { readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import initWabt from 'wabt';

const root = resolve(import.meta.dirname, '..');
export const WAT_PATH = resolve(root, 'src/engine/simd/kernels.wat');
export const TS_PATH = resolve(root, 'src/engine/simd/kernels.ts');
/** The literal in kernels.ts the bytes live in (single-quoted, base64 has no quotes). */
const LITERAL = /(const WASM_BASE64 =\s*')([A-Za-z0-9+/=]*)(';)/;

/**
 * The wasm module `wat` compiles to, as `wat2wasm` writes it by default: SIMD on (the wasm build's features default
 * to off, so it is named here), no debug-name section.
 */
export async function compileWat(wat, fileName = 'kernels.wat') {
  const wabt = await initWabt();
  const module = wabt.parseWat(fileName, wat, { simd: true });
  try {
    module.validate();
    return Buffer.from(module.toBinary({ write_debug_names: false }).buffer);
  } finally {
    module.destroy();
  }
}

/** The base64 currently embedded in kernels.ts's source text. */
export function embeddedBase64(tsSource) {
  const m = LITERAL.exec(tsSource);
  if (!m) throw new Error(`no WASM_BASE64 = '...' literal in ${TS_PATH}`);
  return m[2];
}

async function main() {
  const check = process.argv.includes('--check');
  const wasm = await compileWat(readFileSync(WAT_PATH, 'utf8'));
  const ts = readFileSync(TS_PATH, 'utf8');
  const fresh = wasm.toString('base64');
  if (embeddedBase64(ts) === fresh) {
    console.log(`build:simd: kernels.ts already holds kernels.wat's ${wasm.length} bytes`);
    return;
  }
  if (check) {
    console.error('build:simd: kernels.ts does not hold kernels.wat compiled; run `npm run build:simd`');
    process.exit(1);
  }
  writeFileSync(
    TS_PATH,
    ts.replace(LITERAL, (_, head, _old, tail) => `${head}${fresh}${tail}`),
  );
  console.log(`build:simd: wrote ${wasm.length} bytes (base64) into ${TS_PATH}`);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await main();
