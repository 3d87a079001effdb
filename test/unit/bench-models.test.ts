// The benchmarks' model check (bench/models.ts): models on disk run, a model that is not is one line saying why and
// what to do (offline: no download is tried), an unknown id stops the bench.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { availableModels, modelUnavailable } from '../../bench/models.js';
import { env } from '../../src/util/env.js';
import { TlError } from '../../src/util/errors.js';
import { cleanup, MODELS_DIR, tempDir } from '../helpers.ts';

const saved = { modelsDir: env.modelsDir, cacheDir: env.cacheDir, allowDownloads: env.allowDownloads };
after(async () => {
  await cleanup(env.cacheDir);
  Object.assign(env, saved);
});

test('on disk: ready, in order; not on disk and offline: one line each; an unknown id throws', async () => {
  env.modelsDir = MODELS_DIR;
  env.cacheDir = await tempDir('tl-bench-models-');
  env.allowDownloads = false;
  const r = await availableModels(['mobilenet-v2', 'resnet152', 'darknet-tiny', 'efficientnet-lite4']);
  assert.deepEqual(r.ready, ['mobilenet-v2', 'darknet-tiny']);
  assert.deepEqual(r.skipped, [
    {
      model: 'resnet152',
      line: 'skipped resnet152: not on disk and offline (TL_OFFLINE) — set TL_MODELS_DIR or go online',
    },
    {
      model: 'efficientnet-lite4',
      line: 'skipped efficientnet-lite4: not on disk and offline (TL_OFFLINE) — set TL_MODELS_DIR or go online',
    },
  ]);
  // Without the models folder, the same model is not on disk either.
  env.modelsDir = '';
  assert.match((await modelUnavailable('mobilenet-v2'))!, /^skipped mobilenet-v2: not on disk and offline/);
  await assert.rejects(
    modelUnavailable('no-such-net'),
    (e: unknown) => e instanceof TlError && /unknown model/.test(e.message),
  );
});
