// The top of the int8 MobileNetV2 (ONNX, QOperator) converted to TF.js float ops: the block list found by walking the
// graph, the converted tail reproducing onnxruntime's pooled features and ImageNet top-1 from the dequantized
// activation at a cut, and gradients flowing through it (a few SGD steps on a 2-class problem reduce the loss).
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { tfWasm } from '../../src/backbone/runtimes/tfjs/tfjs.js';
import { ZOO } from '../../src/backbone/zoo.js';
import { headSynsets } from '../../src/backbone/labels.js';
import { OnnxBackbone } from '../../src/backbone/runtimes/onnx/backbone.js';
import { preprocess } from '../../src/data/image.js';
import { buildTail, CutRunner, listCuts, type CutRun, type Tail } from '../../src/backbone/runtimes/onnx/tail/index.js';
import { DATASETS_DIR, MODELS_DIR } from '../helpers.js';

const entry = ZOO.find((e) => e.id === 'mobilenet-v2')!;
const MODEL_DIR = join(MODELS_DIR, entry.folder);
const VAL = join(DATASETS_DIR, 'imagenette/val');
const PER_CLASS = 5; // 10 classes → 50 images

let bytes: Uint8Array;
before(async () => {
  bytes = await readFile(join(MODEL_DIR, entry.entry));
  await tfWasm(); // forward passes run on wasm, the fast backend; the training tests switch to cpu
});

async function valFiles(perClass: number, classes?: string[]): Promise<{ path: string; wnid: string }[]> {
  const out: { path: string; wnid: string }[] = [];
  for (const wnid of classes ?? (await readdir(VAL)).sort()) {
    for (const f of (await readdir(join(VAL, wnid))).sort().slice(0, perClass))
      out.push({ path: join(VAL, wnid, f), wnid });
  }
  return out;
}

async function batch(paths: string[]): Promise<Float32Array> {
  const per = 3 * entry.input.size * entry.input.size;
  const data = new Float32Array(paths.length * per);
  (await Promise.all(paths.map((p) => preprocess(p, entry.input)))).forEach((x, i) => data.set(x, i * per));
  return data;
}

function argmaxRows(a: Float32Array | Int32Array | Uint8Array, cols: number): number[] {
  const out: number[] = [];
  for (let r = 0; r * cols < a.length; r++) {
    let b = 0;
    for (let j = 1; j < cols; j++) if (a[r * cols + j] > a[r * cols + b]) b = j;
    out.push(b);
  }
  return out;
}

function relL2(a: ArrayLike<number>, ref: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < ref.length; i++) {
    num += (a[i] - ref[i]) ** 2;
    den += ref[i] ** 2;
  }
  return Math.sqrt(num / den);
}

function maxAbs(a: ArrayLike<number>, ref: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < ref.length; i++) m = Math.max(m, Math.abs(a[i] - ref[i]));
  return m;
}

describe('onnx tail: block structure', () => {
  test('walking the graph finds the stem, 17 inverted-residual blocks, the head conv and the pooled features', () => {
    const s = listCuts(bytes);
    const kinds = s.cuts.map((c) => c.kind);
    assert.deepEqual(kinds, ['input', 'stem', ...Array(17).fill('block'), 'head-conv', 'pooled']);
    const byKind = (k: string) => s.cuts.filter((c) => c.kind === k);
    assert.deepEqual(byKind('stem')[0].shape, [32, 112, 112]);
    const blocks = byKind('block');
    assert.deepEqual(
      blocks.map((b) => b.shape[0]),
      [16, 24, 24, 32, 32, 32, 64, 64, 64, 64, 96, 96, 96, 160, 160, 160, 320],
    );
    assert.deepEqual(
      blocks.map((b) => b.shape[1]),
      [112, 56, 56, 28, 28, 28, 14, 14, 14, 14, 14, 14, 14, 7, 7, 7, 7],
    );
    // Residual blocks are exactly the ones whose input and output shapes agree (10 of them in MobileNetV2).
    assert.equal(blocks.filter((b) => b.label.includes('residual')).length, 10);
    assert.ok(
      blocks.every((b) => b.activation === 'linear'),
      'block outputs are linear bottlenecks',
    );
    assert.deepEqual(byKind('head-conv')[0].shape, [1280, 7, 7]);
    assert.equal(byKind('head-conv')[0].activation, 'relu');
    assert.deepEqual(byKind('pooled')[0].shape, [1280, 1, 1]);
    // Parameters: every conv weight + bias after the input, then the 1280x1000 classifier.
    assert.equal(
      s.cuts[0].tailParams,
      s.cuts.reduce((a, c) => a + c.blockParams, 0),
    );
    assert.equal(s.classifierParams, 1280 * 1000 + 1000);
    const last = blocks.at(-1)!;
    assert.equal(last.blockParams, 160 * 960 + 960 + 960 * 9 + 960 + 960 * 320 + 320);
    assert.equal(last.tailParams, 320 * 1280 + 1280);
    // The tail built at a cut has exactly the parameters the list promises.
    for (const c of [blocks.at(-2)!, blocks.at(-1)!]) {
      const tail = buildTail(bytes, c.tensor, tf);
      try {
        assert.equal(tail.params, c.tailParams);
      } finally {
        tail.dispose();
      }
    }
  });

  test('a tensor inside a residual block is refused as a cut', () => {
    const s = listCuts(bytes);
    const lastResidual = s.cuts.filter((c) => c.label.includes('residual')).at(-1)!;
    // The first conv of that block reads the block input, which the add still needs.
    const inner = s.graph.nodes.find((n) => n.name === lastResidual.nodes[0])!.output![0];
    assert.throws(() => buildTail(bytes, inner, tf), /not a block boundary|not computed after the cut/);
  });
});

describe('onnx tail: float conversion vs int8 onnxruntime', () => {
  let files: { path: string; wnid: string }[];
  let run: CutRun;
  let cuts: string[];
  let labels: string[];
  before(async () => {
    const s = listCuts(bytes);
    const blocks = s.cuts.filter((c) => c.kind === 'block');
    // The last 1, 2 and 3 blocks, and the head conv alone.
    cuts = [blocks.at(-2)!.tensor, blocks.at(-3)!.tensor, blocks.at(-4)!.tensor, blocks.at(-1)!.tensor];
    labels = cuts.map((t) => s.cuts.find((c) => c.tensor === t)!.label);
    files = await valFiles(PER_CLASS);
    const runner = await CutRunner.create(bytes, cuts, { feature: entry.feature });
    try {
      run = await runner.run(await batch(files.map((f) => f.path)), files.length, entry.input.size, { logits: true });
    } finally {
      await runner.dispose();
    }
  });

  test("the runner's tl_features are OnnxBackbone's", async () => {
    const b = await OnnxBackbone.load(entry, MODEL_DIR, 'test');
    try {
      const some = files.slice(0, 4);
      const f = await b.embed(await Promise.all(some.map((x) => preprocess(x.path, entry.input))));
      assert.deepEqual(
        Array.from(run.features!.subarray(0, 4 * 1280)),
        f.flatMap((r) => Array.from(r)),
      );
    } finally {
      await b.dispose();
    }
  });

  function compare(tail: Tail, cut: string) {
    const c = run.cuts[cut];
    const x = tf.tensor4d(c.data, c.shape);
    const f = tail.apply(x, false);
    const logits = tail.classify(f);
    const feat = f.dataSync() as Float32Array;
    const top1 = argmaxRows(logits.dataSync() as Float32Array, 1000);
    tf.dispose([x, f, logits]);
    const ortTop1 = argmaxRows(run.logits!, 1000);
    const synsets = headSynsets(entry.head);
    const truth = files.map((f) => synsets.indexOf(f.wnid));
    return {
      rel: relL2(feat, run.features!),
      max: maxAbs(feat, run.features!),
      agree: top1.filter((k, i) => k === ortTop1[i]).length / files.length,
      correct: top1.filter((k, i) => k === truth[i]).length,
      ortCorrect: ortTop1.filter((k, i) => k === truth[i]).length,
    };
  }

  for (const [i, depth] of [
    [0, 'last block'],
    [1, 'last 2 blocks'],
    [2, 'last 3 blocks'],
  ] as const) {
    test(`fake-quant tail after the ${depth} matches onnxruntime (rel L2 < 5%, top-1 agreement >= 90%)`, () => {
      const tail = buildTail(bytes, cuts[i], tf, { classifier: true, quantize: 'fake' });
      try {
        const r = compare(tail, cuts[i]);
        console.log(
          `# fake-quant ${labels[i]}: features rel L2 ${r.rel.toFixed(4)}, max abs ${r.max.toFixed(4)}; top-1 agreement ${(r.agree * 100).toFixed(0)}%; correct ${r.correct} vs int8 ${r.ortCorrect} of ${files.length}`,
        );
        assert.ok(r.rel < 0.05, `rel L2 ${r.rel}`);
        assert.ok(r.agree >= 0.9, `top-1 agreement ${r.agree}`);
      } finally {
        tail.dispose();
      }
    });

    test(`float tail after the ${depth} stays close to onnxruntime and is as accurate`, () => {
      const tail = buildTail(bytes, cuts[i], tf, { classifier: true });
      try {
        const r = compare(tail, cuts[i]);
        console.log(
          `# float ${labels[i]}: features rel L2 ${r.rel.toFixed(4)}, max abs ${r.max.toFixed(4)}; top-1 agreement ${(r.agree * 100).toFixed(0)}%; correct ${r.correct} vs int8 ${r.ortCorrect} of ${files.length}`,
        );
        // Without int8 rounding between layers the features drift from the int8 ones (the int8 model's own noise:
        // each requantization adds ~1-4% relative error); the classification does not.
        assert.ok(r.rel < (i === 0 ? 0.05 : 0.2), `rel L2 ${r.rel}`);
        assert.ok(r.agree >= 0.85, `top-1 agreement ${r.agree}`);
        assert.ok(r.correct >= r.ortCorrect - 2, `float tail correct ${r.correct} vs int8 ${r.ortCorrect}`);
      } finally {
        tail.dispose();
      }
    });
  }

  test('head conv only: float matches to within the pooled tensor’s int8 step', () => {
    const tail = buildTail(bytes, cuts[3], tf, { classifier: true });
    try {
      const r = compare(tail, cuts[3]);
      assert.ok(r.rel < 0.02, `rel L2 ${r.rel}`);
      assert.equal(r.agree, 1);
    } finally {
      tail.dispose();
    }
  });
});

describe('onnx tail: training', () => {
  // Three ways to run the same convolutions (see TailOptions.convImpl) must agree; the tail holds block 14's stride-2
  // depthwise conv, whose 'shifted' form subsamples by a rank-4 slice.
  test("convImpl 'matmul' and 'shifted' compute what tf.conv2d / tf.depthwiseConv2d do", () => {
    const s = listCuts(bytes);
    // After block 11: the tail holds block 14's stride-2 depthwise conv.
    const cut = s.cuts.filter((c) => c.kind === 'block')[10];
    const x = tf.randomUniform([2, cut.shape[1], cut.shape[2], cut.shape[0]], -1, 2, 'float32', 3) as tf.Tensor4D;
    const a = buildTail(bytes, cut.tensor, tf, { convImpl: 'native' });
    const b = buildTail(bytes, cut.tensor, tf, { convImpl: 'matmul' });
    const c = buildTail(bytes, cut.tensor, tf, { convImpl: 'shifted' });
    try {
      const ya = a.apply(x, false);
      const yb = b.apply(x, false);
      const yc = c.apply(x, false);
      assert.ok(maxAbs(yb.dataSync(), ya.dataSync()) < 1e-4);
      assert.ok(maxAbs(yc.dataSync(), ya.dataSync()) < 1e-4);
      assert.ok(maxAbs(ya.dataSync(), new Float32Array(ya.size)) > 0.1, 'the tail output is not trivially zero');
      tf.dispose([ya, yb, yc]);
    } finally {
      tf.dispose(x);
      a.dispose();
      b.dispose();
      c.dispose();
    }
  });

  for (const quantize of ['none', 'fake'] as const) {
    test(`SGD on the last block + head conv (${quantize}) changes its variables and reduces the loss`, async () => {
      const s = listCuts(bytes);
      const cut = s.cuts.filter((c) => c.kind === 'block').at(-2)!.tensor;
      // 2 classes x 4 images: tench vs. church.
      const files = await valFiles(4, ['n01440764', 'n03028079']);
      const runner = await CutRunner.create(bytes, [cut]);
      const r = await runner.run(await batch(files.map((f) => f.path)), files.length, entry.input.size);
      await runner.dispose();
      const tail = buildTail(bytes, cut, tf, { quantize });
      // A small random head: with a zero one no gradient would reach the tail on the first step.
      const head = tf.variable(tf.randomNormal([1280, 2], 0, 0.05, 'float32', 7), true, `test_head_${quantize}`);
      const x = tf.tensor4d(r.cuts[cut].data, r.cuts[cut].shape);
      const y = tf.oneHot(
        tf.tensor1d(
          files.map((f) => (f.wnid === 'n01440764' ? 0 : 1)),
          'int32',
        ),
        2,
      );
      const before = Object.fromEntries(Object.entries(tail.variables).map(([k, v]) => [k, v.clone()]));
      // Cross-entropy written out: tf.losses.softmaxCrossEntropy trips tfjs's kernel leak check under IS_TEST,
      // which tfWasm() turns on.
      const loss = () =>
        tf.tidy(() => {
          const logits = tf.matMul(tail.apply(x, true), head);
          const logp = tf.sub(logits, tf.logSumExp(logits, 1, true));
          return tf.neg(tf.mean(tf.sum(tf.mul(y, logp), 1))) as tf.Scalar;
        });
      const opt = tf.train.sgd(0.002);
      const varList = [...Object.values(tail.variables), head];
      try {
        // Gradients reach every tail variable.
        const { grads } = tf.variableGrads(loss, varList);
        for (const [k, g] of Object.entries(grads)) {
          const n = tf.norm(g).dataSync()[0];
          assert.ok(Number.isFinite(n), `gradient of ${k} is not finite`);
          if (k !== head.name) assert.ok(n > 0, `no gradient reaches ${k}`);
        }
        tf.dispose(Object.values(grads));
        const losses: number[] = [];
        for (let step = 0; step < 5; step++) {
          const l = opt.minimize(loss, true, varList)!;
          losses.push(l.dataSync()[0]);
          l.dispose();
        }
        const final = loss();
        losses.push(final.dataSync()[0]);
        final.dispose();
        console.log(`# ${quantize}: losses ${losses.map((v) => v.toFixed(4)).join(' ')}`);
        assert.ok(losses.at(-1)! < losses[0] * 0.9, `loss did not go down: ${losses.join(', ')}`);
        for (let i = 1; i < losses.length; i++)
          assert.ok(losses[i] < losses[i - 1], `loss went up at step ${i}: ${losses.join(', ')}`);
        for (const [k, v] of Object.entries(tail.variables)) {
          const d = tf.max(tf.abs(tf.sub(v, before[k]))).dataSync()[0];
          assert.ok(d > 0, `variable ${k} did not change`);
        }
      } finally {
        tf.dispose([x, y, head, ...Object.values(before)]);
        opt.dispose();
        tail.dispose();
      }
    });
  }
});
