// Training throughput (images/s) of tl's rungs beside PyTorch (Debian python3-torch, torchvision MobileNetV2, 2 threads,
// same batch and resolution), in the same run. tl: head = Adam step of the softmax on cached 1280-d features;
// partial = the last K blocks + softmax on cached cut activations (no frozen forward: that is the cache's point);
// full = every layer from the input (the ONNX tail cut at the network input). PyTorch partial runs its frozen part
// under no_grad each step, as one does without a cache.
// node --import tsx bench/train-throughput.ts [--train-last 2] [--batch 32] [--steps 3]   → bench-results/train-throughput.json
import { spawnSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import type * as tfjs from '@tensorflow/tfjs';
import { findModel } from '../src/backbone/registry.js';
import { loadNetwork, resolveFreeze, buildTrainableTail, trainingTf } from '../src/finetune/network.js';

const args = process.argv.slice(2);
const arg = (n: string, d: string) => (args.includes(`--${n}`) ? args[args.indexOf(`--${n}`) + 1] : d);
const trainLast = Number(arg('train-last', '2'));
const B = Number(arg('batch', '32'));
const steps = Number(arg('steps', '3'));
const skipFull = args.includes('--no-full');
const root = resolve(import.meta.dirname, '..');
const { tf, backend } = await trainingTf();
const net = await loadNetwork(findModel('mobilenet-v2'));
const K = 10;

async function rate(vars: tfjs.Variable[], forward: () => tfjs.Tensor2D): Promise<number> {
  return rateAt(B, vars, forward);
}

async function rateAt(B: number, vars: tfjs.Variable[], forward: () => tfjs.Tensor2D): Promise<number> {
  const W = tf.variable(tf.randomNormal([1280, K], 0, 0.01));
  const opt = tf.train.adam(1e-4);
  const y = tf.oneHot(tf.tensor1d(Array.from({ length: B }, (_, i) => i % K), 'int32'), K);
  const step = () => tf.tidy(() => {
    const { value, grads } = tf.variableGrads(() => {
      const logits = tf.matMul(forward(), W);
      return tf.neg(tf.mean(tf.sum(tf.mul(y, tf.sub(logits, tf.logSumExp(logits, 1, true))), 1))) as tfjs.Scalar;
    }, [...vars, W]);
    opt.applyGradients(grads as never);
    value.dataSync();
  });
  step();
  const t0 = performance.now();
  for (let i = 0; i < steps; i++) step();
  const r = (B * steps) / ((performance.now() - t0) / 1000);
  opt.dispose();
  tf.dispose([W, y]);
  return r;
}

const load0 = loadavg()[0];
const ours: Record<string, number> = {};
{
  const feats = tf.randomNormal([B, 1280]) as tfjs.Tensor2D;
  ours.head = await rate([], () => feats);
  console.error(`tl head: ${ours.head.toFixed(0)} img/s`);
  feats.dispose();
}
{
  const { cut, lastFrozen } = resolveFreeze(net, { trainLast });
  const shape = net.units[lastFrozen].shape;
  const tail = await buildTrainableTail(tf, net, cut, shape);
  const x = tf.randomNormal([B, ...shape]) as tfjs.Tensor4D;
  ours.partial = await rate([...tail.variables.values()], () => tail.apply(x));
  console.error(`tl partial (last ${trainLast}): ${ours.partial.toFixed(1)} img/s`);
  x.dispose();
  tail.dispose();
}
if (!skipFull) {
  // The whole network at 224 needs ~30 MB of activations per image for the backward pass; the wasm heap stops at
  // 4 GB, so the full rung runs at a smaller batch (reported beside the number).
  const s = net.entry.input.size;
  const fullBatch = Math.min(B, Number(arg('full-batch', '8')));
  try {
    const tail = await buildTrainableTail(tf, net, net.inputCut, [s, s, 3]);
    const x = tf.randomNormal([fullBatch, s, s, 3]) as tfjs.Tensor4D;
    const saved = B;
    ours.full = await rateAt(fullBatch, [...tail.variables.values()], () => tail.apply(x));
    ours.fullBatch = fullBatch;
    console.error(`tl full (batch ${fullBatch}): ${ours.full.toFixed(2)} img/s (partial/head used batch ${saved})`);
    x.dispose();
    tail.dispose();
  } catch (err) {
    console.error(`tl full: failed (${(err as Error).message})`);
  }
}
const py = spawnSync('/usr/bin/python3', [join(root, 'bench/peer_torch_train.py'), 'threads=2', `batch=${B}`, 'size=224', `train_last=${trainLast}`, `steps=${steps}`], {
  encoding: 'utf8',
  // glibc returns torch's large buffers to the OS after every op unless told not to; the extraction bench found
  // this costs torch 2-4x, so the peer runs with the same malloc settings as there.
  env: { ...process.env, MALLOC_MMAP_THRESHOLD_: '4294967296', MALLOC_TRIM_THRESHOLD_: '4294967296', MALLOC_TOP_PAD_: '536870912' },
});
const torch = py.status === 0 ? JSON.parse(py.stdout.trim().split('\n').at(-1)!) : { error: py.stderr.slice(-500) };
const result = { when: new Date().toISOString(), batch: B, size: 224, trainLast, backend, loadavgStart: load0, loadavgEnd: loadavg()[0], tl: ours, torch };
console.log(JSON.stringify(result, null, 2));
await mkdir(join(root, 'bench-results'), { recursive: true });
await writeFile(join(root, 'bench-results/train-throughput.json'), JSON.stringify(result, null, 2) + '\n');
