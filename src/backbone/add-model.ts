// `tl models add model.onnx` (or a URL + sha256): register any ImageNet classifier file as a backbone without naming
// tensors. The runtime reads input size/layout, feature tensor and head from the file (runtimes/onnx/detect.ts); the
// user gives only what a file cannot say: its normalisation (a preset or mean/std).
import { basename, dirname, extname, resolve } from 'node:path';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { TlError } from '../util/errors.js';
import { isTokenPool, TOKEN_POOLS, type InputSpec, type ModelEntry, type TokenPool } from './types.js';
import type { DetectedBackbone } from './runtimes/types.js';
import { runtimeFor } from './runtimes/registry.js';
import { checkModelId, registerModel, type CustomModel } from './registry.js';
import { resolveModel, type ResolveProgress } from './resolve.js';
import { findPreset } from './presets.js';

export interface AddModelOptions {
  /** A local .onnx path or an https URL (with `sha256`). */
  source: string;
  id?: string;
  title?: string;
  sha256?: string;
  /** A normalisation preset (presets.ts), or `mean` and `std`. */
  preset?: string;
  mean?: InputSpec['mean'];
  std?: InputSpec['std'];
  /** Input side when the graph leaves it open. */
  size?: number;
  /** How a transformer's token output becomes the feature (cls, mean, cls+mean); default: detected. */
  pool?: string;
  /** Detect and describe, register nothing. */
  dryRun?: boolean;
  /** Replace a model registered under the same id (otherwise refused). */
  replace?: boolean;
  /** Called while a URL downloads. */
  onProgress?: (p: ResolveProgress) => void;
}

export interface AddModelResult {
  detected: DetectedBackbone;
  description: CustomModel;
  /** Undefined on a dry run. */
  model?: ModelEntry;
}

const isUrl = (s: string) => /^https?:\/\//i.test(s);

function fileName(source: string): string {
  return isUrl(source) ? basename(new URL(source).pathname) : basename(source);
}

/** The runtime format of a model file, by what detection reads: an .onnx file, or a TF.js layers model.json. */
async function formatOf(source: string): Promise<string> {
  const ext = extname(fileName(source)).toLowerCase();
  if (ext === '.onnx') return 'onnx';
  if (ext === '.json' && !isUrl(source) && (await isTfjsLayersModel(source))) return 'tfjs-layers';
  throw new TlError(
    `cannot detect the feature tensor of ${fileName(source) || source}: detection reads ONNX files (.onnx) and TF.js layers model.json files`,
    'Otherwise write a JSON description and run `tl models add FILE.json` (docs/backbones.md, "Bring your own backbone").',
  );
}

/** A TF.js layers model.json (topology + weights manifest), as opposed to a toolkit model description. */
export async function isTfjsLayersModel(path: string): Promise<boolean> {
  try {
    const json = JSON.parse(await readFile(path, 'utf8')) as { modelTopology?: unknown; weightsManifest?: unknown };
    return typeof json.modelTopology === 'object' && Array.isArray(json.weightsManifest);
  } catch {
    return false;
  }
}

function defaultId(source: string): string {
  // model.json says nothing: name a TF.js model after its folder.
  const name = fileName(source);
  const stem = /^model\.json$/i.test(name) ? basename(dirname(resolve(source))) : name.replace(/\.(onnx|json)$/i, '');
  const id = stem.replace(/[^a-z0-9._-]+/gi, '-').replace(/^[^a-z0-9]+/i, '');
  if (!id) throw new TlError(`cannot make a model id from "${source}"`, 'Give one with --id.');
  return id;
}

function normalisation(opts: AddModelOptions): Pick<InputSpec, 'mean' | 'std' | 'cropFraction'> & { size?: number } {
  if (opts.preset && (opts.mean || opts.std)) throw new TlError('give either --preset or --mean/--std, not both');
  if (opts.preset) {
    const p = findPreset(opts.preset);
    return { mean: [...p.mean], std: [...p.std], cropFraction: p.cropFraction, size: p.size };
  }
  if (opts.mean && opts.std) return { mean: opts.mean, std: opts.std, cropFraction: 0.875 };
  throw new TlError(
    'the normalisation a network was trained with is not in its file: give --preset imagenet-torch|imagenet-tf|inception|dinov2|clip, or --mean and --std',
    'torchvision/timm/ONNX Model Zoo models: --preset imagenet-torch; Inception, Keras MobileNet, EfficientNet-Lite: --preset inception; TF Hub modules: --preset imagenet-tf; DINOv2: --preset dinov2; CLIP / MobileCLIP: --preset clip.',
  );
}

/** Detect the model's input, feature and head from its file, then register it (unless a dry run). */
export async function addModelFile(opts: AddModelOptions): Promise<AddModelResult> {
  const format = await formatOf(opts.source);
  const runtime = runtimeFor(format);
  if (!runtime.detect)
    throw new TlError(`the ${format} runtime cannot read a model's structure; register it with a JSON description`);
  const { size: presetSize, ...norm } = normalisation(opts);
  const pool = tokenPool(opts.pool, format);
  const id = opts.id ?? defaultId(opts.source);
  // Before any download or detection: an id in use is refused unless --replace.
  if (!opts.dryRun) checkModelId(id, opts.replace);
  let path: string;
  if (isUrl(opts.source)) {
    if (!opts.sha256 || !/^[0-9a-f]{64}$/.test(opts.sha256)) {
      throw new TlError(
        'a model registered by URL needs its sha256 (64 hex digits)',
        'Give --sha256; the download is checked against it.',
      );
    }
    // Downloaded where a URL-registered model is looked for later (<cache>/models/<id>/), sha256-checked, atomic.
    const name = fileName(opts.source) || 'model.onnx';
    const probe = {
      id,
      folder: id,
      entry: name,
      files: [{ name, size: 0, sha256: opts.sha256, url: opts.source }],
    } as ModelEntry;
    const { dir } = await resolveModel(probe, { verify: true, onProgress: opts.onProgress });
    path = resolve(dir, name);
  } else {
    path = resolve(opts.source);
    if (!existsSync(path)) throw new TlError(`model file not found: ${path}`);
  }
  const detected = await runtime.detect(path, { pool });
  const size = pickSize(detected, opts.size, presetSize);
  const description: CustomModel = {
    id,
    title: opts.title ?? `${id} (${detected.feature.dim}-d features, detected)`,
    format,
    ...(isUrl(opts.source) ? { url: opts.source, sha256: opts.sha256 } : { path }),
    input: { size, layout: detected.input.layout, resize: 'cover', ...norm },
    feature: detected.feature,
    // Only a 1000-way head is in the standard ImageNet order the toolkit's label list has.
    head:
      detected.head?.classes === 1000
        ? { output: detected.head.output, activation: detected.head.activation, synsets: 'imagenet-synsets' }
        : undefined,
    detected: detected.how,
  };
  if (opts.dryRun) return { detected, description };
  return { detected, description, model: await registerModel(description, { replace: opts.replace }) };
}

function tokenPool(pool: string | undefined, format: string): TokenPool | undefined {
  if (pool === undefined) return undefined;
  if (!isTokenPool(pool))
    throw new TlError(
      `unknown pooling rule "${pool}"`,
      `Use one of: ${TOKEN_POOLS.join(', ')} (class token, mean of the patch tokens, both concatenated as in DINOv2's linear evaluation).`,
    );
  if (format !== 'onnx') throw new TlError(`--pool applies to ONNX transformer outputs; this is a ${format} model`);
  return pool;
}

/** The graph's fixed side; else --size; else the preset's training size (DINOv2 and CLIP exports take any size). */
function pickSize(d: DetectedBackbone, given: number | undefined, presetSize?: number): number {
  if (d.input.size !== undefined) {
    if (given !== undefined && given !== d.input.size) {
      throw new TlError(
        `the graph fixes its input at ${d.input.size} px; --size ${given} does not match`,
        `Leave out --size (or give ${d.input.size}).`,
      );
    }
    return d.input.size;
  }
  if (given === undefined && presetSize !== undefined) return presetSize;
  if (given === undefined) {
    throw new TlError(
      `input "${d.input.name}" does not fix its height and width`,
      'Give the size the network was trained at with --size (224 for most ImageNet models).',
    );
  }
  return given;
}
