// `--device` end to end through the built CLI (issue 16): a small rung-2 run on webgpu (on CI: Mesa's software
// adapter) saves a bundle that `tl predict` loads, and its first epoch agrees with the same run on the cpu; a bad
// device word and a missing adapter are one clear error line each. Small on purpose: software rendering is slow.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { assertCleanError, cleanup, DATASETS_DIR, linkSubset, runCli, tempDir } from '../helpers.js';
import { openAdapter } from '../../src/engine/webgpu/adapter.js';
import { loadBackbone } from '../../src/backbone/load.js';
import { env } from '../../src/util/env.js';

const NO_ADAPTER = 'no WebGPU adapter here (CI installs Mesa: libegl1 libgles2 libegl-mesa0 libgl1-mesa-dri)';
let tmp: string;
let data: string;
let hasAdapter = false;
before(async () => {
  tmp = await tempDir('tl-gpu-train-');
  data = join(tmp, 'data');
  // 2 classes x 8 photos; the split holds out 2 per class for val and 1 per class as the inner check set.
  await linkSubset(join(DATASETS_DIR, 'hymenoptera_data/train'), data, 8);
  hasAdapter = !!(await openAdapter({ allowSoftware: true }));
});
after(async () => {
  await cleanup(tmp);
});

// A small TF.js backbone at a small size: its frozen part extracts on the device too.
const RUN = ['--strategy', 'partial', '--model', 'mobilenet-v1-0.25', '--size', '96', '--epochs', '1', '--seed', '1'];

interface RunJson {
  history: { step: number; trainLoss: number; innerValLoss?: number }[];
  config: { backend: string };
}

async function train(device: string, name: string) {
  const out = join(tmp, name);
  // Each run its own cache: the cpu run extracts the cut activations itself rather than reading the webgpu ones.
  const r = await runCli(['train', data, ...RUN, '--device', device, '--out', out, '--json'], {
    cacheDir: join(tmp, `cache-${name}`),
    timeoutMs: 120_000,
  });
  assert.equal(r.code, 0, r.stderr);
  return { out, stderr: r.stderr, json: JSON.parse(r.stdout) as RunJson };
}

describe('tl train --device (issue 16)', () => {
  test('rung 2 on webgpu: bundle loads in tl predict; first epoch agrees with --device cpu', async (t) => {
    if (!hasAdapter) return t.skip(NO_ADAPTER);
    const gpu = await train('webgpu', 'gpu');
    assert.match(gpu.stderr, /engine: tfjs-webgpu; device: webgpu \(.+, (software|hardware)\)/);
    assert.equal(gpu.json.config.backend, 'webgpu');
    assert.doesNotMatch(gpu.stderr, /Chrome|timestamp-query/, "no browser-only advice from tfjs-webgpu's profiler");
    const cpu = await train('cpu', 'cpu');
    assert.match(cpu.stderr, /device: cpu \(wasm\)/);
    // Within-epoch progress (a rung-3 epoch takes minutes): a plain line, not a terminal, ends at 100%.
    assert.match(cpu.stderr, /^epoch 1\/1: (\d+)\/\1 \(100%\) [\d.]+ img\/s ETA 0s/m);
    assert.equal(cpu.json.config.backend, 'wasm');
    const [g0, g1] = gpu.json.history;
    const [c0, c1] = cpu.json.history;
    t.diagnostic(
      `epoch 0 loss webgpu ${g0.trainLoss} cpu ${c0.trainLoss}; epoch 1 webgpu ${g1.trainLoss} cpu ${c1.trainLoss}; inner val ${g1.innerValLoss} / ${c1.innerValLoss}`,
    );
    assert.equal(g1.step, 1);
    // Float32 on both, different kernels and summation orders, activations cached as float16 by each: close, not equal.
    // Measured: training losses within 1e-5, the inner-val loss within 1e-3 (its 2 images weigh each rounding more).
    const close = (a: number, b: number, tol: number) => Math.abs(a - b) <= tol * Math.max(1, Math.abs(b));
    assert.ok(close(g0.trainLoss, c0.trainLoss, 1e-3), `epoch 0: ${g0.trainLoss} vs ${c0.trainLoss}`);
    assert.ok(close(g1.trainLoss, c1.trainLoss, 1e-3), `epoch 1: ${g1.trainLoss} vs ${c1.trainLoss}`);
    assert.ok(close(g1.innerValLoss!, c1.innerValLoss!, 5e-3), `inner val: ${g1.innerValLoss} vs ${c1.innerValLoss}`);
    // The bundle is the usual one: tl predict (cpu, wasm) loads it and classifies a photo.
    const p = await runCli(['predict', gpu.out, join(data, 'ants'), '--json'], {
      cacheDir: join(tmp, 'cache-gpu'),
      timeoutMs: 60_000,
    });
    assert.equal(p.code, 0, p.stderr);
    const preds = JSON.parse(p.stdout) as { label: string; probability: number }[];
    assert.equal(preds.length, 8, p.stdout);
    assert.ok(
      preds.every((x) => ['ants', 'bees'].includes(x.label) && x.probability >= 0.5),
      p.stdout,
    );
  });

  test('extraction: a TF.js backbone with env.device webgpu embeds on the adapter, same features and ImageNet head as cpu', async (t) => {
    if (!hasAdapter) return t.skip(NO_ADAPTER);
    const size = 224;
    const photos = [0, 1].map((k) =>
      Float32Array.from({ length: size * size * 3 }, (_, i) => Math.sin(0.001 * i * (k + 1)) * 0.9),
    );
    // TF.js has one active backend per thread (one device per process): the cpu model runs first, then the device one.
    env.device = 'cpu';
    const cpu = await loadBackbone('mobilenet-v1-0.25');
    const a = await cpu.embedAndClassify(photos);
    env.device = 'webgpu';
    const gpu = await loadBackbone('mobilenet-v1-0.25');
    try {
      assert.equal(cpu.device, undefined);
      assert.match(gpu.device ?? '', /^webgpu \(.+, (software|hardware)\)$/);
      const b = await gpu.embedAndClassify(photos);
      let worst = 0;
      a.features.forEach((f, i) =>
        f.forEach((v, j) => (worst = Math.max(worst, Math.abs(v - b.features[i][j]) / (1e-3 + Math.abs(v))))),
      );
      t.diagnostic(`worst relative feature difference webgpu vs cpu: ${worst.toExponential(2)}`);
      assert.ok(worst < 1e-2, `features differ by ${worst}`);
      assert.ok(worst > 0, 'two engines ran (identical bits would mean one backend computed both)');
      a.probabilities.forEach((p, i) => {
        const top = (q: Float32Array) => q.indexOf(Math.max(...q));
        assert.equal(top(b.probabilities[i]), top(p), 'same ImageNet top-1');
      });
    } finally {
      env.device = undefined;
      await gpu.dispose();
      await cpu.dispose();
    }
  });

  test('--device bogus and TL_DEVICE=bogus: one clear error line', async () => {
    const r = await runCli(['train', data, ...RUN, '--device', 'bogus'], { cacheDir: join(tmp, 'cache-err') });
    assertCleanError(r, /--device must be one of cpu, webgpu, auto/);
    const e = await runCli(['train', data, ...RUN], { cacheDir: join(tmp, 'cache-err'), env: { TL_DEVICE: 'bogus' } });
    assertCleanError(e, /TL_DEVICE must be one of cpu, webgpu, auto/);
  });

  test('--device webgpu without any adapter (TL_WEBGPU=off simulates one): one clear error line', async () => {
    const r = await runCli(['train', data, ...RUN, '--device', 'webgpu'], {
      cacheDir: join(tmp, 'cache-err'),
      env: { TL_WEBGPU: 'off' },
    });
    assertCleanError(r, /device webgpu: no WebGPU adapter found/);
    assert.match(r.stderr, /--device cpu/, 'the hint says how to proceed');
  });
});
