// Runs an export folder in Node exactly as a deployment would (onnxruntime-node, or TF.js on wasm via
// tf.io.fromMemory), and measures it against the bundle on the bundle's validation images.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import '../backbone/runtimes/onnx/ort-env.js';
import ort from 'onnxruntime-node';
import type * as tfType from '@tensorflow/tfjs';
import { loadDataset } from '../data/dataset.js';
import { tfWasm } from '../backbone/runtimes/tfjs/tfjs.js';
import type { Classifier } from '../classifier/classifier.js';
import { TlError } from '../util/errors.js';
import { argmax } from '../util/math.js';
import { readSavedConfig } from '../classifier/saved-config.js';
import { inputSpecOf, readExportMetadata, type ExportMetadata } from './export.js';
import { tfjsArtifactsFromFiles } from './tfjs-export.js';
import { preprocessAsDocumented } from './outside-preprocess.js';

export interface ExportedModel {
  metadata: ExportMetadata;
  /** Class probabilities per image file, preprocessed as metadata.json says (by outside-preprocess.ts, not the toolkit's decoder). */
  predictFiles(paths: string[], batchSize?: number): Promise<Float32Array[]>;
  dispose(): Promise<void>;
}

export async function loadExport(dir: string): Promise<ExportedModel> {
  const metadata = await readExportMetadata(dir);
  const spec = inputSpecOf(metadata);
  const per = spec.size * spec.size * 3;
  const K = metadata.labels.length;
  const shape = (n: number) => (spec.layout === 'NCHW' ? [n, 3, spec.size, spec.size] : [n, spec.size, spec.size, 3]);
  let run: (x: Float32Array, n: number) => Promise<Float32Array>;
  let dispose: () => Promise<void>;
  if (metadata.runtime === 'onnx') {
    const session = await ort.InferenceSession.create(join(dir, metadata.model), { graphOptimizationLevel: 'all' });
    run = async (x, n) =>
      (
        await session.run({ [metadata.input.name]: new ort.Tensor('float32', x, shape(n)) }, [
          metadata.outputs.probabilities.name,
        ])
      )[metadata.outputs.probabilities.name].data as Float32Array;
    dispose = async () => void (await session.release());
  } else {
    const tf = await tfWasm();
    const json = JSON.parse(await readFile(join(dir, metadata.model), 'utf8'));
    const weights = await readFile(join(dir, json.weightsManifest[0].paths[0]));
    const model = await tf.loadLayersModel(tf.io.fromMemory(tfjsArtifactsFromFiles(json, weights)));
    run = async (x, n) => {
      const y = tf.tidy(
        () => model.predict(tf.tensor4d(x, shape(n) as [number, number, number, number])) as tfType.Tensor,
      );
      try {
        return (await y.data()) as Float32Array;
      } finally {
        y.dispose();
      }
    };
    dispose = async () => void model.dispose();
  }
  return {
    metadata,
    async predictFiles(paths, batchSize = 16) {
      const out: Float32Array[] = [];
      for (let i = 0; i < paths.length; i += batchSize) {
        const batch = paths.slice(i, i + batchSize);
        const x = new Float32Array(batch.length * per);
        const inputs = await Promise.all(batch.map((p) => preprocessAsDocumented(p, metadata.input)));
        inputs.forEach((t, j) => x.set(t, j * per));
        const y = await run(x, batch.length);
        for (let j = 0; j < batch.length; j++) out.push(y.slice(j * K, (j + 1) * K));
      }
      return out;
    },
    dispose,
  };
}

export interface ExportCheck {
  images: number;
  /** Accuracy of the bundle (what `tl predict` gives) and of the export, on the same images. */
  bundleAccuracy: number;
  exportAccuracy: number;
  /** Share of images where the export's top-1 equals the bundle's. */
  top1Agreement: number;
  /** Largest absolute difference of any class probability. */
  maxProbDiff: number;
  source: string;
}

/** Validation images of the data the bundle was trained on (from classifier.json's config), or a reason why not. */
export function validationImages(
  clf: Classifier,
  limit?: number,
): { images: { path: string; label: string }[]; source: string } | { reason: string } {
  const cfg = readSavedConfig(clf.data.config);
  if (!cfg.data) return { reason: 'the bundle does not record its training data' };
  let ds;
  try {
    // A random split is re-drawn with the recorded seed (and the default --val fraction).
    ds = loadDataset(cfg.data, { seed: cfg.seed });
  } catch (err) {
    return { reason: `its training data ${cfg.data} is not readable here (${(err as Error).message})` };
  }
  const val = ds.val.filter((x) => clf.labels.includes(x.label));
  if (!val.length) return { reason: `no validation images in ${cfg.data}` };
  // An even spread over the (class-sorted) list when limited, so every class is represented.
  const pick =
    limit && limit < val.length
      ? Array.from({ length: limit }, (_, i) => val[Math.floor((i * val.length) / limit)])
      : val;
  return {
    images: pick,
    source: `${cfg.data} (${cfg.split === 'random' ? 'seeded split' : 'val split'}, ${pick.length} images)`,
  };
}

/** Compares the export with the bundle on the bundle's validation images. */
export async function checkExport(
  clf: Classifier,
  dir: string,
  opts: { limit?: number } = {},
): Promise<ExportCheck | { reason: string }> {
  const v = validationImages(clf, opts.limit);
  if ('reason' in v) return v;
  const paths = v.images.map((x) => x.path);
  const K = clf.labels.length;
  const { predictions } = await clf.predictFiles(paths, { top: K, store: null });
  const byPath = new Map(predictions.map((p) => [p.path, p]));
  const exported = await loadExport(dir);
  let probs: Float32Array[];
  try {
    probs = await exported.predictFiles(paths);
  } finally {
    await exported.dispose();
  }
  let agree = 0;
  let okBundle = 0;
  let okExport = 0;
  let maxDiff = 0;
  let n = 0;
  v.images.forEach((img, i) => {
    const ref = byPath.get(img.path);
    if (!ref) return; // unreadable: skipped by both
    n++;
    const refProbs = new Float32Array(K);
    for (const t of ref.top) refProbs[clf.labels.indexOf(t.label)] = t.probability;
    const p = probs[i];
    const best = argmax(p);
    for (let k = 0; k < K; k++) maxDiff = Math.max(maxDiff, Math.abs(p[k] - refProbs[k]));
    if (clf.labels[best] === ref.label) agree++;
    if (ref.label === img.label) okBundle++;
    if (clf.labels[best] === img.label) okExport++;
  });
  if (!n) throw new TlError('no validation image could be read');
  return {
    images: n,
    bundleAccuracy: okBundle / n,
    exportAccuracy: okExport / n,
    top1Agreement: agree / n,
    maxProbDiff: maxDiff,
    source: v.source,
  };
}
