// The GPU path (issue 16) on this machine's WebGPU adapter: rung-3 training images/s (every layer of MobileNetV2 from
// the input, converted to TF.js ops, Adam on tail + softmax, default 224 px, batch 64) and extraction images/s
// (forward only: the same TF.js network on webgpu, and onnxruntime's webgpu execution provider on the int8 ONNX
// model). A software adapter (Mesa llvmpipe, when no GPU exists) is used only with --software, at a small default
// size, and every number it gives is labelled software: it tests the code path, it says nothing about a GPU.
// npm run bench:gpu -- [--size 224] [--batch 64] [--steps 3] [--extract-batch 64] [--software] [--no-ort]
//   → a table on stdout, bench-results/gpu.json
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type * as tfjs from '@tensorflow/tfjs';
import { findModel } from '../src/backbone/registry.js';
import { resolveModel } from '../src/backbone/resolve.js';
import { loadNetwork, buildTrainableTail } from '../src/finetune/network.js';
import { openAdapter } from '../src/engine/webgpu/adapter.js';
import { tfWebgpu } from '../src/engine/webgpu/tf-webgpu.js';
import { benchArgs } from './args.js';

const args = benchArgs(
  'npm run bench:gpu -- [--size 224] [--batch 64] [--steps 3] [--extract-batch 64] [--software] [--no-ort]\n' +
    '  --software: run on a software adapter when no GPU exists (defaults then: --size 64 --batch 4 --steps 1 --extract-batch 4)',
  { size: undefined, batch: undefined, steps: undefined, 'extract-batch': undefined },
  ['software', 'no-ort'],
);
const root = [resolve(import.meta.dirname, '..'), resolve(import.meta.dirname, '../..')].find((d) =>
  existsSync(join(d, 'package.json')),
)!;

const opened = await openAdapter({ allowSoftware: args.software });
if (!opened) {
  console.error(
    args.software
      ? 'no WebGPU adapter: neither a GPU (Vulkan driver: libvulkan1 + the vendor ICD) nor Mesa (libegl1 libgles2 libegl-mesa0 libgl1-mesa-dri)'
      : 'no hardware GPU adapter (a Vulkan driver: libvulkan1 + the vendor ICD file); --software runs the code path on Mesa llvmpipe',
  );
  process.exit(1);
}
const software = opened.summary.software;
const num = (v: string | undefined, hardware: number, soft: number) => Number(v ?? (software ? soft : hardware));
const size = num(args.size, 224, 64);
const B = num(args.batch, 64, 4);
const steps = num(args.steps, 3, 1);
const EB = num(args['extract-batch'], 64, 4);
const K = 10;
const adapterName = opened.summary.device || opened.summary.description || opened.summary.vendor;
const label = software
  ? `SOFTWARE adapter (${adapterName}): not GPU numbers`
  : `GPU: ${adapterName} (${opened.summary.vendor})`;
console.error(`adapter: ${label}`);

const tf = await tfWebgpu(opened);
const net = await loadNetwork(findModel('mobilenet-v2'));
const tail = await buildTrainableTail(tf, net, net.inputCut, [size, size, 3]);
const vars = [...tail.variables.values()];

/** Seconds per call of `f` after one warm-up call; `f` ends with an awaited read, so the GPU work is included. */
async function timeIt(f: () => Promise<void>, n: number): Promise<number> {
  await f();
  const t0 = performance.now();
  for (let i = 0; i < n; i++) await f();
  return (performance.now() - t0) / 1000 / n;
}

// Rung 3: forward + backward through every layer + Adam on tail and softmax.
const W = tf.variable(tf.randomNormal([tail.featureDim, K], 0, 0.01));
const opt = tf.train.adam(1e-4);
const x = tf.randomNormal([B, size, size, 3]) as tfjs.Tensor4D;
const y = tf.oneHot(
  tf.tensor1d(
    Array.from({ length: B }, (_, i) => i % K),
    'int32',
  ),
  K,
);
const trainStep = async () => {
  const loss = tf.tidy(() => {
    const { value, grads } = tf.variableGrads(() => {
      const logits = tf.matMul(tail.apply(x), W);
      return tf.neg(tf.mean(tf.sum(tf.mul(y, tf.sub(logits, tf.logSumExp(logits, 1, true))), 1))) as tfjs.Scalar;
    }, [...vars, W]);
    opt.applyGradients(grads as never);
    return value;
  });
  await loss.data(); // webgpu under Node reads asynchronously only
  loss.dispose();
};
const trainSeconds = await timeIt(trainStep, steps);
const trainRate = B / trainSeconds;
console.error(`train (rung 3, ${size} px, batch ${B}): ${trainRate.toFixed(1)} img/s`);
tf.dispose([x, y, W]);
opt.dispose();

// Extraction with TF.js on webgpu: the same network forward only, pooled features read back.
const xe = tf.randomNormal([EB, size, size, 3]) as tfjs.Tensor4D;
const forward = async () => {
  const f = tf.tidy(() => tail.apply(xe));
  await f.data();
  f.dispose();
};
const tfjsExtractRate = EB / (await timeIt(forward, steps));
console.error(`extract (TF.js webgpu, ${size} px, batch ${EB}): ${tfjsExtractRate.toFixed(1)} img/s`);
xe.dispose();
tail.dispose();

// Extraction with onnxruntime's webgpu execution provider (its own Dawn; needs a Vulkan adapter, fixed 224 px).
let ortExtractRate: number | string = 'skipped (--no-ort)';
if (software) ortExtractRate = "n/a on a software adapter (onnxruntime's webgpu EP needs a Vulkan one)";
else if (!args['no-ort']) {
  try {
    const ort = await import('onnxruntime-node');
    const entry = findModel('mobilenet-v2');
    const { dir } = await resolveModel(entry, {});
    const session = await ort.InferenceSession.create(join(dir, entry.entry), { executionProviders: ['webgpu'] });
    const s = entry.input.size;
    const feed = {
      [session.inputNames[0]]: new ort.Tensor('float32', new Float32Array(EB * 3 * s * s).fill(0.1), [EB, 3, s, s]),
    };
    ortExtractRate = EB / (await timeIt(async () => void (await session.run(feed)), steps));
    await session.release();
    console.error(`extract (onnxruntime webgpu EP, int8, ${s} px, batch ${EB}): ${ortExtractRate.toFixed(1)} img/s`);
  } catch (e) {
    const m = (e as Error).message;
    ortExtractRate = `unavailable: ${/Failed to get a WebGPU adapter[^\n]*/.exec(m)?.[0] ?? m.split('\n')[0].slice(-160)}`;
    console.error(`extract (onnxruntime webgpu EP): ${ortExtractRate}`);
  }
}

const fmt = (v: number | string) => (typeof v === 'number' ? `${v.toFixed(1)} img/s` : v);
const rows: [string, string][] = [
  [`rung-3 training, MobileNetV2 ${size} px, batch ${B} (TF.js webgpu)`, fmt(trainRate)],
  [`extraction, MobileNetV2 ${size} px, batch ${EB} (TF.js webgpu)`, fmt(tfjsExtractRate)],
  [`extraction, MobileNetV2 int8 224 px, batch ${EB} (onnxruntime webgpu EP)`, fmt(ortExtractRate)],
];
console.log(`\n${label}`);
const w = Math.max(...rows.map((r) => r[0].length));
for (const [k, v] of rows) console.log(`${k.padEnd(w)}  ${v}`);
await mkdir(join(root, 'bench-results'), { recursive: true });
const out = join(root, 'bench-results/gpu.json');
await writeFile(
  out,
  JSON.stringify(
    {
      date: new Date().toISOString(),
      adapter: opened.summary,
      software,
      note: software
        ? 'software adapter (CPU rasterizer): these numbers test the code path and are not GPU numbers'
        : undefined,
      settings: { size, batch: B, steps, extractBatch: EB },
      trainImagesPerSecond: trainRate,
      extractTfjsImagesPerSecond: tfjsExtractRate,
      extractOrtWebgpu: ortExtractRate,
    },
    null,
    2,
  ) + '\n',
);
console.log(`\nwrote ${out}`);
process.exit(0);
