#!/usr/bin/env node
// A tiny static server for the example (no dependencies): serves this folder at /, an export folder at /model/ and
// onnxruntime-web's dist folder at /ort/. Usage: node examples/browser/serve.mjs EXPORT_DIR [PORT]
// Prints "serving http://127.0.0.1:PORT/" once listening (PORT 0 or omitted = a free port).
import { createServer } from 'node:http';
import { createReadStream, statSync } from 'node:fs';
import { dirname, extname, join, normalize, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const [exportDir, port = '0'] = process.argv.slice(2);
if (!exportDir) {
  console.error('usage: node examples/browser/serve.mjs EXPORT_DIR [PORT]');
  process.exit(1);
}
const roots = [
  ['/model/', resolve(exportDir)],
  ['/ort/', resolve(here, '../../node_modules/onnxruntime-web/dist')],
  ['/', here],
];
const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript',
  '.mjs': 'text/javascript',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
  '.onnx': 'application/octet-stream',
  '.bin': 'application/octet-stream',
  '.md': 'text/plain; charset=utf-8',
};

const server = createServer((req, res) => {
  const path = decodeURIComponent(new URL(req.url, 'http://x').pathname);
  const [prefix, root] = roots.find(([p]) => path.startsWith(p));
  const file = normalize(join(root, path.slice(prefix.length) || 'index.html'));
  // Never serve anything outside the three roots (no ../ escapes).
  if (file !== root && !file.startsWith(root + sep)) return void res.writeHead(403).end('forbidden');
  let st;
  try {
    st = statSync(file);
  } catch {
    return void res.writeHead(404).end('not found');
  }
  if (!st.isFile()) return void res.writeHead(404).end('not found');
  res.writeHead(200, {
    'content-type': TYPES[extname(file)] ?? 'application/octet-stream',
    'content-length': st.size,
    'cache-control': 'no-cache',
  });
  createReadStream(file).pipe(res);
});
server.listen(Number(port), '127.0.0.1', () => console.log(`serving http://127.0.0.1:${server.address().port}/`));
