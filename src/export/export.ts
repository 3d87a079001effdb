// `tl export`: a trained classifier bundle → one deployable model (ONNX or TF.js layers) + metadata.json describing
// how to feed it and read it, + the unknown detector's reference vectors. Optionally measured on the bundle's
// validation images against the bundle itself (what `tl predict` computes).
import { readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type * as tfType from '@tensorflow/tfjs';
import { Classifier } from '../classifier/classifier.js';
import { runtimeFor } from '../backbone/runtimes/registry.js';
import { fusedExportError } from '../backbone/fused.js';
import type { InputSpec } from '../backbone/types.js';
import { documentedPreprocessing } from './preprocessing-doc.js';
import { tfWasm } from '../backbone/runtimes/tfjs/tfjs.js';
import { TlError } from '../util/errors.js';
import { VERSION } from '../util/version.js';
import { exportOnnxFromOnnxBackbone, exportOnnxFromTfjsBackbone } from './onnx/export.js';
import { checkOnnxModel } from './onnx/check.js';
import { FEATURES_OUTPUT, PROBABILITIES_OUTPUT, type WeightQuantization } from './onnx/head.js';
import { buildTfjsClassifier, buildTfjsReplaceClassifier, saveTfjsModel, TFJS_WEIGHTS_FILE } from './tfjs-export.js';
import { exportOnnxFinetuned, finetunedInput, writeTailWeights } from './finetuned-export.js';

import { checkExportTarget, EXPORT_FORMAT, writeExportDir } from './export-dir.js';

export { EXPORT_FORMAT };
export type ExportFormat = 'onnx' | 'tfjs';
export const EXPORT_VERSION = 1;
export const UNKNOWN_REFERENCES_FILE = 'unknown-references.bin';

export interface ExportOptions {
  format: ExportFormat;
  /**
   * Output folder: created, or replaced as a whole once the new export is complete when it holds a previous export
   * (anything else there is refused; see export-dir.ts).
   */
  out: string;
  quantize?: WeightQuantization;
  /** ONNX only: also output the feature vector `features` (default true). */
  features?: boolean;
}

export interface ExportMetadata {
  format: typeof EXPORT_FORMAT;
  version: number;
  runtime: ExportFormat;
  /** The model file in this folder: model.onnx, or model.json (+ weights.bin). */
  model: string;
  /** Class labels in output order. */
  labels: string[];
  input: {
    name: string;
    dtype: 'float32';
    /** null = any batch size. */
    shape: (number | null)[];
    layout: 'NCHW' | 'NHWC';
    size: number;
    /** 'cover': resize the shorter side to round(size / cropFraction), then centre crop size x size. 'fill': stretch. */
    resize: 'cover' | 'fill';
    cropFraction: number;
    /** round(size / cropFraction): the shorter side after a 'cover' resize, both sides after 'fill'. */
    resizeTo: number;
    /** Resampling kernel of the resize (sharp/libvips name; JPEGs may be decoded at 1/2, 1/4 or 1/8 scale first). */
    resizeKernel: string;
    /** Where the size x size crop sits in the resized image, as formulas of the resized width and height. */
    crop: { left: string; top: string };
    /** The whole rule, step by step, exactly as `tl predict` applies it. */
    preprocessing: string[];
    /** RGB, per channel: x = (pixel / 255 - mean) / std. */
    mean: [number, number, number];
    std: [number, number, number];
    channels: 'RGB';
  };
  outputs: {
    probabilities: { name: string; shape: (number | null)[] };
    /** The backbone feature vector the unknown check uses: an ONNX output, or the input of a TF.js layer. */
    features: { name: string; shape: (number | null)[]; how: string } | null;
  };
  unknown: {
    method: 'knn-cosine' | 'nearest-cosine' | 'centroid-cosine';
    /**
     * Flag an image as unknown when its distance exceeds this: the mean cosine distance (1 - cos) to its `k` nearest
     * reference rows (k absent: 1, the nearest row).
     */
    threshold: number;
    k?: number;
    falseUnknownRate: number;
    dim: number;
    /** float32 little-endian, rows x dim, L2-normalized. */
    references: { file: string; rows: number };
  };
  quantize: WeightQuantization;
  source: {
    backbone: string;
    weightsHash: string;
    head: string;
    /** Fine-tuned bundles: the trained tail the model carries (after the frozen part up to `cut`), at `imageSize` px. */
    tail?: { kind: string; cut: string; imageSize: number; replace?: number[]; variables: number; params: number };
    bundleCreatedAt: string;
    bundleToolkitVersion: string;
  };
  toolkitVersion: string;
  exportedAt: string;
  opset?: number;
}

export interface ExportResult {
  dir: string;
  metadata: ExportMetadata;
  /** Files written with their sizes in bytes. */
  files: { name: string; bytes: number }[];
  /** ONNX only: structural check problems (empty = well formed). */
  problems: string[];
}

export async function exportClassifier(bundleDir: string, opts: ExportOptions): Promise<ExportResult> {
  const clf = await Classifier.load(bundleDir);
  try {
    return await exportLoaded(clf, opts);
  } finally {
    await clf.dispose();
  }
}

export async function exportLoaded(clf: Classifier, opts: ExportOptions): Promise<ExportResult> {
  const data = clf.data;
  const entry = clf.backbone.entry;
  if (entry.parts) throw fusedExportError(entry.id);
  const quantize = opts.quantize ?? 'none';
  const dir = resolve(opts.out);
  // Refused before any work; checked again just before the swap.
  await checkExportTarget(dir);
  // Built in memory, then written as one folder (writeExportDir).
  const pending: { name: string; bytes: Uint8Array | string }[] = [];
  const put = async (name: string, bytes: Uint8Array | string) => void pending.push({ name, bytes });
  const K = data.labels.length;
  const headDesc = data.head.layers.map((l) => `${l.inputs}→${l.outputs} ${l.activation}`).join(', ');
  let problems: string[] = [];
  let input: ExportMetadata['input'];
  let outputs: ExportMetadata['outputs'];
  let model: string;
  let opset: number | undefined;
  const tail = data.tail;
  // A fine-tuned bundle: the frozen part + its trained tail (finetuned-export.ts), at the size the tail trained at.
  const spec = tail ? finetunedInput(entry, tail) : entry.input;
  const featureDim = tail ? tail.featureDim : entry.feature.dim;
  const metaProps = { labels: JSON.stringify(data.labels), backbone: entry.id, 'tl.metadata': 'metadata.json' };

  if (opts.format === 'onnx') {
    let out;
    if (tail) {
      out = await exportOnnxFinetuned(entry, tail, data.head, K, {
        quantize,
        features: opts.features,
        metadata: metaProps,
      });
    } else {
      // What the backbone's runtime hands over: ONNX graph bytes or a TF.js layers model (not which runtime it was).
      const graph = await runtimeFor(entry.format).exportGraph(entry, clf.backbone);
      out =
        graph.kind === 'onnx'
          ? exportOnnxFromOnnxBackbone(graph.bytes, entry, data.head, K, {
              quantize,
              features: opts.features,
              metadata: metaProps,
            })
          : exportOnnxFromTfjsBackbone(graph.model, entry, data.head, K, {
              quantize,
              features: opts.features,
              metadata: metaProps,
            });
    }
    problems = checkOnnxModel(out.bytes);
    if (problems.length)
      throw new TlError(
        `the exported ONNX graph is malformed: ${problems.slice(0, 3).join('; ')}`,
        "Please report this with the bundle's classifier.json.",
      );
    model = 'model.onnx';
    await put(model, out.bytes);
    opset = out.opset;
    input = inputMeta(out.inputName, spec, 'NCHW');
    outputs = {
      probabilities: { name: PROBABILITIES_OUTPUT, shape: [null, K] },
      features:
        opts.features === false
          ? null
          : { name: FEATURES_OUTPUT, shape: [null, featureDim], how: `second graph output "${FEATURES_OUTPUT}"` },
    };
  } else {
    // A fine-tuned tail gets a fresh copy of the backbone at the size it trained at (the export owns it).
    const graph = await runtimeFor(entry.format).exportGraph(entry, clf.backbone, tail?.imageSize);
    if (graph.kind !== 'tfjs-layers') {
      throw new TlError(
        `--format tfjs needs a TF.js backbone; this classifier uses ${entry.id} (an ${entry.format} model)`,
        'Export it with --format onnx (it runs in browsers with onnxruntime-web), or retrain on a TF.js backbone (e.g. --model mobilenet-v1-0.75) for a TF.js export.',
      );
    }
    const tf = await tfWasm();
    let m: tfType.LayersModel;
    let release: () => void;
    if (tail) {
      const full = graph.model;
      try {
        if (tail.kind === 'tfjs-layers') writeTailWeights(tf, full, tail);
        m =
          tail.kind === 'replace'
            ? buildTfjsReplaceClassifier(tf, full, entry, tail, data.head)
            : buildTfjsClassifier(tf, full, entry, data.head);
      } catch (err) {
        full.dispose();
        throw err;
      }
      release = () => {
        disposeHead(m, full);
        full.dispose();
      };
    } else {
      m = buildTfjsClassifier(tf, graph.model, entry, data.head);
      release = () => disposeHead(m, graph.model);
    }
    try {
      const saved = await saveTfjsModel(tf, m, quantize);
      model = 'model.json';
      await put(model, JSON.stringify(saved.modelJson) + '\n');
      await put(TFJS_WEIGHTS_FILE, saved.weights);
    } finally {
      release();
    }
    input = inputMeta((m.inputs[0].name ?? 'input').replace(/:0$/, ''), spec, 'NHWC');
    outputs = {
      probabilities: { name: m.outputs[0].name, shape: [null, K] },
      features: {
        name: 'tl_dense_0',
        shape: [null, featureDim],
        how: 'the input of layer "tl_dense_0": tf.model({ inputs: model.inputs, outputs: model.getLayer("tl_dense_0").input })',
      },
    };
  }
  const u = data.unknown;
  const rows = u.references.length / u.dim;
  await put(
    UNKNOWN_REFERENCES_FILE,
    new Uint8Array(
      u.references.buffer.slice(u.references.byteOffset, u.references.byteOffset + u.references.byteLength),
    ),
  );
  const metadata: ExportMetadata = {
    format: EXPORT_FORMAT,
    version: EXPORT_VERSION,
    runtime: opts.format,
    model,
    labels: data.labels,
    input,
    outputs,
    unknown: {
      method: u.method,
      threshold: u.threshold,
      ...(u.k === undefined ? {} : { k: u.k }),
      falseUnknownRate: u.falseUnknownRate,
      dim: u.dim,
      references: { file: UNKNOWN_REFERENCES_FILE, rows },
    },
    quantize,
    source: {
      backbone: entry.id,
      weightsHash: data.backbone.weightsHash,
      head: `${data.head.kind} (${headDesc})`,
      ...(tail
        ? {
            tail: {
              kind: tail.kind,
              cut: tail.cut,
              imageSize: tail.imageSize,
              ...(tail.replace ? { replace: tail.replace } : {}),
              variables: tail.variables.length,
              params: tail.variables.reduce((n, v) => n + v.data.length, 0),
            },
          }
        : {}),
      bundleCreatedAt: data.createdAt,
      bundleToolkitVersion: data.toolkitVersion,
    },
    toolkitVersion: VERSION,
    exportedAt: new Date().toISOString(),
    ...(opset ? { opset } : {}),
  };
  await put('metadata.json', JSON.stringify(metadata, null, 2) + '\n');
  await writeExportDir(dir, pending);
  const files = pending.map(({ name, bytes }) => ({
    name,
    bytes: typeof bytes === 'string' ? Buffer.byteLength(bytes) : bytes.byteLength,
  }));
  return { dir, metadata, files, problems };
}

function inputMeta(name: string, spec: InputSpec, layout: 'NCHW' | 'NHWC'): ExportMetadata['input'] {
  const s = spec.size;
  return {
    name,
    dtype: 'float32',
    shape: layout === 'NCHW' ? [null, 3, s, s] : [null, s, s, 3],
    layout,
    size: s,
    resize: spec.resize,
    cropFraction: spec.cropFraction ?? 1,
    ...documentedPreprocessing(spec, layout),
    mean: spec.mean,
    std: spec.std,
    channels: 'RGB',
  };
}

/** Frees the head layers the export added; the backbone layers stay owned by the classifier's backbone. */
function disposeHead(m: tfType.LayersModel, backbone: tfType.LayersModel): void {
  const own = new Set(backbone.layers);
  for (const l of m.layers) if (!own.has(l)) l.dispose();
}

/** Reads metadata.json of an export folder. */
export async function readExportMetadata(dir: string): Promise<ExportMetadata> {
  const p = join(dir, 'metadata.json');
  if (!existsSync(p)) throw new TlError(`${dir} is not a tl export (no metadata.json)`);
  const m = JSON.parse(await readFile(p, 'utf8')) as ExportMetadata;
  if (m.format !== EXPORT_FORMAT) throw new TlError(`${p} is not a tl export metadata file`);
  return m;
}

/** The InputSpec (for `preprocess`) that metadata.json describes. */
export function inputSpecOf(meta: ExportMetadata): InputSpec {
  const i = meta.input;
  return { size: i.size, layout: i.layout, resize: i.resize, cropFraction: i.cropFraction, mean: i.mean, std: i.std };
}
