// Where the time of one whole-network training step goes (rung 3: the int8 MobileNetV2 converted to float TF.js ops,
// cut at the input): tf.profile of one forward+backward+Adam step, kernel times summed by kernel name.
// node --import tsx bench/profile-full-step.ts [--batch 4] [--size 224] [--model mobilenet-v2]
import type * as tfjs from '@tensorflow/tfjs';
import { findModel } from '../src/backbone/registry.js';
import { loadNetwork, buildTrainableTail, trainingTf } from '../src/finetune/network.js';

const args = process.argv.slice(2);
const arg = (n: string, d: string) => (args.includes(`--${n}`) ? args[args.indexOf(`--${n}`) + 1] : d);
const B = Number(arg('batch', '4'));
const { tf } = await trainingTf();
const net = await loadNetwork(findModel(arg('model', 'mobilenet-v2')));
const size = Number(arg('size', String(net.entry.input.size)));
const tail = await buildTrainableTail(tf, net, net.inputCut, [size, size, 3]);
const K = 10;
const W = tf.variable(tf.randomNormal([tail.featureDim, K], 0, 0.01));
const vars = [...tail.variables.values(), W];
const opt = tf.train.adam(1e-4);
const x = tf.randomNormal([B, size, size, 3]) as tfjs.Tensor4D;
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
      const logits = tf.matMul(tail.apply(x), W);
      return tf.neg(tf.mean(tf.sum(tf.mul(y, tf.sub(logits, tf.logSumExp(logits, 1, true))), 1))) as tfjs.Scalar;
    }, vars);
    opt.applyGradients(grads as never);
    value.dataSync();
  });
step();
const t0 = performance.now();
const info = await tf.profile(step);
const wall = performance.now() - t0;
const byName = new Map<string, { ms: number; n: number }>();
for (const k of info.kernels) {
  const e = byName.get(k.name) ?? { ms: 0, n: 0 };
  e.ms += Number(k.kernelTimeMs) || 0;
  e.n++;
  byName.set(k.name, e);
}
const total = [...byName.values()].reduce((a, e) => a + e.ms, 0);
console.log(
  `batch ${B} at ${size}px: step ${wall.toFixed(0)} ms wall, ${total.toFixed(0)} ms in kernels, peak ${(info.peakBytes / 2 ** 20).toFixed(0)} MiB`,
);
for (const [name, e] of [...byName].sort((a, b) => b[1].ms - a[1].ms).slice(0, 25)) {
  console.log(
    `${name.padEnd(40)} ${e.ms.toFixed(0).padStart(7)} ms ${((100 * e.ms) / total).toFixed(1).padStart(5)}%  x${e.n}`,
  );
}
// Which shapes a kernel runs on (e.g. --shapes Identity), largest first.
const shapesOf = arg('shapes', '');
if (shapesOf) {
  const ks = info.kernels
    .filter((k) => k.name === shapesOf)
    .sort((a, b) => Number(b.kernelTimeMs) - Number(a.kernelTimeMs));
  for (const k of ks.slice(0, 12))
    console.log(
      `${shapesOf} ${JSON.stringify(k.inputShapes)} -> ${JSON.stringify(k.outputShapes)} ${Number(k.kernelTimeMs).toFixed(1)} ms`,
    );
}
