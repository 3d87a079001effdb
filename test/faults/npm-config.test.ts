// Issue 10, item 17: no `npm warn Unknown project config "onnxruntime-node-install"` on every npm/npx command, while
// installs in CI and from the README still skip onnxruntime-node's CUDA download.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { ROOT } from '../helpers.js';

test('npm in the repository prints no "Unknown project config" warning', () => {
  const r = spawnSync('npm', ['config', 'get', 'registry'], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...process.env, npm_config_loglevel: 'warn' },
  });
  assert.equal(r.status, 0, r.stderr);
  assert.doesNotMatch(r.stderr, /Unknown (project|user|global) config/);
});

test('CI and the README install with ONNXRUNTIME_NODE_INSTALL=skip, which onnxruntime-node reads as "skip the CUDA download"', () => {
  const ci = readFileSync(join(ROOT, '.ci/run'), 'utf8');
  const exportAt = ci.indexOf('export ONNXRUNTIME_NODE_INSTALL=skip');
  assert.ok(exportAt >= 0 && exportAt < ci.indexOf('npm ci'), '.ci/run sets it before npm ci');
  assert.match(readFileSync(join(ROOT, 'README.md'), 'utf8'), /ONNXRUNTIME_NODE_INSTALL=skip npm ci/);
  // onnxruntime-node's own install script decides from this function (false: skip the download).
  const { parseInstallFlag } = createRequire(join(ROOT, 'node_modules/onnxruntime-node/script/'))('./install-utils.js');
  const saved = { ...process.env };
  try {
    delete process.env.npm_config_onnxruntime_node_install;
    process.env.ONNXRUNTIME_NODE_INSTALL = 'skip';
    assert.equal(parseInstallFlag(), false);
  } finally {
    process.env = saved;
  }
});
