#!/usr/bin/env node
// Micro-benchmark of the convolution-gradient kernels registered for the wasm backend
// (src/engine/wasm-grad-kernels.ts) on MobileNet-like shapes, against the cpu backend.
//
//   npm run bench:engine-kernels -- [--no-cpu] [--reps N]
//
// Each row times one kernel alone (ENGINE.runKernel with a precomputed dy), mean of N runs after a
// warm-up; the cpu backend runs once per kernel and is very slow (its Conv2DBackpropFilter takes
// ~60-80 s per call on the 1x1 rows; the whole cpu column takes many minutes, and it is skipped for
// the 224x224 row). Also prints the wasm backend's own
// Conv2DBackpropInput, which this module replaces.
import type * as TF from '@tensorflow/tfjs';
import { tfWasm } from '../src/backbone/runtimes/tfjs/tfjs.js';
import { registerWasmGradKernels } from '../src/engine/wasm-grad-kernels.js';
import { benchArgs } from './args.js';

type Shape4 = [number, number, number, number];
const args = benchArgs('npm run bench:engine-kernels -- [--no-cpu] [--reps 5]', { reps: '5' }, ['no-cpu']);
const withCpu = !args['no-cpu'];
const reps = Number(args.reps);

interface Config {
  label: string;
  depthwise: boolean;
  x: Shape4;
  cout: number;
  k: number;
  s: number;
  pad: 'same' | 'valid';
}
const configs: Config[] = [
  { label: '1x1 conv [32,7,7,160]->960', depthwise: false, x: [32, 7, 7, 160], cout: 960, k: 1, s: 1, pad: 'same' },
  { label: '1x1 conv [32,7,7,960]->160', depthwise: false, x: [32, 7, 7, 960], cout: 160, k: 1, s: 1, pad: 'same' },
  { label: '1x1 conv [32,14,14,96]->576', depthwise: false, x: [32, 14, 14, 96], cout: 576, k: 1, s: 1, pad: 'same' },
  { label: 'dw 3x3 [32,7,7,960] s1', depthwise: true, x: [32, 7, 7, 960], cout: 960, k: 3, s: 1, pad: 'same' },
  { label: 'dw 3x3 [32,14,14,576] s2', depthwise: true, x: [32, 14, 14, 576], cout: 576, k: 3, s: 2, pad: 'same' },
  { label: 'dw 3x3 [32,14,14,96] s2', depthwise: true, x: [32, 14, 14, 96], cout: 96, k: 3, s: 2, pad: 'same' },
  { label: '3x3 conv [32,14,14,96]->96 s2', depthwise: false, x: [32, 14, 14, 96], cout: 96, k: 3, s: 2, pad: 'same' },
  {
    label: '3x3 conv [32,224,224,3]->32 s2',
    depthwise: false,
    x: [32, 224, 224, 3],
    cout: 32,
    k: 3,
    s: 2,
    pad: 'same',
  },
];

function rand(n: number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = Math.random() * 2 - 1;
  return a;
}

async function timeKernel(
  tf: typeof TF,
  name: string,
  inputs: Record<string, TF.Tensor>,
  attrs: Record<string, unknown>,
  n: number,
): Promise<number> {
  const once = async () => {
    const r = tf.engine().runKernel(name, inputs as never, attrs as never) as TF.Tensor;
    await r.data();
    r.dispose();
  };
  await once();
  const t0 = performance.now();
  for (let i = 0; i < n; i++) await once();
  return (performance.now() - t0) / n;
}

async function measure(
  tf: typeof TF,
  backend: 'wasm' | 'cpu',
  c: Config,
  n: number,
): Promise<{ dx: number; dw: number }> {
  await tf.setBackend(backend);
  const wShape: Shape4 = c.depthwise ? [c.k, c.k, c.x[3], 1] : [c.k, c.k, c.x[3], c.cout];
  const size = (s: number[]) => s.reduce((a, b) => a * b, 1);
  const x = tf.tensor4d(rand(size(c.x)), c.x);
  const w = tf.tensor4d(rand(size(wShape)), wShape);
  const yShape = tf.tidy(
    () => (c.depthwise ? tf.depthwiseConv2d(x, w, c.s, c.pad) : tf.conv2d(x, w, c.s, c.pad)).shape,
  );
  const dy = tf.tensor(rand(size(yShape)), yShape);
  const common = { strides: [c.s, c.s], pad: c.pad, dimRoundingMode: undefined };
  let dx: number, dw: number;
  if (c.depthwise) {
    dx = await timeKernel(
      tf,
      'DepthwiseConv2dNativeBackpropInput',
      { dy, filter: w },
      { ...common, dilations: [1, 1], inputShape: c.x },
      n,
    );
    dw = await timeKernel(
      tf,
      'DepthwiseConv2dNativeBackpropFilter',
      { x, dy },
      { ...common, dilations: [1, 1], filterShape: wShape },
      n,
    );
  } else {
    dx = await timeKernel(
      tf,
      'Conv2DBackpropInput',
      { dy, filter: w },
      { ...common, dataFormat: 'NHWC', inputShape: c.x },
      n,
    );
    dw = await timeKernel(
      tf,
      'Conv2DBackpropFilter',
      { x, dy },
      { ...common, dataFormat: 'NHWC', filterShape: wShape },
      n,
    );
  }
  tf.dispose([x, w, dy]);
  return { dx, dw };
}

const tf = await tfWasm();
const nativeBackpropInput = tf.getKernel('Conv2DBackpropInput', 'wasm');
const f = (v: number | undefined) => (v == null ? '-' : v.toFixed(1)).padStart(8);
console.log(
  `${'shape'.padEnd(32)} ${'input-grad ms: wasm'.padStart(19)} ${'cpu'.padStart(8)} ${'wasm-native'.padStart(11)} | ${'filter-grad ms: wasm'.padStart(20)} ${'cpu'.padStart(8)}`,
);
for (const c of configs) {
  // The wasm backend's own (naive) Conv2DBackpropInput, for reference.
  let native: number | undefined;
  if (!c.depthwise) {
    registerWasmGradKernels(tf);
    tf.unregisterKernel('Conv2DBackpropInput', 'wasm');
    tf.registerKernel(nativeBackpropInput);
    native = (await measure(tf, 'wasm', c, Math.min(reps, 2))).dx;
    tf.unregisterKernel('Conv2DBackpropInput', 'wasm');
  }
  registerWasmGradKernels(tf);
  const w = await measure(tf, 'wasm', c, reps);
  const cpu = withCpu && c.x[1] < 100 ? await measure(tf, 'cpu', c, 1) : undefined;
  console.log(
    `${c.label.padEnd(32)} ${f(w.dx).padStart(19)} ${f(cpu?.dx)} ${f(native).padStart(11)} | ${f(w.dw).padStart(20)} ${f(cpu?.dw)}`,
  );
}
await tf.setBackend('wasm');
