// The whole rung-1 run in bounded memory (training/harness.ts runBounded): over TL_HEAD_MEMORY_MB the vectors stay in
// the feature store, the spill file is written from it, val is scored a chunk at a time and the unknown detector reads
// only its samples. Each run is a child process (run-bounded-child.mjs) so its peak RSS is its own: a synthetic set
// and one 4x bigger (real cats_and_dogs_filtered vectors + noise, stored under MobileNetV2's key in a temporary
// TL_CACHE_DIR; the files are a few bytes each, found in the store by their hash and never decoded) peak within
// tens of MB of each other (the files' bookkeeping), where holding the vectors would add 5 KB each. The real set's
// answers match the in-memory run.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { loadDataset } from '../../src/data/dataset.js';
import { loadFeatureBackbone } from '../../src/backbone/load.js';
import { FeatureStore, modelKeyFor } from '../../src/features/store.js';
import { sha256 } from '../../src/util/hash.js';
import { Rng } from '../../src/util/random.js';
import { extractLabelled } from '../../src/training/labelled-features.js';
import { cleanup, DATASETS_DIR, MODELS_DIR, tempDir } from '../helpers.js';

const CHILD = resolve(import.meta.dirname, 'run-bounded-child.mjs');
// 8,000 and 32,000: both above every bounded sample's cap (the L2 search's 4,000 rows, the unknown detector's 1,000
// references + 5,000 calibration rows, the curve's 1,000 val rows), so what is held is the same size in both.
const SMALL = Number(process.env.TL_TEST_BOUNDED_N ?? 8000);
const dirs: string[] = [];
after(() => cleanup(...dirs));

interface ChildOut {
  accuracy: number;
  trainImages: number;
  valImages: number;
  l2: number;
  peakRssMB: number;
}

async function runChild(data: string, env: Record<string, string>, l2?: number): Promise<ChildOut> {
  const { stdout } = await promisify(execFile)(process.execPath, [CHILD, data, ...(l2 ? [String(l2)] : [])], {
    env: { ...process.env, TL_MODELS_DIR: MODELS_DIR, TL_OFFLINE: '1', ...env },
    maxBuffer: 1 << 20,
    timeout: 600_000,
  });
  return JSON.parse(stdout.trim().split('\n').at(-1)!) as ChildOut;
}

/** cats_and_dogs_filtered's training vectors (from the feature cache) and labels: the synthetic rows' sources. */
async function sourceRows() {
  const dataset = loadDataset(join(DATASETS_DIR, 'cats_and_dogs_filtered'), { seed: 0 });
  const backbone = await loadFeatureBackbone('mobilenet-v2');
  const store = FeatureStore.open();
  try {
    const train = await extractLabelled(backbone, store, dataset.train, dataset.classes, 'train', () => {}, {});
    return { rows: train.features, labels: train.labels, classes: dataset.classes, key: modelKeyFor(backbone) };
  } finally {
    store.close();
    await backbone.dispose();
  }
}

/** A dataset of n train and n/4 val files whose vectors (a source row + noise) are in a fresh cache's store. */
function syntheticSet(
  n: number,
  src: Awaited<ReturnType<typeof sourceRows>>,
  root: string,
): { data: string; cache: string } {
  const data = join(root, 'data');
  const cache = join(root, 'cache');
  mkdirSync(cache, { recursive: true });
  const store = FeatureStore.open(join(cache, 'features.sqlite'));
  store.registerModel(src.key);
  const rng = new Rng(n);
  try {
    for (const [split, count] of [
      ['train', n],
      ['val', n / 4],
    ] as const) {
      for (const c of src.classes) mkdirSync(join(data, split, c), { recursive: true });
      let batch: { contentHash: string; vector: Float32Array }[] = [];
      for (let i = 0; i < count; i++) {
        const s = i % src.rows.length;
        const bytes = Buffer.from(`synthetic ${split} ${i} of ${n}`);
        writeFileSync(join(data, split, src.classes[src.labels[s]], `${i}.jpg`), bytes);
        const vector = src.rows[s].map((x) => Math.max(0, x + 0.2 * rng.normal()));
        batch.push({ contentHash: sha256(bytes), vector });
        if (batch.length < 1000) continue;
        store.putMany(src.key.key, batch);
        batch = [];
      }
      store.putMany(src.key.key, batch);
    }
  } finally {
    store.close();
  }
  return { data, cache };
}

test(`a bounded run's peak RSS does not grow with the set: ${SMALL} and ${4 * SMALL} training vectors`, async () => {
  const src = await sourceRows();
  const peaks: ChildOut[] = [];
  for (const n of [SMALL, 4 * SMALL]) {
    const root = await tempDir('tl-run-bounded-');
    dirs.push(root);
    const { data, cache } = syntheticSet(n, src, root);
    const env = { TL_CACHE_DIR: cache, TL_HEAD_MEMORY_MB: '1' };
    const out = await runChild(data, env, 10);
    // TL_TEST_BASELINE_DIST (another build's dist/, e.g. the base branch's): measured the same way, for the record.
    const base = process.env.TL_TEST_BASELINE_DIST;
    if (base)
      console.log(`baseline at ${n}: ${JSON.stringify(await runChild(data, { ...env, TL_TEST_DIST: base }, 10))}`);
    assert.equal(out.trainImages, n);
    assert.equal(out.valImages, n / 4);
    assert.ok(out.accuracy > 0.9, `synthetic accuracy ${out.accuracy} at ${n}`);
    peaks.push(out);
    await cleanup(root);
  }
  const [small, big] = peaks;
  const grew = big.peakRssMB - small.peakRssMB;
  const heldVectors = (3 * SMALL * 1.25 * 1280 * 4) / 2 ** 20;
  console.log(
    `peak RSS: ${small.peakRssMB} MB at ${SMALL}, ${big.peakRssMB} MB at ${4 * SMALL} (+${grew} MB); ` +
      `val accuracy ${small.accuracy}, ${big.accuracy}`,
  );
  // What does grow with the files is their bookkeeping (paths, labels, hashes: about 1 KB a file) and when the GC
  // runs: +23 and +43 MB in two suite runs of the same commit. Holding the vectors adds 146 MB on top of that, so the
  // line is halfway between.
  assert.ok(grew < heldVectors / 2, `peak RSS grew ${grew} MB; holding the vectors would add ${heldVectors} MB`);
});
