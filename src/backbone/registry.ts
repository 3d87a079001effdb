// The zoo plus the user's own backbones (any ONNX or TF.js layers image model), kept in <cache>/models.json.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { mkdir, writeFile, rename } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { z } from 'zod';
import { env } from '../util/env.js';
import { TlError } from '../util/errors.js';
import { sha256File } from '../util/hash.js';
import { isTokenPool, TOKEN_POOLS, type ModelEntry } from './types.js';
import { ZOO } from './zoo.js';
import { isRuntimeFormat, listRuntimes, runtimeFor } from './runtimes/registry.js';
import { weightsHash } from './weights-hash.js';
import { fusedEntry, isFusedSpec, parseFusedSpec } from './fused.js';

const triple = z.tuple([z.number(), z.number(), z.number()]);

/** What a user writes to register a backbone (`tl models add FILE.json` or the library's registerModel). */
export const CustomModelSchema = z.object({
  id: z.string().regex(/^[a-z0-9][a-z0-9._-]*$/i, 'id: letters, digits, dot, dash, underscore'),
  title: z.string().optional(),
  /** The runtime that runs it: a format registered in runtimes/registry.ts. */
  format: z.string().refine(isRuntimeFormat, {
    message: `one of ${listRuntimes()
      .map((r) => r.format)
      .join(', ')}`,
  }),
  /** Local path of the .onnx file or model.json (its shards are found beside it). */
  path: z.string().optional(),
  /** Or a URL of the .onnx file (single-file models), with its sha256. */
  url: z.string().url().optional(),
  sha256: z
    .string()
    .regex(/^[0-9a-f]{64}$/)
    .optional(),
  /** The file's size in bytes at the URL (optional): a download of another size is refused before its hash. */
  size: z.number().int().positive().optional(),
  input: z.object({
    size: z.number().int().min(16).max(1024),
    layout: z.enum(['NCHW', 'NHWC']),
    resize: z.enum(['cover', 'fill']).default('cover'),
    /** Centre crop as a fraction of the resized image (0.875 = resize 256, crop 224), as in the zoo's InputSpec. */
    cropFraction: z.number().gt(0).max(1).optional(),
    mean: triple,
    std: triple,
  }),
  feature: z.object({
    tensor: z.string(),
    dim: z.number().int().positive(),
    /** gap: a 4-D map; cls / mean / cls+mean: a transformer's tokens [N, 1+P, D] (ONNX only). */
    pool: z.enum(['gap', 'none', ...TOKEN_POOLS]).default('none'),
  }),
  head: z
    .object({
      output: z.string(),
      activation: z.enum(['logits', 'probabilities']).default('logits'),
      synsets: z.enum(['imagenet-synsets', 'darknet-synsets']).default('imagenet-synsets'),
    })
    .optional(),
  license: z.string().default('unknown'),
  /** How `tl models add model.onnx` found the feature (shown by `tl models info`). */
  detected: z.string().optional(),
});
export type CustomModel = z.input<typeof CustomModelSchema>;

function customRegistryPath(): string {
  return join(env.cacheDir, 'models.json');
}

function readCustom(): ModelEntry[] {
  const p = customRegistryPath();
  if (!existsSync(p)) return [];
  try {
    return JSON.parse(readFileSync(p, 'utf8')) as ModelEntry[];
  } catch (err) {
    throw new TlError(
      `cannot read the custom model registry ${p}: ${(err as Error).message}`,
      'Fix or delete that file.',
    );
  }
}

export function listModels(): ModelEntry[] {
  return [...ZOO, ...readCustom()];
}

export function findModel(id: string): ModelEntry {
  if (isFusedSpec(id)) return findFusedModel(id);
  const all = listModels();
  const m = all.find((e) => e.id === id);
  if (!m)
    throw new TlError(
      `unknown model "${id}"`,
      `Known models: ${all.map((e) => e.id).join(', ')}. Register your own with \`tl models add\`.`,
    );
  return m;
}

/** `a+b`: the fused entry of the named parts (backbone/fused.ts); an unknown part is named in the error. */
function findFusedModel(spec: string): ModelEntry {
  const parts = parseFusedSpec(spec).map((id) => {
    try {
      return findModel(id);
    } catch (err) {
      if (err instanceof TlError) throw new TlError(`${err.message} in fused model "${spec}"`, err.hint);
      throw err;
    }
  });
  return fusedEntry(parts);
}

export interface RegisterOptions {
  /** Replace a model already registered under this id (otherwise that is refused). */
  replace?: boolean;
  /** The folder a relative `path` is resolved against: the description file's (default: the current folder). */
  baseDir?: string;
  /**
   * Load the model and run one blank image through it before registering (default true): a file that is not a model
   * of its format, a missing tensor or a wrong `feature.dim` is refused now rather than on first use.
   */
  probe?: boolean;
}

/** Refuse an id that names a built-in model, or (without `replace`) one the user registered already. */
export function checkModelId(id: string, replace = false): void {
  if (ZOO.some((e) => e.id === id)) throw new TlError(`"${id}" is a built-in model id; choose another id`);
  const existing = readCustom().find((e) => e.id === id);
  if (existing && !replace)
    throw new TlError(
      `a model "${id}" is registered already (${existing.source})`,
      `Classifiers trained on it would stop loading if it changed: choose another id, or give --replace to register this one instead.`,
    );
}

/** Validate and store a user backbone; files on disk are hashed now so later loads can verify them. */
export async function registerModel(input: CustomModel, opts: RegisterOptions = {}): Promise<ModelEntry> {
  // A missing field reads "feature: required", not zod's "expected object, received undefined".
  const parsed = CustomModelSchema.safeParse(input, {
    error: (iss) => (iss.input === undefined ? 'required' : undefined),
  });
  if (!parsed.success) {
    throw new TlError(
      `invalid model description: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
    );
  }
  const m = parsed.data;
  if (isTokenPool(m.feature.pool) && !runtimeFor(m.format).poolsTokens)
    throw new TlError(
      `invalid model description: feature.pool "${m.feature.pool}" pools a transformer's tokens inside the graph, which the ${m.format} runtime does not do`,
      'Use "gap" or "none" for a TF.js model.',
    );
  checkModelId(m.id, opts.replace);
  if (!m.path && !(m.url && m.sha256)) throw new TlError('give either "path" (a local file) or "url" with "sha256"');
  let folder: string;
  let entry: string;
  let files: ModelEntry['files'];
  const localPath = m.path ? resolve(opts.baseDir ?? '.', m.path) : undefined;
  if (localPath) {
    const p = localPath;
    if (!existsSync(p)) throw new TlError(`model file not found: ${p}`);
    if (!statSync(p).isFile()) throw new TlError(`model path ${p} is not a file`);
    folder = dirname(p);
    entry = basename(p);
    const names = await runtimeFor(m.format)
      .modelFiles(p)
      .catch((err: unknown) => {
        throw notAModel(p, m.format, err);
      });
    files = await Promise.all(
      names.map(async (name) => ({
        name,
        size: statSync(join(folder, name)).size,
        sha256: await sha256File(join(folder, name)),
        url: `file://${join(folder, name)}`,
      })),
    );
  } else {
    if (!runtimeFor(m.format).registerByUrl)
      throw new TlError(
        `URL registration supports single-file models; download ${m.format} models and register by path`,
      );
    folder = m.id;
    entry = basename(new URL(m.url!).pathname) || 'model.onnx';
    files = [{ name: entry, size: m.size ?? 0, sha256: m.sha256!, url: m.url! }];
  }
  const model: ModelEntry = {
    id: m.id,
    title: m.title ?? m.id,
    format: m.format,
    folder,
    entry,
    files,
    input: m.input,
    feature: m.feature,
    head: m.head ?? { output: '', activation: 'logits', synsets: 'imagenet-synsets' },
    imagenetTop1: NaN,
    params: NaN,
    license: m.license,
    source: localPath ?? m.url!,
    custom: true,
    registeredAt: new Date().toISOString(),
    ...(m.detected ? { detected: m.detected } : {}),
  };
  if (localPath && opts.probe !== false) await probeModel(model, localPath);
  const all = readCustom().filter((e) => e.id !== m.id);
  all.push(model);
  await mkdir(env.cacheDir, { recursive: true });
  const tmp = customRegistryPath() + `.${process.pid}.tmp`;
  await writeFile(tmp, JSON.stringify(all, null, 2));
  await rename(tmp, customRegistryPath());
  return model;
}

/** A TlError for a file its runtime cannot read as a model (what the parser said, in one line). */
function notAModel(path: string, format: string, err: unknown): TlError {
  if (err instanceof TlError) return err;
  const why = String((err as Error)?.message ?? err).split('\n')[0];
  const what =
    format === 'onnx' ? 'an ONNX model' : format === 'tfjs-layers' ? 'a TF.js layers model.json' : `a ${format} model`;
  return new TlError(
    `${path} is not ${what} (${why})`,
    'Check "path" and "format" in the description: "onnx" takes an .onnx file, "tfjs-layers" a model.json with its weight files beside it. Nothing was registered.',
  );
}

/** Load the model and embed one blank image: the file, the feature tensor and feature.dim are checked before registering. */
async function probeModel(model: ModelEntry, path: string): Promise<void> {
  const runtime = runtimeFor(model.format);
  const backbone = await runtime.load(model, model.folder, weightsHash(model)).catch((err: unknown) => {
    throw notAModel(path, model.format, err);
  });
  try {
    const side = model.input.size;
    await backbone.embed([new Float32Array(side * side * 3)]);
  } catch (err) {
    if (err instanceof TlError) throw new TlError(err.message, 'Fix the model description; nothing was registered.');
    throw notAModel(path, model.format, err);
  } finally {
    await backbone.dispose();
  }
}

export async function unregisterModel(id: string): Promise<boolean> {
  const all = readCustom();
  const rest = all.filter((e) => e.id !== id);
  if (rest.length === all.length) return false;
  const tmp = customRegistryPath() + `.${process.pid}.tmp`;
  await writeFile(tmp, JSON.stringify(rest, null, 2));
  await rename(tmp, customRegistryPath());
  return true;
}
