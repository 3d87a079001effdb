// The zoo plus the user's own backbones (any ONNX or TF.js layers image model), kept in <cache>/models.json.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { mkdir, writeFile, rename } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { z } from 'zod';
import { env } from '../util/env.js';
import { TlError } from '../util/errors.js';
import { sha256File } from '../util/hash.js';
import type { ModelEntry } from './types.js';
import { ZOO } from './zoo.js';
import { isRuntimeFormat, listRuntimes, runtimeFor } from './runtimes/registry.js';
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
    pool: z.enum(['gap', 'none']).default('none'),
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

/** Validate and store a user backbone; files on disk are hashed now so later loads can verify them. */
export async function registerModel(input: CustomModel): Promise<ModelEntry> {
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
  if (ZOO.some((e) => e.id === m.id)) throw new TlError(`"${m.id}" is a built-in model id; choose another id`);
  if (!m.path && !(m.url && m.sha256)) throw new TlError('give either "path" (a local file) or "url" with "sha256"');
  let folder: string;
  let entry: string;
  let files: ModelEntry['files'];
  if (m.path) {
    const p = resolve(m.path);
    if (!existsSync(p)) throw new TlError(`model file not found: ${p}`);
    folder = dirname(p);
    entry = basename(p);
    const names = await runtimeFor(m.format).modelFiles(p);
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
    files = [{ name: entry, size: 0, sha256: m.sha256!, url: m.url! }];
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
    source: m.path ? resolve(m.path) : m.url!,
    custom: true,
    ...(m.detected ? { detected: m.detected } : {}),
  };
  const all = readCustom().filter((e) => e.id !== m.id);
  all.push(model);
  await mkdir(env.cacheDir, { recursive: true });
  const tmp = customRegistryPath() + `.${process.pid}.tmp`;
  await writeFile(tmp, JSON.stringify(all, null, 2));
  await rename(tmp, customRegistryPath());
  return model;
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
