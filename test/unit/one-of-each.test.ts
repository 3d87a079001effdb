// Issue 11 items 1, 6, 7: one head-spec syntax for the CLI and the server, one head-fitting policy for every rung,
// one default strategy ('auto') for the library and the CLI, every engine setting on `env`, and a library entry point
// that exports what the README documents (no internals).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { parseHeadSpec } from '../../src/classifier/head-spec.js';
import { sampleWeightsFor, chooseL2, L2_WITHOUT_CV } from '../../src/classifier/head-policy.js';
import { formatBytes } from '../../src/util/format.js';
import { softmaxRows, argmax } from '../../src/util/math.js';
import { env } from '../../src/util/env.js';
import { readSavedConfig } from '../../src/classifier/saved-config.js';
import { parseTrainRequest } from '../../src/serve/training.js';
import { cleanup, DATASETS_DIR, linkSubset, runCli, tempDir } from '../helpers.js';

describe('one head-spec parser', () => {
  test('the CLI syntax and the server syntax are one syntax', () => {
    assert.deepEqual(parseHeadSpec('linear'), { kind: 'linear' });
    assert.deepEqual(parseHeadSpec({ kind: 'linear' }), { kind: 'linear' });
    // The server accepted "mlp" and "mlp:UNITS" (256 units by default); the CLI only "mlp:UNITS[,dropout=P]".
    assert.deepEqual(parseHeadSpec('mlp'), { kind: 'mlp', hidden: 256, dropout: 0.2 });
    assert.deepEqual(parseHeadSpec('mlp:64'), { kind: 'mlp', hidden: 64, dropout: 0.2 });
    assert.deepEqual(parseHeadSpec('mlp:32,dropout=0.1'), { kind: 'mlp', hidden: 32, dropout: 0.1 });
    assert.deepEqual(parseHeadSpec({ kind: 'mlp', hidden: 128, dropout: 0 }), { kind: 'mlp', hidden: 128, dropout: 0 });
    for (const bad of [
      'mlp:x',
      'mlp:0',
      'mlp:9000',
      'mlp:64,dropout=1',
      'conv',
      '',
      3,
      null,
      { kind: 'mlp', hidden: -1 },
    ]) {
      assert.throws(() => parseHeadSpec(bad), { name: 'TlError' }, JSON.stringify(bad));
    }
  });

  test('the server takes the CLI form too (mlp:UNITS,dropout=P); a bad spec is a 400 naming the syntax', () => {
    assert.deepEqual(parseTrainRequest({ head: 'mlp:32,dropout=0.1' }).head, { kind: 'mlp', hidden: 32, dropout: 0.1 });
    assert.deepEqual(parseTrainRequest({ head: { kind: 'mlp', hidden: 64 } }).head, {
      kind: 'mlp',
      hidden: 64,
      dropout: 0.2,
    });
    assert.deepEqual(parseTrainRequest({}).head, { kind: 'linear' });
    assert.throws(
      () => parseTrainRequest({ head: 'mlp:x' }),
      (e: Error & { statusCode?: number }) =>
        e.statusCode === 400 && /head must be "linear" or "mlp\[:UNITS\]/.test(e.message),
    );
  });

  test('tl train --head mlp (the server form) is accepted by the CLI; a bad spec names the one syntax', async () => {
    const cacheDir = await tempDir('tl-head-spec-');
    try {
      const bad = await runCli(['train', 'nowhere', '--head', 'mlp:x'], { cacheDir });
      assert.notEqual(bad.code, 0);
      assert.match(bad.stderr, /--head must be "linear" or "mlp\[:UNITS\]\[,dropout=P\]"/);
      // "mlp" parses (the run then fails on the missing data folder, not on --head).
      const ok = await runCli(['train', join(cacheDir, 'nowhere'), '--head', 'mlp'], { cacheDir });
      assert.notEqual(ok.code, 0);
      assert.doesNotMatch(ok.stderr, /--head/);
    } finally {
      await cleanup(cacheDir);
    }
  });
});

describe('one head-fitting policy', () => {
  test('class weights: auto reweights from a 1.5x imbalance on, balanced always, none never', () => {
    const labels = (a: number, b: number) => Int32Array.from([...Array(a).fill(0), ...Array(b).fill(1)]);
    assert.equal(sampleWeightsFor(labels(14, 10), 2, 'auto'), undefined);
    const w = sampleWeightsFor(labels(15, 10), 2, 'auto')!;
    assert.ok(w, '15 vs 10 is imbalanced');
    assert.ok(Math.abs(w[0] - 25 / (2 * 15)) < 1e-12 && Math.abs(w[24] - 25 / (2 * 10)) < 1e-12);
    assert.ok(sampleWeightsFor(labels(10, 10), 2, 'balanced'));
    assert.equal(sampleWeightsFor(labels(30, 10), 2, 'none'), undefined);
  });

  test('L2: the user value wins; a class with one image means no CV and the safe default', async () => {
    const X = [new Float32Array([1, 0]), new Float32Array([0, 1]), new Float32Array([1, 1])];
    assert.deepEqual(await chooseL2(X, Int32Array.from([0, 1, 1]), 2, { l2: 0.3, seed: 0 }), {
      l2: 0.3,
      selectedBy: 'user',
    });
    assert.deepEqual(await chooseL2(X, Int32Array.from([0, 1, 1]), 2, { seed: 0 }), {
      l2: L2_WITHOUT_CV,
      selectedBy: 'default',
    });
  });
});

test('one softmax, one argmax, one formatBytes (binary units, KiB)', () => {
  const p = softmaxRows(new Float32Array([1000, 1001, 999]));
  assert.ok(Math.abs(p.reduce((a, b) => a + b, 0) - 1) < 1e-6);
  assert.equal(argmax(p), 1);
  assert.equal(argmax([2, 5, 5]), 1, 'first one on ties');
  assert.equal(formatBytes(512), '512 B');
  assert.equal(formatBytes(15_667), '15.3 KiB');
  assert.equal(formatBytes(20 * 2 ** 20), '20 MiB', 'whole: no decimal (the server says "the 20 MiB limit")');
  assert.equal(formatBytes(50_176), '49 KiB');
});

test('a saved config is read back through one typed reader: wrong types read as absent, other fields kept', () => {
  const c = readSavedConfig({
    data: '/photos',
    seed: 3,
    strategy: 'partial',
    evaluatedOn: 'val',
    valImages: 'many',
    cut: 'block_13',
    bestEpoch: 2,
  });
  assert.equal(c.data, '/photos');
  assert.equal(c.seed, 3);
  assert.equal(c.strategy, 'partial');
  assert.equal(c.valImages, undefined);
  assert.equal(c.cut, 'block_13');
  assert.deepEqual(readSavedConfig(null), {});
  assert.deepEqual(readSavedConfig({ seed: -1 }), {});
});

test('engine settings live on env: read from TL_* when used, an assigned value wins', () => {
  const saved = {
    threads: process.env.TL_TRAIN_THREADS,
    mem: process.env.TL_FT_MEMORY_MB,
    ort: process.env.TL_ORT_WORKER,
  };
  try {
    process.env.TL_TRAIN_THREADS = '3';
    process.env.TL_FT_MEMORY_MB = '512';
    process.env.TL_ORT_WORKER = '0';
    assert.equal(env.trainThreads, 3);
    assert.equal(env.finetuneMemoryMB, 512);
    assert.equal(env.onnxWorker, false);
    process.env.TL_TRAIN_THREADS = 'many';
    assert.equal(env.trainThreads, undefined, 'not a positive integer: the default applies');
    env.trainThreads = 1;
    process.env.TL_TRAIN_THREADS = '4';
    assert.equal(env.trainThreads, 1);
  } finally {
    env.trainThreads = undefined;
    for (const [k, v] of [
      ['TL_TRAIN_THREADS', saved.threads],
      ['TL_FT_MEMORY_MB', saved.mem],
      ['TL_ORT_WORKER', saved.ort],
    ] as const) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
});

test('the library exports what the README documents, not internals', async () => {
  const lib = await import('../../src/index.js');
  for (const name of [
    'trainClassifier',
    'Classifier',
    'loadBackbone',
    'preprocess',
    'extractFeatures',
    'FeatureStore',
    'loadDataset',
    'evaluate',
    'classifyImagenet',
    'registerModel',
    'env',
  ]) {
    assert.ok(name in lib, `${name} is exported`);
  }
  for (const name of ['encodeF16', 'decodeF16', 'MicroBatcher', 'ZOO', 'loadNetwork', 'modelKeyFor'])
    assert.ok(!(name in lib), `${name} is internal`);
  assert.equal(lib.DEFAULT_STRATEGY, 'auto');
});

test('the library default strategy is the CLI one (auto): trainClassifier without a strategy plans first', async () => {
  const dir = await tempDir('tl-default-strategy-');
  try {
    const data = join(dir, 'data');
    await linkSubset(join(DATASETS_DIR, 'hymenoptera_data/train'), data, 6);
    const { trainClassifier } = await import('../../src/index.js');
    const { FeatureStore } = await import('../../src/features/store.js');
    const store = FeatureStore.open(':memory:');
    const types: string[] = [];
    try {
      const r = await trainClassifier(data, { store, seed: 0, l2: 1, onEvent: (e) => types.push(e.type) });
      await r.classifier.dispose();
      assert.ok(types.includes('plan'), `events: ${[...new Set(types)].join(', ')}`);
      assert.ok(!('strategy' in r.config) || r.config.strategy === 'head', '6 images per class: auto picks the head');
    } finally {
      store.close();
    }
  } finally {
    await cleanup(dir);
  }
});
