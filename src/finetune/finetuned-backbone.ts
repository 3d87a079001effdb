// The fine-tuned network as a Backbone: frozen part → cut → trained tail → pooled features.
import type * as tfjs from '@tensorflow/tfjs';
import type { Backbone, InputSpec, InputTensorData, ModelEntry, VectorSpec } from '../backbone/types.js';
import type { CutBackbone, Network, TailSnapshot, TrainableTail } from '../backbone/runtimes/types.js';
import { sha256 } from '../util/hash.js';
import { splitRows } from '../util/rows.js';
import { buildTrainableTail, openCutBackbone } from './network.js';
import { assignTail, tailHash } from './tail-snapshot.js';
import { trainingTf } from './training-tf.js';

type TF = typeof tfjs;

export class FinetunedBackbone implements Backbone {
  readonly id: string;
  readonly input: InputSpec;
  readonly featureDim: number;
  readonly weightsHash: string;
  readonly entry: ModelEntry;
  readonly vectors: VectorSpec;
  private constructor(
    private tf: TF,
    readonly frozen: CutBackbone,
    readonly tail: TrainableTail,
    baseHash: string,
    tailDigest: string,
  ) {
    this.id = frozen.id;
    this.input = frozen.input;
    this.featureDim = tail.featureDim;
    this.entry = frozen.entry;
    this.vectors = { source: `${tail.cut}+tail`, encoding: 'f32' };
    // The cache key of the fine-tuned features: the base weights plus this exact tail.
    this.weightsHash = sha256(`${baseHash}\n${tailDigest}`);
  }

  static create(tf: TF, frozen: CutBackbone, tail: TrainableTail, snapshot: TailSnapshot): FinetunedBackbone {
    return new FinetunedBackbone(tf, frozen, tail, frozen.weightsHash, tailHash(snapshot));
  }

  /** Rebuild from a bundle's tail section. */
  static async restore(net: Network, snap: TailSnapshot): Promise<FinetunedBackbone> {
    const { tf } = await trainingTf();
    const frozen = await openCutBackbone(
      net,
      snap.cut,
      snap.imageSize === net.entry.input.size ? undefined : snap.imageSize,
    );
    const tail = await buildTrainableTail(tf, net, snap.cut, snap.inputShape, { replace: snap.replace });
    assignTail(tf, tail, snap.variables);
    return FinetunedBackbone.create(tf, frozen, tail, snap);
  }

  async embed(batch: InputTensorData[]): Promise<Float32Array[]> {
    const acts = await this.frozen.embed(batch);
    return tailFeatures(this.tf, this.tail, acts, this.tail.inferBatch ?? 32);
  }

  async dispose(): Promise<void> {
    this.tail.dispose();
    await this.frozen.dispose();
  }
}

/** Pooled features of the tail for cached activations (no gradients), in batches. Reads asynchronously (webgpu). */
export async function tailFeatures(
  tf: TF,
  tail: TrainableTail,
  acts: Float32Array[],
  batch = 64,
): Promise<Float32Array[]> {
  const [h, w, c] = tail.inputShape;
  const per = h * w * c;
  const out: Float32Array[] = [];
  for (let i = 0; i < acts.length; i += batch) {
    const n = Math.min(batch, acts.length - i);
    const data = new Float32Array(n * per);
    for (let j = 0; j < n; j++) data.set(acts[i + j], j * per);
    const f = tf.tidy(() => tail.apply(tf.tensor4d(data, [n, h, w, c])));
    out.push(...splitRows((await f.data()) as Float32Array, n, tail.featureDim));
    f.dispose();
  }
  return out;
}
