// Backbone implementation on onnxruntime-node: the zoo's ONNX file, edited in memory to expose its features, run in
// a worker thread (onnx-session.ts).
import { readFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import type { InputTensorData, ModelEntry, PretrainedBackbone } from '../../types.js';
import { decodeModel, exposeFeatures, FEATURE_OUTPUT } from './graph.js';
import { DETECT_FROM_GRAPH, detectInGraph } from './detect.js';
import { softmaxRows } from '../../../util/math.js';
import { splitRows } from '../../../util/rows.js';
import { createSession, type OnnxSession } from './session.js';
import { checkFeatureWidth } from '../../feature-width.js';
import { env } from '../../../util/env.js';
import { TlError } from '../../../util/errors.js';

export class OnnxBackbone implements PretrainedBackbone {
  readonly id: string;
  readonly input;
  readonly featureDim: number;
  private constructor(
    readonly entry: ModelEntry,
    readonly weightsHash: string,
    private session: OnnxSession,
  ) {
    this.id = entry.id;
    this.input = entry.input;
    this.featureDim = entry.feature.dim;
  }

  /**
   * When a command asked for a GPU: why this model stays on the CPU (onnxruntime's webgpu provider needs a Vulkan
   * adapter, and --device applies to TF.js models). Absent when nothing else was asked for.
   */
  get device(): string | undefined {
    const asked = env.device;
    return asked && asked !== 'cpu'
      ? `cpu (${this.id} runs on onnxruntime's cpu provider: its webgpu provider needs a Vulkan adapter; --device applies to TF.js models)`
      : undefined;
  }

  static async load(
    entry: ModelEntry,
    dir: string,
    weightsHash: string,
    threads = availableParallelism(),
  ): Promise<OnnxBackbone> {
    const bytes = await readFile(join(dir, entry.entry));
    // A zoo entry that leaves its head output to detection (the file was not at hand when it was written).
    if (entry.head.output === DETECT_FROM_GRAPH) {
      const head = detectInGraph(decodeModel(bytes)).head;
      entry = {
        ...entry,
        head: { ...entry.head, output: head?.output ?? '', activation: head?.activation ?? 'logits' },
      };
    }
    const session = await createSession({ bytes: exposeFeatures(bytes, entry.feature), threads });
    return new OnnxBackbone(entry, weightsHash, session);
  }

  private feed(batch: InputTensorData[]): { data: Float32Array; dims: number[] } {
    const s = this.input.size;
    const per = s * s * 3;
    const data = new Float32Array(batch.length * per);
    batch.forEach((x, i) => data.set(x, i * per));
    return { data, dims: this.input.layout === 'NCHW' ? [batch.length, 3, s, s] : [batch.length, s, s, 3] };
  }

  async embed(batch: InputTensorData[]): Promise<Float32Array[]> {
    const { data, dims } = this.feed(batch);
    const [features] = await this.session.run(data, dims, [FEATURE_OUTPUT]);
    checkFeatureWidth(this.entry, features.data.length, batch.length);
    return splitRows(features.data, batch.length, this.featureDim);
  }

  async embedAndClassify(batch: InputTensorData[]) {
    if (!this.entry.head.output)
      throw new TlError(
        `model ${this.id} has no ImageNet classifier (it is a feature extractor)`,
        'Train a classifier on its features with `tl train`; `tl classify` needs a model with its ImageNet head.',
      );
    const { data, dims } = this.feed(batch);
    const [features, scores] = await this.session.run(data, dims, [FEATURE_OUTPUT, this.entry.head.output]);
    checkFeatureWidth(this.entry, features.data.length, batch.length);
    const probs = splitRows(scores.data, batch.length, scores.data.length / batch.length);
    return {
      features: splitRows(features.data, batch.length, this.featureDim),
      probabilities: this.entry.head.activation === 'logits' ? probs.map(softmaxRows) : probs,
    };
  }

  async dispose(): Promise<void> {
    await this.session.release();
  }
}
