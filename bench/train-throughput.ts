// Training throughput (images/s) of tl's rungs beside PyTorch (Debian python3-torch, torchvision MobileNetV2, 2 threads,
// same batch and resolution), in the same run. tl: head = Adam step of the softmax on cached 1280-d features;
// partial = the last K blocks + softmax on cached cut activations (no frozen forward: that is the cache's point);
// full = every layer from the input (the ONNX tail cut at the network input). PyTorch partial runs its frozen part
// under no_grad each step, as one does without a cache.
// npm run bench:train-throughput -- [--train-last 2] [--batch 32] [--steps 3] [--threads 2] [--no-full]
//   [--full-batch 16] [--full-micro 4] [--full-steps 2] [--full-rounds 1] [--size 224] [--no-torch]   → bench-results/train-throughput.json
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import type * as tfjs from '@tensorflow/tfjs';
import { findModel } from '../src/backbone/registry.js';
import { loadNetwork, resolveFreeze, buildTrainableTail, trainingTf } from '../src/finetune/network.js';
import { ParallelSteps, defaultTrainThreads } from '../src/finetune/parallel.js';
import { benchArgs } from './args.js';
import { serialStep } from '../src/finetune/step.js';

const args = benchArgs(
  'npm run bench:train-throughput -- [--train-last 2] [--batch 32] [--steps 3] [--threads 2] [--rounds 3] [--no-full] ' +
    '[--size 224] [--full-batch 16] [--full-micro 4] [--full-steps 2] [--full-rounds 1] [--torch-threads 2] [--no-torch]',
  {
    'train-last': undefined,
    batch: undefined,
    steps: undefined,
    threads: undefined,
    rounds: undefined,
    size: undefined,
    'full-batch': undefined,
    'full-micro': undefined,
    'full-steps': undefined,
    'full-rounds': undefined,
    'torch-threads': undefined,
  },
  ['no-full', 'no-torch'],
);
const arg = (n: Exclude<keyof typeof args, 'no-full' | 'no-torch'>, d: string) => args[n] ?? d;
const trainLast = Number(arg('train-last', '2'));
const B = Number(arg('batch', '32'));
const steps = Number(arg('steps', '3'));
const skipFull = args['no-full'];
// Runs from bench/ (tsx) or dist/bench/ (built): the package root is whichever parent holds package.json.
const root = [resolve(import.meta.dirname, '..'), resolve(import.meta.dirname, '../..')].find((d) =>
  existsSync(join(d, 'package.json')),
)!;
const { tf, backend } = await trainingTf();
const net = await loadNetwork(findModel('mobilenet-v2'));
const K = 10;

async function rate(vars: tfjs.Variable[], forward: () => tfjs.Tensor2D): Promise<number> {
  return rateAt(B, vars, forward);
}

async function rateAt(B: number, vars: tfjs.Variable[], forward: () => tfjs.Tensor2D): Promise<number> {
  const W = tf.variable(tf.randomNormal([1280, K], 0, 0.01));
  const opt = tf.train.adam(1e-4);
  const y = tf.oneHot(
    tf.tensor1d(
      Array.from({ length: B }, (_, i) => i % K),
      'int32',
    ),
    K,
  );
  const step = () =>
    tf.tidy(() => {
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
  // The same step data-parallel (src/finetune/parallel.ts): this thread + worker threads, each its own wasm instance.
  // Serial and parallel steps alternate in rounds (same data, same process), so a busy machine slows both alike;
  // CPU time (all threads of this process) per image shows the parallel path's overhead.
  const threads = Number(arg('threads', String(Math.max(2, defaultTrainThreads()))));
  const rounds = Number(arg('rounds', '3'));
  const D = tail.featureDim;
  const st = {
    tf,
    tail,
    K,
    l2: 0,
    Wv: tf.variable(tf.randomNormal([K, D], 0, 0.01)),
    bv: tf.variable(tf.zeros([K])),
    meanT: tf.zeros([D]),
    stdT: tf.ones([D]),
    optHead: tf.train.adam(1e-3),
    optTail: tf.train.adam(1e-4),
  };
  const par = await ParallelSteps.start(st, { net, threads });
  if (par) {
    const xs = x.dataSync() as Float32Array;
    const ys = Int32Array.from({ length: B }, (_, i) => i % K);
    const tailVars = [...tail.variables.values()];
    const yOne = tf.oneHot(tf.tensor1d(ys, 'int32'), K);
    const serialOne = async () => {
      tf.tidy(() => {
        const { value, grads } = tf.variableGrads(() => {
          const z = tf.div(tf.sub(tail.apply(x), st.meanT), st.stdT);
          const logits = tf.add(tf.matMul(z, st.Wv, false, true), st.bv);
          return tf.neg(tf.mean(tf.sum(tf.mul(yOne, tf.sub(logits, tf.logSumExp(logits, 1, true))), 1))) as tfjs.Scalar;
        }, [...tailVars, st.Wv, st.bv]);
        st.optHead.applyGradients({ [st.Wv.name]: grads[st.Wv.name], [st.bv.name]: grads[st.bv.name] } as never);
        const tg: Record<string, tfjs.Tensor> = {};
        for (const v of tailVars) tg[v.name] = grads[v.name];
        st.optTail.applyGradients(tg as never);
        value.dataSync();
      });
    };
    const parOne = async () => {
      const r = await par.step(xs, ys, B);
      tf.dispose([r.loss, r.correct]);
    };
    await serialOne();
    await parOne();
    const acc = { serial: { ms: 0, cpu: 0 }, parallel: { ms: 0, cpu: 0 } };
    for (let r = 0; r < rounds; r++) {
      for (const [k, f] of [
        ['serial', serialOne],
        ['parallel', parOne],
      ] as const) {
        const c0 = process.cpuUsage();
        const t0 = performance.now();
        for (let i = 0; i < steps; i++) await f();
        acc[k].ms += performance.now() - t0;
        const c = process.cpuUsage(c0);
        acc[k].cpu += (c.user + c.system) / 1000;
      }
    }
    const imgs = B * steps * rounds;
    ours.partialSerialInterleaved = imgs / (acc.serial.ms / 1000);
    ours.partialParallel = imgs / (acc.parallel.ms / 1000);
    ours.partialThreads = threads;
    ours.partialSerialCpuMsPerImage = acc.serial.cpu / imgs;
    ours.partialParallelCpuMsPerImage = acc.parallel.cpu / imgs;
    console.error(
      `tl partial (last ${trainLast}), interleaved ${rounds}x${steps} steps: serial ${ours.partialSerialInterleaved.toFixed(1)} img/s (${ours.partialSerialCpuMsPerImage.toFixed(1)} cpu-ms/img), ${threads} threads data-parallel ${ours.partialParallel.toFixed(1)} img/s (${ours.partialParallelCpuMsPerImage.toFixed(1)} cpu-ms/img)`,
    );
    await par.close();
    yOne.dispose();
  } else console.error('tl partial data-parallel: workers did not start');
  st.optHead.dispose();
  st.optTail.dispose();
  tf.dispose([st.Wv, st.bv, st.meanT, st.stdT]);
  x.dispose();
  tail.dispose();
}
if (!skipFull) {
  // The whole network from the input: every step at --full-batch images (default 16), each thread running its shard in
  // passes of --full-micro images (default 4: a 224 px pass needs ~220 MB of the 32-bit wasm heap per image), gradients
  // summed. 1 thread (serial step) and all threads (data-parallel, each worker its own wasm instance) alternate in
  // rounds on the same data, like the partial rung above.
  const s = Number(arg('size', String(net.entry.input.size)));
  const fullBatch = Number(arg('full-batch', '16'));
  const micro = Number(arg('full-micro', '4'));
  const threads = Number(arg('threads', String(Math.max(2, defaultTrainThreads()))));
  const rounds = Number(arg('full-rounds', '1'));
  const fullSteps = Number(arg('full-steps', '2'));
  try {
    const tail = await buildTrainableTail(tf, net, net.inputCut, [s, s, 3]);
    const D = tail.featureDim;
    const tailVars = [...tail.variables.values()];
    const st = {
      tf,
      tail,
      tailVars,
      K,
      l2: 0,
      microBatch: micro,
      Wv: tf.variable(tf.randomNormal([K, D], 0, 0.01)),
      bv: tf.variable(tf.zeros([K])),
      meanT: tf.zeros([D]),
      stdT: tf.ones([D]),
      optHead: tf.train.adam(1e-3),
      optTail: tf.train.adam(1e-4),
    };
    const xs = (tf.randomNormal([fullBatch, s, s, 3]) as tfjs.Tensor4D).dataSync() as Float32Array;
    const ys = Int32Array.from({ length: fullBatch }, (_, i) => i % K);
    const serialOne = async () => {
      const r = await serialStep(st, st.optHead, st.optTail, xs, ys, fullBatch, 0);
      tf.dispose([r.loss, r.correct]);
    };
    const par = threads > 1 ? await ParallelSteps.start(st, { net, threads }) : undefined;
    const parOne = par
      ? async () => {
          const r = await par.step(xs, ys, fullBatch);
          tf.dispose([r.loss, r.correct]);
        }
      : undefined;
    await serialOne();
    if (parOne) await parOne();
    const acc = { serial: { ms: 0, cpu: 0 }, parallel: { ms: 0, cpu: 0 } };
    for (let r = 0; r < rounds; r++) {
      for (const [k, f] of [
        ['serial', serialOne],
        ['parallel', parOne],
      ] as const) {
        if (!f) continue;
        const c0 = process.cpuUsage();
        const t0 = performance.now();
        for (let i = 0; i < fullSteps; i++) await f();
        acc[k].ms += performance.now() - t0;
        const c = process.cpuUsage(c0);
        acc[k].cpu += (c.user + c.system) / 1000;
      }
    }
    const imgs = fullBatch * fullSteps * rounds;
    ours.full1Thread = imgs / (acc.serial.ms / 1000);
    ours.fullSerialCpuMsPerImage = acc.serial.cpu / imgs;
    if (par) {
      ours.full = imgs / (acc.parallel.ms / 1000);
      ours.fullParallelCpuMsPerImage = acc.parallel.cpu / imgs;
      await par.close();
    } else ours.full = ours.full1Thread;
    ours.fullThreads = par ? threads : 1;
    ours.fullBatch = fullBatch;
    ours.fullMicroBatch = micro;
    ours.fullSize = s;
    console.error(
      `tl full at ${s} px, batch ${fullBatch} (passes of ${micro}), ${rounds}x${fullSteps} steps: 1 thread ${ours.full1Thread.toFixed(2)} img/s (${ours.fullSerialCpuMsPerImage.toFixed(0)} cpu-ms/img), ${ours.fullThreads} threads ${ours.full.toFixed(2)} img/s`,
    );
    st.optHead.dispose();
    st.optTail.dispose();
    tf.dispose([st.Wv, st.bv, st.meanT, st.stdT]);
    tail.dispose();
  } catch (err) {
    console.error(`tl full: failed (${(err as Error).message})`);
  }
}
const py = args['no-torch']
  ? { status: 1, stdout: '', stderr: 'skipped (--no-torch)' }
  : spawnSync(
      '/usr/bin/python3',
      [
        join(root, 'bench/peer_torch_train.py'),
        `threads=${arg('torch-threads', '2')}`,
        `batch=${B}`,
        `full_batch=${ours.fullBatch ?? B}`,
        'size=224',
        `full_size=${ours.fullSize ?? 224}`,
        `train_last=${trainLast}`,
        `steps=${steps}`,
        ...(skipFull ? ['modes=head,partial'] : []),
      ],
      {
        encoding: 'utf8',
        // glibc returns torch's large buffers to the OS after every op unless told not to; the extraction bench found
        // this costs torch 2-4x, so the peer runs with the same malloc settings as there.
        env: {
          ...process.env,
          MALLOC_MMAP_THRESHOLD_: '4294967296',
          MALLOC_TRIM_THRESHOLD_: '4294967296',
          MALLOC_TOP_PAD_: '536870912',
        },
      },
    );
const torch = py.status === 0 ? JSON.parse(py.stdout.trim().split('\n').at(-1)!) : { error: py.stderr.slice(-500) };
const ratio = typeof torch.full === 'number' && ours.full ? ours.full / torch.full : undefined;
if (ratio !== undefined)
  console.error(
    `full network: tl ${ours.full.toFixed(2)} img/s (${ours.fullThreads} threads, batch ${ours.fullBatch}) vs PyTorch ${torch.full.toFixed(2)} img/s (${torch.threads} threads, batch ${torch.fullBatch ?? torch.batch}): ${ratio.toFixed(2)}x`,
  );
// One thread each too: on a shared machine PyTorch's OpenMP threads lose more to contention than one thread does.
const py1 =
  args['no-torch'] || skipFull
    ? undefined
    : spawnSync(
        '/usr/bin/python3',
        [
          join(root, 'bench/peer_torch_train.py'),
          'threads=1',
          `batch=${B}`,
          `full_batch=${ours.fullBatch ?? B}`,
          `full_size=${ours.fullSize ?? 224}`,
          `steps=${steps}`,
          'modes=full',
        ],
        {
          encoding: 'utf8',
          env: {
            ...process.env,
            MALLOC_MMAP_THRESHOLD_: '4294967296',
            MALLOC_TRIM_THRESHOLD_: '4294967296',
            MALLOC_TOP_PAD_: '536870912',
          },
        },
      );
const torch1 =
  py1?.status === 0
    ? JSON.parse(py1.stdout.trim().split('\n').at(-1)!)
    : py1
      ? { error: py1.stderr.slice(-500) }
      : undefined;
const ratio1 = typeof torch1?.full === 'number' && ours.full1Thread ? ours.full1Thread / torch1.full : undefined;
if (ratio1 !== undefined)
  console.error(
    `full network, 1 thread each: tl ${ours.full1Thread.toFixed(2)} img/s vs PyTorch ${torch1.full.toFixed(2)} img/s: ${ratio1.toFixed(2)}x`,
  );
const result = {
  when: new Date().toISOString(),
  uptime: spawnSync('uptime', { encoding: 'utf8' }).stdout.trim(),
  batch: B,
  size: 224,
  fullVsTorch: ratio,
  full1ThreadVsTorch1Thread: ratio1,
  trainLast,
  backend,
  loadavgStart: load0,
  loadavgEnd: loadavg()[0],
  tl: ours,
  torch,
  torch1Thread: torch1,
};
console.log(JSON.stringify(result, null, 2));
await mkdir(join(root, 'bench-results'), { recursive: true });
await writeFile(join(root, 'bench-results/train-throughput.json'), JSON.stringify(result, null, 2) + '\n');
