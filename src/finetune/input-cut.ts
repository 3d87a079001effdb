// Freeze nothing: the "activation at the cut" is the preprocessed image itself, NHWC. The same for every runtime.
import type { InputSpec, InputTensorData } from '../backbone/types.js';
import type { CutBackbone, Network } from '../backbone/runtimes/types.js';

export function openInputCut(net: Network, input: InputSpec, weightsHash: string): CutBackbone {
  const s = input.size;
  const dim = s * s * 3;
  return {
    id: net.entry.id,
    input,
    weightsHash,
    vectors: { source: `input@${s}`, encoding: 'f16' },
    entry: net.entry,
    featureDim: dim,
    cutShape: [s, s, 3],
    async embed(batch: InputTensorData[]) {
      return batch.map((x) => (input.layout === 'NCHW' ? chwToHwc(x, s) : x.slice()));
    },
    async dispose() {},
  };
}

function chwToHwc(x: Float32Array, s: number): Float32Array {
  const out = new Float32Array(x.length);
  const hw = s * s;
  for (let c = 0; c < 3; c++) for (let i = 0; i < hw; i++) out[i * 3 + c] = x[c * hw + i];
  return out;
}
