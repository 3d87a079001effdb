// The GPU path (issue 16) on whatever WebGPU adapter this machine has; on CI that is Mesa's software OpenGL ES
// (llvmpipe), slow but exact enough. Checks: the adapter is found and classified (auto never takes a software one);
// the gradient of every op the rung-2/3 networks use agrees with TF.js's cpu backend; and the gradients of one
// real step of MobileNetV2's converted top blocks (the rung-2/3 tail) on webgpu equal those on wasm.
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type * as tfjs from '@tensorflow/tfjs';
import { openAdapter, isSoftwareAdapter, type OpenedAdapter } from '../../src/engine/webgpu/adapter.js';
import { resolveDevice } from '../../src/engine/webgpu/device.js';
import { tfWebgpu } from '../../src/engine/webgpu/tf-webgpu.js';
import { trainingTf } from '../../src/finetune/training-tf.js';
import { findModel } from '../../src/backbone/registry.js';
import { loadNetwork, resolveFreeze, buildTrainableTail } from '../../src/finetune/network.js';

type TF = typeof tfjs;
let opened: OpenedAdapter | undefined;
before(async () => {
  opened = await openAdapter({ allowSoftware: true });
});
const NO_ADAPTER = 'no WebGPU adapter here (CI installs Mesa: libegl1 libgles2 libegl-mesa0 libgl1-mesa-dri)';

/** Largest |a-b| relative to the largest |a| (gradients span orders of magnitude across ops). */
function relDiff(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let d = 0;
  let m = 1e-6;
  for (let i = 0; i < a.length; i++) {
    d = Math.max(d, Math.abs(a[i] - b[i]));
    m = Math.max(m, Math.abs(a[i]));
  }
  return d / m;
}

const seq = (n: number, f: (i: number) => number) => Float32Array.from({ length: n }, (_, i) => f(i));

/** Each op (or op chain) of the rung-2/3 networks and their loss, as a function of its inputs. */
const OPS: { name: string; shapes: number[][]; f: (tf: TF, xs: tfjs.Tensor[]) => tfjs.Tensor }[] = [
  {
    name: 'conv2d 3x3 stride 2 same (stem)',
    shapes: [
      [2, 9, 9, 3],
      [3, 3, 3, 8],
    ],
    f: (tf, [x, w]) => tf.conv2d(x as tfjs.Tensor4D, w as tfjs.Tensor4D, 2, 'same'),
  },
  {
    name: 'pad + conv2d 3x3 valid',
    shapes: [
      [1, 6, 6, 4],
      [3, 3, 4, 5],
    ],
    f: (tf, [x, w]) =>
      tf.conv2d(
        tf.pad(x, [
          [0, 0],
          [1, 1],
          [1, 1],
          [0, 0],
        ]) as tfjs.Tensor4D,
        w as tfjs.Tensor4D,
        1,
        'valid',
      ),
  },
  {
    name: 'conv2d 1x1 as matMul (pointwise)',
    shapes: [
      [12, 8],
      [8, 6],
    ],
    f: (tf, [x, w]) => tf.matMul(x as tfjs.Tensor2D, w as tfjs.Tensor2D),
  },
  {
    name: 'fused conv2d + bias + relu6 (TF.js layers)',
    shapes: [[2, 7, 7, 4], [1, 1, 4, 6], [6]],
    f: (tf, [x, w, b]) =>
      tf.fused.conv2d({
        x: x as tfjs.Tensor4D,
        filter: w as tfjs.Tensor4D,
        bias: b,
        activation: 'relu6',
        strides: 1,
        pad: 'same',
      }),
  },
  {
    name: 'depthwiseConv2d 3x3 stride 1',
    shapes: [
      [2, 7, 7, 6],
      [3, 3, 6, 1],
    ],
    f: (tf, [x, w]) => tf.depthwiseConv2d(x as tfjs.Tensor4D, w as tfjs.Tensor4D, 1, 'same'),
  },
  {
    name: 'depthwiseConv2d 3x3 stride 2',
    shapes: [
      [1, 8, 8, 4],
      [3, 3, 4, 1],
    ],
    f: (tf, [x, w]) => tf.depthwiseConv2d(x as tfjs.Tensor4D, w as tfjs.Tensor4D, 2, 'same'),
  },
  {
    name: 'batchNorm (frozen statistics) + relu',
    shapes: [[2, 5, 5, 4], [4], [4]],
    f: (tf, [x, s, o]) => tf.relu(tf.batchNorm(x, tf.zeros([4]).add(0.1), tf.ones([4]).mul(1.5), o, s, 1e-3)),
  },
  {
    name: 'clipByValue (ReLU6) + residual add',
    shapes: [
      [2, 4, 4, 3],
      [2, 4, 4, 3],
    ],
    f: (tf, [x, y]) => tf.add(tf.clipByValue(tf.mul(x, 8), 0, 6), y),
  },
  {
    name: 'slice + global average pool (mean over H, W)',
    shapes: [[2, 5, 5, 6]],
    f: (tf, [x]) => tf.mean(tf.slice(x, [0, 1, 1, 0], [2, 3, 3, 6]), [1, 2]),
  },
  {
    name: 'standardize + head matMul(transposeB) + log-softmax CE',
    shapes: [[4, 6], [3, 6], [3]],
    f: (tf, [z, W, b]) => {
      const logits = tf.add(tf.matMul(tf.div(tf.sub(z, 0.1), 1.3), W, false, true), b);
      const oneHot = tf.oneHot(tf.tensor1d([0, 2, 1, 2], 'int32'), 3);
      return tf.neg(tf.sum(tf.mul(oneHot, tf.sub(logits, tf.logSumExp(logits, 1, true))), 1));
    },
  },
];

async function opGrads(tf: TF, op: (typeof OPS)[number]): Promise<Float32Array[]> {
  const xs = op.shapes.map((s, k) =>
    tf.tensor(
      seq(
        s.reduce((a, b) => a * b, 1),
        (i) => Math.sin(1.7 * i + k),
      ),
      s,
    ),
  );
  // A loss that weights every output differently, so a transposed or shifted gradient cannot pass.
  const gs = tf.grads((...ins: tfjs.Tensor[]) => {
    const y = op.f(tf, ins);
    return tf.sum(
      tf.mul(
        y,
        tf.tensor(
          seq(y.size, (i) => Math.cos(0.37 * i)),
          y.shape,
        ),
      ),
    );
  })(xs);
  const out: Float32Array[] = [];
  for (const g of gs) out.push((await g.data()) as Float32Array);
  tf.dispose([...xs, ...gs]);
  return out;
}

describe('webgpu (issue 16)', () => {
  test('an adapter is found and classified; auto never picks a software adapter', async (t) => {
    if (!opened) return t.skip(NO_ADAPTER);
    const s = opened.summary;
    t.diagnostic(`adapter: ${s.device || s.description} (${s.backend}, ${s.software ? 'software' : 'hardware'})`);
    assert.equal(isSoftwareAdapter({ device: 'llvmpipe (LLVM 15.0.6, 256 bits)' }), true);
    assert.equal(isSoftwareAdapter({ vendor: 'nvidia', device: 'NVIDIA H100' }), false);
    assert.equal(isSoftwareAdapter({ vendor: 'nvidia', isFallbackAdapter: true }), true);
    const auto = await resolveDevice('auto');
    assert.equal(auto.kind, s.software ? 'cpu' : 'webgpu');
    assert.equal((await resolveDevice('cpu')).kind, 'cpu');
    const gpu = await resolveDevice('webgpu');
    assert.equal(gpu.kind, 'webgpu');
  });

  test('gradients of every rung-2/3 op agree with the cpu backend', async (t) => {
    if (!opened) return t.skip(NO_ADAPTER);
    const tf = await import('@tensorflow/tfjs');
    tf.env().set('IS_TEST', true); // no "use tfjs-node" banner
    await tf.setBackend('cpu');
    const cpu = [];
    for (const op of OPS) cpu.push(await opGrads(tf, op));
    await tfWebgpu(opened);
    assert.equal(tf.getBackend(), 'webgpu');
    let worst = 0;
    for (const [k, op] of OPS.entries()) {
      const gpu = await opGrads(tf, op);
      assert.equal(gpu.length, op.shapes.length);
      gpu.forEach((g, i) => {
        worst = Math.max(worst, relDiff(cpu[k][i], g));
        assert.ok(relDiff(cpu[k][i], g) < 1e-4, `${op.name}: input ${i} differs by ${relDiff(cpu[k][i], g)}`);
      });
    }
    t.diagnostic(`${OPS.length} ops, worst relative gradient difference ${worst.toExponential(2)}`);
  });

  test("one step of MobileNetV2's top blocks: gradients on webgpu equal those on wasm", async (t) => {
    if (!opened) return t.skip(NO_ADAPTER);
    const { tf } = await trainingTf();
    await tf.setBackend('wasm'); // trainingTf() chose it once; the test before left webgpu active
    const net = await loadNetwork(findModel('mobilenet-v2'));
    const { cut, trainable } = resolveFreeze(net, { trainLast: 2 });
    const shape = net.units[net.units.length - 3].shape;
    const tail = await buildTrainableTail(tf, net, cut, shape);
    const vars = [...tail.variables.values()];
    const n = 2;
    const x = seq(n * shape[0] * shape[1] * shape[2], (i) => Math.max(0, Math.sin(0.013 * i)) * 3);
    const step = async (): Promise<{ loss: number; grads: Float32Array[] }> => {
      const xt = tf.tensor4d(x, [n, ...shape]);
      const { value, grads } = tf.variableGrads(() => tf.mean(tf.square(tail.apply(xt))) as tfjs.Scalar, vars);
      const out = { loss: (await value.data())[0], grads: [] as Float32Array[] };
      for (const v of vars) out.grads.push((await grads[v.name].data()) as Float32Array);
      tf.dispose([xt, value, ...Object.values(grads)]);
      return out;
    };
    assert.equal(tf.getBackend(), 'wasm');
    const onWasm = await step();
    await tfWebgpu(opened);
    assert.equal(tf.getBackend(), 'webgpu');
    const onGpu = await step();
    const worst = Math.max(...onWasm.grads.map((g, i) => relDiff(g, onGpu.grads[i])));
    t.diagnostic(
      `${trainable.length} blocks, ${vars.length} variables; loss wasm ${onWasm.loss} webgpu ${onGpu.loss}; worst relative gradient difference ${worst.toExponential(2)}`,
    );
    assert.ok(Math.abs(onWasm.loss - onGpu.loss) / onWasm.loss < 1e-4);
    onWasm.grads.forEach((g, i) =>
      assert.ok(relDiff(g, onGpu.grads[i]) < 1e-3, `${vars[i].name}: ${relDiff(g, onGpu.grads[i])}`),
    );
    tail.dispose();
  });
});
