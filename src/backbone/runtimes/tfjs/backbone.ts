// Backbone implementation on TF.js layers models (wasm backend), truncated at the feature layer.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type * as tfType from '@tensorflow/tfjs';
import type { InputTensorData, ModelEntry, PretrainedBackbone } from '../../types.js';
import { tfWasm } from './tfjs.js';
import { env } from '../../../util/env.js';
import { TlError } from '../../../util/errors.js';
import { softmaxRows } from '../../../util/math.js';
import { splitRows } from '../../../util/rows.js';
import { checkFeatureWidth } from '../../feature-width.js';

interface WeightsManifestGroup {
  paths: string[];
  weights: tfType.io.WeightsManifestEntry[];
}

/** Load a layers model from a folder (model.json + shards) without file:// support (that needs tfjs-node). */
export async function loadLayersModelFromDir(
  tf: typeof tfType,
  dir: string,
  entryFile = 'model.json',
): Promise<tfType.LayersModel> {
  const json = JSON.parse(await readFile(join(dir, entryFile), 'utf8'));
  const manifest: WeightsManifestGroup[] = json.weightsManifest;
  const weightSpecs = manifest.flatMap((g) => g.weights);
  const shards = await Promise.all(manifest.flatMap((g) => g.paths).map((p) => readFile(join(dir, p))));
  const all = Buffer.concat(shards);
  const weightData = all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength);
  // Old Keras-converter files keep the topology under modelTopology.model_config; fromMemory accepts either.
  return tf.loadLayersModel(tf.io.fromMemory({ modelTopology: json.modelTopology, weightSpecs, weightData }));
}

/**
 * TF.js for a whole model's forward passes: the wasm engine, or a GPU when env.device (TL_DEVICE, or a command's
 * --device) asks for webgpu, or auto and a hardware adapter exists. The GPU path loads only then.
 */
async function extractionTf(): Promise<{ tf: typeof tfType; device?: string }> {
  // wasm first in every case: a later first call of tfWasm() would switch TF.js's one active backend back to it.
  const tf = await tfWasm();
  const request = env.device;
  if (!request || request === 'cpu') return { tf };
  const { tfOnGpu } = await import('../../../engine/webgpu/tf-device.js');
  const gpu = await tfOnGpu(request, 'TL_DEVICE');
  return 'why' in gpu ? { tf, device: `cpu (wasm; auto: ${gpu.why})` } : gpu;
}

export class TfjsBackbone implements PretrainedBackbone {
  readonly id: string;
  readonly input;
  readonly featureDim: number;
  private constructor(
    readonly entry: ModelEntry,
    readonly weightsHash: string,
    private tf: typeof tfType,
    readonly full: tfType.LayersModel,
    private both: tfType.LayersModel,
    readonly device?: string,
  ) {
    this.id = entry.id;
    this.input = entry.input;
    this.featureDim = entry.feature.dim;
  }

  static async load(entry: ModelEntry, dir: string, weightsHash: string): Promise<TfjsBackbone> {
    const { tf, device } = await extractionTf();
    const full = await loadLayersModelFromDir(tf, dir, entry.entry);
    const layer = (name: string) => {
      try {
        return full.getLayer(name);
      } catch {
        throw new TlError(
          `TF.js model ${entry.id} has no layer "${name}"`,
          'List layers with `tl models info ID --layers`.',
        );
      }
    };
    let feat = layer(entry.feature.tensor).output as tfType.SymbolicTensor;
    if (entry.feature.pool === 'gap')
      feat = tf.layers.globalAveragePooling2d({ name: 'tl_gap' }).apply(feat) as tfType.SymbolicTensor;
    // A width the graph fixes is checked now; one it leaves open, on each forward pass (run).
    const width = feat.shape.slice(1);
    if (width.every((d) => typeof d === 'number')) {
      try {
        checkFeatureWidth(
          entry,
          width.reduce((a, b) => a! * b!, 1)!,
          1,
        );
      } catch (err) {
        full.dispose();
        throw err;
      }
    }
    const head = layer(entry.head.output).output as tfType.SymbolicTensor;
    const both = tf.model({ inputs: full.inputs, outputs: [feat, head] });
    return new TfjsBackbone(entry, weightsHash, tf, full, both, device);
  }

  private async run(
    batch: InputTensorData[],
    withHead: boolean,
  ): Promise<{ features: Float32Array[]; scores?: Float32Array[] }> {
    const tf = this.tf;
    const s = this.input.size;
    const per = s * s * 3;
    const data = new Float32Array(batch.length * per);
    batch.forEach((x, i) => data.set(x, i * per));
    const [f, h] = tf.tidy(() => {
      const x = tf.tensor4d(data, [batch.length, s, s, 3]);
      const [feat, head] = this.both.predict(x) as tfType.Tensor[];
      checkFeatureWidth(this.entry, feat.size, batch.length);
      return [
        feat.reshape([batch.length, this.featureDim]),
        withHead ? head.reshape([batch.length, -1]) : tf.scalar(0),
      ];
    });
    try {
      // Asynchronous reads: the webgpu backend cannot read synchronously under Node (same values on wasm).
      const features = splitRows((await f.data()) as Float32Array, batch.length, this.featureDim);
      const scores = withHead ? splitRows((await h.data()) as Float32Array, batch.length, h.shape[1]!) : undefined;
      return { features, scores };
    } finally {
      f.dispose();
      h.dispose();
    }
  }

  async embed(batch: InputTensorData[]): Promise<Float32Array[]> {
    return (await this.run(batch, false)).features;
  }

  async embedAndClassify(batch: InputTensorData[]) {
    const { features, scores } = await this.run(batch, true);
    const probabilities = this.entry.head.activation === 'logits' ? scores!.map(softmaxRows) : scores!;
    return { features, probabilities };
  }

  async dispose(): Promise<void> {
    // `both` shares every layer with `full`; disposing the owner frees the weights once.
    this.full.dispose();
  }
}
