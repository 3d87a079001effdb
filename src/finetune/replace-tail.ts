// New units instead of the pretrained ones after the cut: the same TF.js code on every runtime.
import type * as tfjs from '@tensorflow/tfjs';
import type { TrainableTail } from '../backbone/runtimes/types.js';
import { Rng } from '../util/random.js';
import { REPLACE_TAIL } from '../backbone/runtimes/registry.js';

/** 1x1 conv + ReLU per hidden size (He init from `seed`), then global average pooling. */
export function replaceTail(
  tf: typeof tfjs,
  cut: string,
  cutShape: [number, number, number],
  hidden: number[],
  seed: number,
): TrainableTail {
  const rng = new Rng(seed + 7919);
  const variables = new Map<string, tfjs.Variable>();
  let cin = cutShape[2];
  const layers: { w: tfjs.Variable; b: tfjs.Variable }[] = [];
  hidden.forEach((h, i) => {
    const std = Math.sqrt(2 / cin); // He init for ReLU
    const w = tf.variable(
      tf.tensor4d(
        Float32Array.from({ length: cin * h }, () => rng.normal() * std),
        [1, 1, cin, h],
      ),
      true,
      `tl_replace/conv${i}/kernel`,
    );
    const b = tf.variable(tf.zeros([h]), true, `tl_replace/conv${i}/bias`);
    variables.set(`conv${i}/kernel`, w);
    variables.set(`conv${i}/bias`, b);
    layers.push({ w, b });
    cin = h;
  });
  return {
    kind: REPLACE_TAIL.kind,
    cut,
    inputShape: cutShape,
    featureDim: cin,
    replace: hidden,
    variables,
    apply: (x) =>
      tf.tidy(() => {
        let y: tfjs.Tensor4D = x;
        for (const l of layers)
          y = tf.relu(tf.add(tf.conv2d(y, l.w as tfjs.Tensor4D, 1, 'valid'), l.b)) as tfjs.Tensor4D;
        return tf.mean(y, [1, 2]) as tfjs.Tensor2D;
      }),
    frozenWeights: async () => new Map(),
    dispose: () => variables.forEach((v) => v.dispose()),
  };
}
