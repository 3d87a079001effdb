// A model download that is not the registered file (a tampered copy, a truncated one) is refused in one line that
// says what differed and that nothing was kept, with nothing left behind: no file, no part file, not even the model's
// empty cache folder; the error is on its own line, not glued after the download progress line. Before: the
// progress line ran into "error: checksum mismatch ...", whose hint said to delete a file that was never kept, a
// truncated file was only caught by its hash, and the empty folder stayed.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { existsSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { assertCleanError, cleanup, MODELS_DIR, runCli, tempDir } from '../helpers.js';

// Any real ONNX file will do: the shared int8 MobileNetV2.
const bytes = readFileSync(join(MODELS_DIR, 'mobilenetv2_int8_onnx/mobilenetv2-12-int8.onnx'));
const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

let tmp: string;
let server: Server;
let base: string;
before(async () => {
  tmp = await tempDir('tl-download-');
  const tampered = Buffer.from(bytes);
  tampered[tampered.length - 1000] ^= 0xff;
  const files: Record<string, Buffer> = { '/tampered.onnx': tampered, '/short.onnx': bytes.subarray(0, 100_000) };
  server = createServer((req, res) => {
    const body = files[req.url ?? ''];
    if (!body) return void res.writeHead(404).end();
    res.writeHead(200, { 'content-length': body.length }).end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(async () => {
  await new Promise((r) => server.close(r));
  await cleanup(tmp);
});

describe('tl models pull of a file that is not the registered one', () => {
  const cacheDir = () => join(tmp, 'cache');
  const online = () => ({ cacheDir: cacheDir(), env: { TL_OFFLINE: undefined, TL_MODELS_DIR: undefined } });
  async function registerAndPull(id: string, path: string) {
    const desc = join(tmp, `${id}.json`);
    await writeFile(
      desc,
      JSON.stringify({
        id,
        format: 'onnx',
        url: `${base}${path}`,
        sha256: sha256(bytes),
        size: bytes.length,
        input: { size: 224, layout: 'NCHW', mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] },
        feature: { tensor: '472_quantized', dim: 1280 },
      }),
    );
    const add = await runCli(['models', 'add', desc], online());
    assert.equal(add.code, 0, add.stderr);
    return runCli(['models', 'pull', id], online());
  }

  test('one byte changed: one error line naming both sha256s; nothing kept, no folder left', async () => {
    const r = await registerAndPull('tampered', '/tampered.onnx');
    assertCleanError(
      r,
      /download of tampered\.onnx for model tampered from http:\/\/127\.0\.0\.1:\d+\/tampered\.onnx is not the registered file \(sha256 [0-9a-f]{64}, expected [0-9a-f]{64}\); nothing was kept/,
    );
    assert.doesNotMatch(r.stderr, /Delete the file/);
    assert.ok(!existsSync(join(cacheDir(), 'models', 'tampered')), 'no empty model folder left');
  });

  test('a truncated file is refused by its size', async () => {
    const r = await registerAndPull('short', '/short.onnx');
    assertCleanError(r, new RegExp(`is not the registered file \\(100000 bytes, expected ${bytes.length}\\)`));
    assert.ok(!existsSync(join(cacheDir(), 'models', 'short')));
  });
});
