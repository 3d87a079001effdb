// Backbone implementation on onnxruntime-node: the zoo's ONNX file, edited in memory to expose its features.
import { readFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import ort from 'onnxruntime-node';
import type { Backbone, InputTensorData, ModelEntry } from './types.js';
import { exposeFeatures, FEATURE_OUTPUT } from './onnx-graph.js';
import { softmaxRows } from '../util/math.js';

export class OnnxBackbone implements Backbone {
  readonly id: string;
  readonly input;
  readonly featureDim: number;
  private constructor(
    readonly entry: ModelEntry,
    readonly weightsHash: string,
    private session: ort.InferenceSession,
    private inputName: string,
  ) {
    this.id = entry.id;
    this.input = entry.input;
    this.featureDim = entry.feature.dim;
  }

  static async load(entry: ModelEntry, dir: string, weightsHash: string, threads = availableParallelism()): Promise<OnnxBackbone> {
    const bytes = await readFile(join(dir, entry.entry));
    const edited = exposeFeatures(bytes, entry.feature);
    const session = await ort.InferenceSession.create(edited, {
      intraOpNumThreads: threads,
      interOpNumThreads: 1,
      graphOptimizationLevel: 'all',
      executionMode: 'sequential',
      // Spinning intra-op threads busy-wait between ops and steal the CPU that image decoding needs (2 cores here):
      // measured +15-25% end-to-end extraction throughput with spinning off.
      extra: { session: { intra_op: { allow_spinning: '0' } } },
    });
    return new OnnxBackbone(entry, weightsHash, session, session.inputNames[0]);
  }

  private feed(batch: InputTensorData[]): ort.Tensor {
    const s = this.input.size;
    const per = s * s * 3;
    const data = new Float32Array(batch.length * per);
    batch.forEach((x, i) => data.set(x, i * per));
    const dims = this.input.layout === 'NCHW' ? [batch.length, 3, s, s] : [batch.length, s, s, 3];
    return new ort.Tensor('float32', data, dims);
  }

  async embed(batch: InputTensorData[]): Promise<Float32Array[]> {
    const out = await this.session.run({ [this.inputName]: this.feed(batch) }, [FEATURE_OUTPUT]);
    return splitRows(out[FEATURE_OUTPUT].data as Float32Array, batch.length, this.featureDim);
  }

  async embedAndClassify(batch: InputTensorData[]) {
    const head = this.entry.head.output;
    const out = await this.session.run({ [this.inputName]: this.feed(batch) }, [FEATURE_OUTPUT, head]);
    const scores = out[head].data as Float32Array;
    const classes = scores.length / batch.length;
    const probs = splitRows(scores, batch.length, classes);
    return {
      features: splitRows(out[FEATURE_OUTPUT].data as Float32Array, batch.length, this.featureDim),
      probabilities: this.entry.head.activation === 'logits' ? probs.map(softmaxRows) : probs,
    };
  }

  async dispose(): Promise<void> {
    await this.session.release();
  }
}

export function splitRows(data: Float32Array, rows: number, cols: number): Float32Array[] {
  return Array.from({ length: rows }, (_, i) => data.slice(i * cols, (i + 1) * cols));
}
