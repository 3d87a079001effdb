// The saved classifier: a folder with classifier.json (versioned metadata), weights.bin (float32 little-endian
// tensors, offsets listed in the JSON), metrics.json and report.html. No code, so any runtime can read it.
import { readFile, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import type { InputSpec, FeatureSpec } from '../backbone/types.js';
import type { HeadWeights } from './head.js';
import type { UnknownDetector } from './unknown.js';
import { TlError } from '../util/errors.js';
import { VERSION } from '../util/version.js';
import type { TailSnapshot } from '../backbone/runtimes/types.js';
import { tailRuns } from '../backbone/runtimes/registry.js';
import { recoverDir, replaceDir } from '../util/atomic-dir.js';
import { isFsError, writeError } from '../util/fs-errors.js';
import { BUNDLE_FORMAT, checkBundleTarget, holdsOnlyBundleFiles } from './bundle-dir.js';

export { BUNDLE_FORMAT };
/** Highest version this toolkit reads. Head-only bundles are still written as version 1; fine-tuned ones (with a tail) as 2. */
export const BUNDLE_VERSION = 2;

export interface BackboneRef {
  id: string;
  weightsHash: string;
  input: InputSpec;
  feature: FeatureSpec;
}

export interface BundleData {
  backbone: BackboneRef;
  labels: string[];
  head: HeadWeights;
  unknown: UnknownDetector;
  metrics: unknown;
  config: Record<string, unknown>;
  createdAt: string;
  toolkitVersion: string;
  /** Fine-tuned bundles (version 2): the trained blocks after the cut; the frozen part comes from the backbone files. */
  tail?: TailSnapshot;
}

const TensorRef = z.object({ name: z.string(), offset: z.number().int().min(0), length: z.number().int().min(0) });
const Manifest = z.object({
  format: z.literal(BUNDLE_FORMAT),
  version: z.number().int(),
  toolkitVersion: z.string(),
  createdAt: z.string(),
  backbone: z.object({ id: z.string(), weightsHash: z.string(), input: z.any(), feature: z.any() }),
  labels: z.array(z.string()).min(2),
  head: z.object({
    kind: z.enum(['linear', 'mlp']),
    layers: z.array(
      z.object({ inputs: z.number().int(), outputs: z.number().int(), activation: z.enum(['relu', 'softmax']) }),
    ),
  }),
  unknown: z.object({
    method: z.enum(['knn-cosine', 'nearest-cosine', 'centroid-cosine']),
    threshold: z.number(),
    falseUnknownRate: z.number(),
    dim: z.number().int(),
    k: z.number().int().min(1).optional(),
  }),
  tensors: z.array(TensorRef),
  config: z.record(z.string(), z.any()),
  /** The files this save wrote into the folder (a later save may replace exactly these). */
  files: z.array(z.string()).optional(),
  tail: z
    .object({
      kind: z.string().refine((k) => tailRuns(k) !== undefined, { message: 'a tail kind no backbone runtime makes' }),
      cut: z.string(),
      inputShape: z.tuple([z.number().int(), z.number().int(), z.number().int()]),
      imageSize: z.number().int(),
      featureDim: z.number().int(),
      replace: z.array(z.number().int()).optional(),
      variables: z.array(z.object({ name: z.string(), shape: z.array(z.number().int()) })),
      runs: z.string().optional(),
    })
    .optional(),
});

/**
 * Save a bundle to `dir`. An existing `dir` is replaced only when it is a bundle tl wrote (see bundle-dir.ts), and only
 * once the new one is complete: a kill at any instant leaves the old or the new bundle loadable under `dir`.
 */
export async function saveBundle(dir: string, data: BundleData, extras: Record<string, string> = {}): Promise<void> {
  dir = resolve(dir);
  const tensors: { name: string; data: Float32Array }[] = [
    { name: 'mean', data: data.head.mean },
    { name: 'std', data: data.head.std },
    ...data.head.layers.flatMap((l, i) => [
      { name: `layer${i}.W`, data: l.W },
      { name: `layer${i}.b`, data: l.b },
    ]),
    // Older bundles (method centroid-cosine) named this tensor unknown.centroids.
    {
      name: data.unknown.method === 'centroid-cosine' ? 'unknown.centroids' : 'unknown.references',
      data: data.unknown.references,
    },
    ...(data.tail?.variables.map((v) => ({ name: `tail/${v.name}`, data: v.data })) ?? []),
  ];
  let offset = 0;
  const refs = tensors.map((t) => {
    const r = { name: t.name, offset, length: t.data.length };
    offset += t.data.length;
    return r;
  });
  const all = new Float32Array(offset);
  tensors.forEach((t, i) => all.set(t.data, refs[i].offset));
  const manifest: z.infer<typeof Manifest> = {
    format: BUNDLE_FORMAT,
    version: data.tail ? 2 : 1,
    toolkitVersion: data.toolkitVersion,
    createdAt: data.createdAt,
    backbone: data.backbone,
    labels: data.labels,
    head: {
      kind: data.head.kind,
      layers: data.head.layers.map(({ inputs, outputs, activation }) => ({ inputs, outputs, activation })),
    },
    unknown: {
      method: data.unknown.method,
      threshold: data.unknown.threshold,
      falseUnknownRate: data.unknown.falseUnknownRate,
      dim: data.unknown.dim,
      ...(data.unknown.k === undefined ? {} : { k: data.unknown.k }),
    },
    tensors: refs,
    config: data.config,
    files: ['classifier.json', 'weights.bin', 'metrics.json', ...Object.keys(extras)],
    ...(data.tail
      ? {
          tail: {
            kind: data.tail.kind,
            cut: data.tail.cut,
            inputShape: data.tail.inputShape,
            imageSize: data.tail.imageSize,
            featureDim: data.tail.featureDim,
            ...(data.tail.replace ? { replace: data.tail.replace } : {}),
            variables: data.tail.variables.map((v) => ({ name: v.name, shape: v.shape })),
            runs: tailRuns(data.tail.kind),
          },
        }
      : {}),
  };
  for (const name of Object.keys(extras)) {
    if (!/^[\w.-]+$/.test(name) || name.startsWith('.'))
      throw new TlError(`bundle extra file name "${name}" is not a plain file name`);
  }
  try {
    await replaceDir(
      dir,
      async (tmp) => {
        await writeFile(join(tmp, 'weights.bin'), littleEndianBytes(all));
        await writeFile(join(tmp, 'metrics.json'), JSON.stringify(data.metrics, null, 2) + '\n');
        for (const [name, content] of Object.entries(extras)) await writeFile(join(tmp, name), content);
        await writeFile(join(tmp, 'classifier.json'), JSON.stringify(manifest, null, 2) + '\n');
      },
      { isComplete: isCompleteBundle, isOwnLegacy: holdsOnlyBundleFiles, check: checkBundleTarget },
    );
  } catch (err) {
    if (err instanceof TlError || !isFsError(err)) throw err;
    throw await writeError(
      'the classifier bundle',
      dir,
      err,
      existsSync(dir) ? 'The bundle already there is unchanged.' : 'Nothing was left behind.',
    );
  }
}

async function isCompleteBundle(dir: string): Promise<boolean> {
  return readBundle(dir).then(
    () => true,
    () => false,
  );
}

function littleEndianBytes(a: Float32Array): Buffer {
  // Every platform Node runs on is little-endian; the format says so explicitly for other readers.
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
}

/** Load a bundle; after a killed save, first put the complete version back under `dir` and tidy up. */
export async function loadBundle(dir: string): Promise<BundleData> {
  const from = await recoverDir(resolve(dir), {
    isComplete: isCompleteBundle,
    isOwnLegacy: holdsOnlyBundleFiles,
  }).catch(() => resolve(dir));
  return readBundle(from === resolve(dir) ? dir : from);
}

async function readBundle(dir: string): Promise<BundleData> {
  const jsonPath = join(dir, 'classifier.json');
  if (!existsSync(jsonPath))
    throw new TlError(
      `${dir} is not a classifier bundle (no classifier.json)`,
      'Train one with `tl train DATA --out DIR`.',
    );
  let parsed: z.infer<typeof Manifest>;
  try {
    const raw = JSON.parse(await readFile(jsonPath, 'utf8'));
    if (raw.format === BUNDLE_FORMAT && raw.version > BUNDLE_VERSION)
      throw new TlError(
        `bundle ${dir} has format version ${raw.version}; this tl reads up to ${BUNDLE_VERSION}`,
        'Upgrade tl.',
      );
    parsed = Manifest.parse(raw);
  } catch (err) {
    if (err instanceof TlError) throw err;
    throw new TlError(
      `bundle ${dir} is damaged: ${err instanceof z.ZodError ? err.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ') : (err as Error).message}`,
    );
  }
  let bytes: Buffer;
  try {
    bytes = await readFile(join(dir, 'weights.bin'));
  } catch (err) {
    throw new TlError(
      `bundle ${dir} is damaged: cannot read weights.bin (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`,
      'Copy the whole bundle folder again, or retrain.',
    );
  }
  // A truncated or padded file (a partial copy) is refused as a whole; a Float32Array of an odd byte count would throw a RangeError.
  const expected = 4 * parsed.tensors.reduce((m, t) => Math.max(m, t.offset + t.length), 0);
  if (bytes.byteLength !== expected) {
    throw new TlError(
      `bundle ${dir} is damaged: weights.bin has ${bytes.byteLength} bytes, classifier.json describes ${expected}`,
      'Copy the whole bundle folder again, or retrain.',
    );
  }
  const all = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  const get = (name: string, length?: number) => {
    const r = parsed.tensors.find((t) => t.name === name);
    if (!r || r.offset + r.length > all.length)
      throw new TlError(`bundle ${dir} is damaged: tensor ${name} missing or truncated`);
    if (length !== undefined && r.length !== length)
      throw new TlError(`bundle ${dir} is damaged: tensor ${name} has ${r.length} values, expected ${length}`);
    return all.slice(r.offset, r.offset + r.length);
  };
  const dim = parsed.head.layers[0]?.inputs ?? 0;
  const head: HeadWeights = {
    kind: parsed.head.kind,
    mean: get('mean', dim),
    std: get('std', dim),
    layers: parsed.head.layers.map((l, i) => ({
      ...l,
      W: get(`layer${i}.W`, l.inputs * l.outputs),
      b: get(`layer${i}.b`, l.outputs),
    })),
  };
  const tail: TailSnapshot | undefined = parsed.tail
    ? {
        kind: parsed.tail.kind,
        cut: parsed.tail.cut,
        inputShape: parsed.tail.inputShape,
        imageSize: parsed.tail.imageSize,
        featureDim: parsed.tail.featureDim,
        replace: parsed.tail.replace,
        variables: parsed.tail.variables.map((v) => ({
          name: v.name,
          shape: v.shape,
          data: get(
            `tail/${v.name}`,
            v.shape.reduce((a, b) => a * b, 1),
          ),
        })),
      }
    : undefined;
  const metrics = existsSync(join(dir, 'metrics.json'))
    ? JSON.parse(await readFile(join(dir, 'metrics.json'), 'utf8'))
    : {};
  return {
    backbone: parsed.backbone as BackboneRef,
    labels: parsed.labels,
    head,
    unknown: {
      ...parsed.unknown,
      references: get(parsed.unknown.method === 'centroid-cosine' ? 'unknown.centroids' : 'unknown.references'),
    },
    metrics,
    config: parsed.config,
    createdAt: parsed.createdAt,
    toolkitVersion: parsed.toolkitVersion,
    ...(tail ? { tail } : {}),
  };
}

export function newBundleStamp(): Pick<BundleData, 'createdAt' | 'toolkitVersion'> {
  return { createdAt: new Date().toISOString(), toolkitVersion: VERSION };
}
