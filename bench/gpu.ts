// The GPU path (issue 16) on this machine's WebGPU adapter, through the toolkit's own code paths:
// - rung-3 training images/s: the engine `tl train --device webgpu` gets (finetune/training-tf.ts), every layer of
//   MobileNetV2 from the input converted to TF.js ops (buildTrainableTail at the input cut), and the trainer's own
//   step (finetune/step.ts serialStep: forward + backward + Adam on tail and softmax); default 224 px, batch 64;
// - extraction images/s: a TF.js backbone loaded as `tl embed --device webgpu` loads it (loadBackbone with
//   env.device), embedding batches of preprocessed images; the rung-3 network's forward (the trainer's tailFeatures);
//   and onnxruntime's webgpu execution provider on the int8 ONNX model (needs a Vulkan adapter).
// A software adapter (Mesa llvmpipe, when no GPU exists) is used only with --software, at small defaults, and every
// number it gives is labelled software: it tests the code path, it says nothing about a GPU.
// npm run bench:gpu -- [--size 224] [--batch 64] [--steps 3] [--extract-batch 64] [--extract-model ID] [--software] [--no-ort]
//   → a table on stdout, bench-results/gpu.json
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { findModel } from '../src/backbone/registry.js';
import { resolveModel } from '../src/backbone/resolve.js';
import { loadBackbone } from '../src/backbone/load.js';
import { loadNetwork, buildTrainableTail, trainingTf } from '../src/finetune/network.js';
import { tailFeatures } from '../src/finetune/finetuned-backbone.js';
import { serialStep, type ShardModel } from '../src/finetune/step.js';
import { openAdapter } from '../src/engine/webgpu/adapter.js';
import { env } from '../src/util/env.js';
import { benchArgs } from './args.js';

const args = benchArgs(
  'npm run bench:gpu -- [--size 224] [--batch 64] [--steps 3] [--extract-batch 64] [--extract-model ID] [--software] [--no-ort]\n' +
    '  --software: run on a software adapter when no GPU exists (defaults then: --size 64 --batch 4 --steps 1 --extract-batch 4 --extract-model mobilenet-v1-0.25)',
  { size: undefined, batch: undefined, steps: undefined, 'extract-batch': undefined, 'extract-model': undefined },
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
const extractModel = args['extract-model'] ?? (software ? 'mobilenet-v1-0.25' : 'mobilenet-v1-0.75');
const K = 10;
const adapterName = opened.summary.device || opened.summary.description || opened.summary.vendor;
const label = software
  ? `SOFTWARE adapter (${adapterName}): not GPU numbers`
  : `GPU: ${adapterName} (${opened.summary.vendor})`;
console.error(`adapter: ${label}`);

// The engine `tl train --device webgpu` trains on (a software adapter is only ever taken by an explicit webgpu).
const engine = await trainingTf('webgpu');
const { tf } = engine;
console.error(`engine: tfjs-${engine.backend}, device: ${engine.device}`);

/** Seconds per call of `f` after one warm-up call; `f` ends with an awaited read, so the GPU work is included. */
async function timeIt(f: () => Promise<void>, n: number): Promise<number> {
  await f();
  const t0 = performance.now();
  for (let i = 0; i < n; i++) await f();
  return (performance.now() - t0) / 1000 / n;
}
const seq = (n: number, f: (i: number) => number) => Float32Array.from({ length: n }, (_, i) => f(i));

// Rung 3: the trainer's step on every layer of MobileNetV2 from the input.
const net = await loadNetwork(findModel('mobilenet-v2'));
const tail = await buildTrainableTail(tf, net, net.inputCut, [size, size, 3]);
const D = tail.featureDim;
const m: ShardModel = {
  tf,
  tail,
  tailVars: [...tail.variables.values()],
  Wv: tf.variable(tf.randomNormal([K, D], 0, 0.01)),
  bv: tf.variable(tf.zeros([K])),
  meanT: tf.zeros([D]),
  stdT: tf.ones([D]),
  K,
};
const optHead = tf.train.adam(1e-3);
const optTail = tf.train.adam(1e-4);
const xs = seq(B * size * size * 3, (i) => Math.sin(0.0007 * i));
const ys = Int32Array.from({ length: B }, (_, i) => i % K);
const trainStep = async () => {
  const r = await serialStep(m, optHead, optTail, xs, ys, B, 0); // reads its loss: the GPU work is done
  tf.dispose([r.loss, r.correct]);
};
const trainRate = B / (await timeIt(trainStep, steps));
console.error(`train (rung 3, trainer step, ${size} px, batch ${B}): ${trainRate.toFixed(1)} img/s`);
optHead.dispose();
optTail.dispose();
tf.dispose([m.Wv, m.bv, m.meanT, m.stdT]);

// The same network forward only, as the trainer computes features (tailFeatures).
const acts = Array.from({ length: EB }, (_, k) => xs.subarray(0, size * size * 3).map((v) => v * (1 + k / EB)));
const rung3ForwardRate =
  EB / (await timeIt(async () => void (await tailFeatures(tf, tail, acts, EB)), Math.max(1, steps)));
console.error(`forward (MobileNetV2 converted, ${size} px, batch ${EB}): ${rung3ForwardRate.toFixed(1)} img/s`);
tail.dispose();

// Extraction as `tl embed --device webgpu` runs a TF.js backbone (at its own input size).
env.device = 'webgpu';
const backbone = await loadBackbone(extractModel);
const es = backbone.input.size;
const batch = Array.from({ length: EB }, (_, k) => seq(es * es * 3, (i) => Math.cos(0.0009 * i + k)));
const tfjsExtractRate = EB / (await timeIt(async () => void (await backbone.embed(batch)), Math.max(1, steps)));
console.error(
  `extract (${extractModel} on ${backbone.device}, ${es} px, batch ${EB}): ${tfjsExtractRate.toFixed(1)} img/s`,
);
await backbone.dispose();

// Extraction with onnxruntime's webgpu execution provider (its own Dawn; needs a Vulkan adapter, fixed 224 px).
let ortExtractRate: number | string = 'skipped (--no-ort)';
if (!args['no-ort']) {
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
    const msg = (e as Error).message;
    ortExtractRate = `unavailable: ${/Failed to get a WebGPU adapter[^\n]*/.exec(msg)?.[0] ?? msg.split('\n')[0].slice(-160)}`;
    console.error(`extract (onnxruntime webgpu EP): ${ortExtractRate}`);
  }
}

const fmt = (v: number | string) => (typeof v === 'number' ? `${v.toFixed(1)} img/s` : v);
const rows: [string, string][] = [
  [`rung-3 training, MobileNetV2 ${size} px, batch ${B} (trainer step, TF.js webgpu)`, fmt(trainRate)],
  [`rung-3 forward, MobileNetV2 ${size} px, batch ${EB} (TF.js webgpu)`, fmt(rung3ForwardRate)],
  [`extraction, ${extractModel} ${es} px, batch ${EB} (TF.js webgpu, tl embed --device webgpu)`, fmt(tfjsExtractRate)],
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
      settings: { size, batch: B, steps, extractBatch: EB, extractModel, extractSize: es },
      trainImagesPerSecond: trainRate,
      rung3ForwardImagesPerSecond: rung3ForwardRate,
      extractTfjsImagesPerSecond: tfjsExtractRate,
      extractOrtWebgpu: ortExtractRate,
    },
    null,
    2,
  ) + '\n',
);
console.log(`\nwrote ${out}`);
process.exit(0);
