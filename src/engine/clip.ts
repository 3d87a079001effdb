// clipByValue with a one-kernel gradient. tfjs differentiates clipByValue as
// where(logicalAnd(greaterEqual(x, lo), lessEqual(x, hi)), dy, zerosLike(dy)): five full-size kernels per clamp, which
// made the ReLU6 clamps of a converted MobileNetV2 ~30% of a whole-network training step on wasm. 'TlClipGrad' does
// the same in one pass (registered for 'wasm' by wasm-grad-kernels.ts and for 'cpu' here); same mask, same numbers.
import type * as TF from '@tensorflow/tfjs';

type Tf = typeof TF;

interface CpuBackend {
  data: { get(dataId: object): { values: Float32Array } };
  makeTensorInfo(shape: number[], dtype: TF.DataType, values: Float32Array): TF.TensorInfo;
}

function registerCpuClipGrad(tf: Tf): void {
  if (tf.getKernel('TlClipGrad', 'cpu')) return;
  tf.registerKernel({
    kernelName: 'TlClipGrad',
    backendName: 'cpu',
    kernelFunc: ({ inputs, backend, attrs }) => {
      const be = backend as unknown as CpuBackend;
      const { dy, x } = inputs as { dy: TF.TensorInfo; x: TF.TensorInfo };
      const { lo, hi } = attrs as unknown as { lo: number; hi: number };
      const xv = be.data.get(x.dataId).values;
      const dv = be.data.get(dy.dataId).values;
      const out = new Float32Array(dv.length);
      for (let i = 0; i < out.length; i++) out[i] = xv[i] >= lo && xv[i] <= hi ? dv[i] : 0;
      return be.makeTensorInfo(dy.shape, 'float32', out);
    },
  });
}

/**
 * A clamp to [lo, hi] whose gradient is one 'TlClipGrad' kernel. On a backend without it (neither wasm with
 * registerWasmGradKernels nor cpu), tf.clipByValue as is.
 */
export function clipWithFastGrad(tf: Tf, lo: number, hi: number): (x: TF.Tensor) => TF.Tensor {
  registerCpuClipGrad(tf);
  const clip = tf.customGrad(((x: TF.Tensor, save: TF.GradSaveFunc) => {
    save([x]);
    return {
      value: tf.clipByValue(x, lo, hi),
      gradFunc: (dy: TF.Tensor, saved: TF.Tensor[]) =>
        tf.engine().runKernel('TlClipGrad', { dy, x: saved[0] }, { lo, hi } as never) as TF.Tensor,
    };
  }) as unknown as Parameters<Tf['customGrad']>[0]) as (x: TF.Tensor) => TF.Tensor;
  return (x) => (tf.getKernel('TlClipGrad', tf.getBackend()) ? clip(x) : tf.clipByValue(x, lo, hi));
}
