// Issue 22, item 7: Dawn (through Mesa's EGL trying the Wayland platform) printed "error: XDG_RUNTIME_DIR is invalid or
// not set in the environment." on --device webgpu runs started without a session folder (ssh, sudo, CI). tl now gives
// the process a private XDG_RUNTIME_DIR before Dawn loads, so no such line reaches stderr. Runs on whatever adapter is
// here (on CI: Mesa's software OpenGL ES).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { openAdapter } from '../../src/engine/webgpu/adapter.js';
import { cleanup, DATASETS_DIR, linkSubset, runCli, tempDir } from '../helpers.js';

let tmp: string;
let photos: string;
let hasAdapter = false;
before(async () => {
  tmp = await tempDir('tl-fault-xdg-');
  photos = join(tmp, 'photos');
  await linkSubset(join(DATASETS_DIR, 'hymenoptera_data/val'), photos, 1);
  hasAdapter = !!(await openAdapter({ allowSoftware: true }));
});
after(() => cleanup(tmp));

const embed = (name: string, env: Record<string, string | undefined>) =>
  runCli(['embed', photos, '--model', 'mobilenet-v1-0.25', '--device', 'webgpu'], {
    cacheDir: join(tmp, name),
    timeoutMs: 120_000,
    env: { XDG_RUNTIME_DIR: undefined, ...env },
  });

describe('--device webgpu without XDG_RUNTIME_DIR', () => {
  test('a successful embed on the adapter prints no XDG_RUNTIME_DIR line', async (t) => {
    if (!hasAdapter)
      return t.skip('no WebGPU adapter here (CI installs Mesa: libegl1 libgles2 libegl-mesa0 libgl1-mesa-dri)');
    const r = await embed('ok', {});
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /device: webgpu \(/);
    assert.doesNotMatch(r.stderr, /XDG_RUNTIME_DIR/);
  });

  test('EGL_PLATFORM=wayland inherited from a desktop session (libwayland is asked): still no XDG_RUNTIME_DIR line', async () => {
    const r = await embed('wayland', { EGL_PLATFORM: 'wayland' });
    assert.doesNotMatch(r.stderr, /XDG_RUNTIME_DIR/);
    const errors = r.stderr.split('\n').filter((l) => l.startsWith('error:'));
    assert.ok(errors.length <= 1, `at most tl's own error line: ${r.stderr}`);
  });
});
