// The fine-tuning checkpoint file (src/finetune/checkpoint.ts): round trip, refusal of another run's or a damaged
// file (start fresh, never crash), atomic replacement, and an Adam optimizer restored from it stepping exactly as the
// one that was saved.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type * as TF from '@tensorflow/tfjs';
import { tfWasm } from '../../src/backbone/runtimes/tfjs/tfjs.js';
import { env } from '../../src/util/env.js';
import {
  checkpointDir,
  loadCheckpoint,
  STALE_CHECKPOINT_MS,
  optimizerState,
  removeCheckpoint,
  restoreOptimizer,
  runKey,
  saveCheckpoint,
  type CheckpointState,
} from '../../src/finetune/checkpoint.js';
import { cleanup, tempDir } from '../helpers.js';

let tmp: string;
let savedCacheDir: string;
let tf: typeof TF;
before(async () => {
  tmp = await tempDir('tl-ckpt-');
  savedCacheDir = env.cacheDir;
  env.cacheDir = tmp;
  tf = await tfWasm();
});
after(async () => {
  env.cacheDir = savedCacheDir;
  await cleanup(tmp);
});

const f32 = (...v: number[]) => Float32Array.from(v);
function state(key: string, epoch: number): CheckpointState {
  const opt = {
    iterations: 7,
    accBeta1: f32(0.9 ** 8),
    accBeta2: f32(0.999 ** 8),
    moments: [
      { name: 'w/m', shape: [2], data: f32(1e-3, -2e-3) },
      { name: 'w/v', shape: [2], data: f32(1e-6, 4e-6) },
    ],
  };
  return {
    key,
    epoch,
    of: 8,
    stepIndex: 21,
    sinceBest: 1,
    history: [{ step: 0, trainLoss: 0.5, trainAcc: 0.75, innerValLoss: 0.25, innerValAcc: 1 / 3 }],
    W: f32(1, 2, 3, Math.PI),
    b: f32(-1, 0.1),
    tail: [f32(5, 6), f32()],
    best: { epoch: 2, acc: 2 / 3, loss: 0.123456789, correct: '011' },
    kept: { epoch: 3, acc: 1 / 3, loss: 0.2, W: f32(1, 2, 3, 4), b: f32(0, 0), tail: [f32(7, 8), f32()] },
    optHead: opt,
    optTail: { ...opt, moments: [] },
  };
}

test('runKey: same inputs same key; any setting, value or label changes it', () => {
  const k = runKey({ seed: 1 }, [f32(1, 2), Int32Array.from([0, 1])]);
  assert.equal(runKey({ seed: 1 }, [f32(1, 2), Int32Array.from([0, 1])]), k);
  assert.notEqual(runKey({ seed: 2 }, [f32(1, 2), Int32Array.from([0, 1])]), k);
  assert.notEqual(runKey({ seed: 1 }, [f32(1, 2.0000002), Int32Array.from([0, 1])]), k);
  assert.notEqual(runKey({ seed: 1 }, [f32(1, 2), Int32Array.from([1, 0])]), k);
});

test('save + load round-trips every value exactly; the last save wins, no temp file left; remove deletes the folder', () => {
  const key = runKey({ t: 'roundtrip' }, []);
  saveCheckpoint(state(key, 3));
  saveCheckpoint(state(key, 4));
  assert.deepEqual(readdirSync(checkpointDir(key)), ['state.bin']);
  const back = loadCheckpoint(key);
  assert.deepEqual(back, state(key, 4));
  removeCheckpoint(key);
  assert.ok(!existsSync(checkpointDir(key)));
});

test("another run's file, a truncated file or garbage: undefined (the run starts fresh)", () => {
  const key = runKey({ t: 'damaged' }, []);
  assert.equal(loadCheckpoint(key), undefined, 'none yet');
  saveCheckpoint(state(key, 2));
  const path = join(checkpointDir(key), 'state.bin');
  const good = readFileSync(path);
  writeFileSync(path, good.subarray(0, good.length - 3));
  assert.equal(loadCheckpoint(key), undefined, 'truncated');
  writeFileSync(path, 'not a checkpoint');
  assert.equal(loadCheckpoint(key), undefined, 'garbage');
  const other = runKey({ t: 'other' }, []);
  saveCheckpoint(state(other, 2));
  writeFileSync(path, readFileSync(join(checkpointDir(other), 'state.bin')));
  assert.equal(loadCheckpoint(key), undefined, "another run's state under this key");
  // A version-1 checkpoint (its best epoch's weights, no inner rows) cannot go on under the near-best rule: start fresh.
  saveCheckpoint(state(key, 2));
  const v2 = readFileSync(path);
  assert.equal(v2.toString('latin1', 0, 10), 'TLFTCKPT2\n');
  writeFileSync(path, Buffer.concat([Buffer.from('TLFTCKPT1\n', 'latin1'), v2.subarray(10)]));
  assert.equal(loadCheckpoint(key), undefined, 'a version-1 checkpoint');
});

test('Adam restored from a checkpoint steps bit for bit like the one saved', async () => {
  const v1 = tf.variable(tf.tensor1d([0.3, -1.2, 2.5]), true, 'ckpt_v1');
  const v2 = tf.variable(tf.tensor1d([0.3, -1.2, 2.5]), true, 'ckpt_v2');
  const grad = (i: number) => tf.tensor1d([Math.sin(i), Math.cos(3 * i) * 1e-3, 1 / (i + 1)]);
  const a = tf.train.adam(0.01);
  for (let i = 0; i < 5; i++) {
    const g = grad(i);
    a.applyGradients({ ckpt_v1: g });
    g.dispose();
  }
  const saved = await optimizerState(a);
  v2.assign(v1);
  const b = tf.train.adam(0.01);
  // The moments are keyed by position in the optimizer, as applyGradients creates them; v2 takes v1's place.
  await restoreOptimizer(tf, b, saved);
  for (let i = 5; i < 9; i++) {
    const g = grad(i);
    a.applyGradients({ ckpt_v1: g });
    b.applyGradients({ ckpt_v2: g });
    g.dispose();
  }
  assert.deepEqual(Array.from(v2.dataSync()), Array.from(v1.dataSync()));
  a.dispose();
  b.dispose();
  tf.dispose([v1, v2]);
});

test("a save drops other runs' checkpoints untouched for a week, keeps recent ones and folders it did not write", () => {
  const stale = runKey({ t: 'stale' }, []);
  const recent = runKey({ t: 'recent' }, []);
  saveCheckpoint(state(stale, 1));
  saveCheckpoint(state(recent, 1));
  const old = (Date.now() - STALE_CHECKPOINT_MS - 3600_000) / 1000;
  utimesSync(checkpointDir(stale), old, old);
  const foreign = join(checkpointDir(stale), '..', 'not-ours');
  mkdirSync(foreign);
  utimesSync(foreign, old, old);
  const current = runKey({ t: 'current' }, []);
  saveCheckpoint(state(current, 1));
  assert.ok(!existsSync(checkpointDir(stale)), 'stale checkpoint removed');
  assert.ok(existsSync(checkpointDir(recent)), 'recent checkpoint kept');
  assert.ok(existsSync(foreign), 'a folder the toolkit did not write is never touched');
  for (const k of [recent, current]) removeCheckpoint(k);
});
