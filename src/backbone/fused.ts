// Fused features: `--model a+b` runs several backbones and concatenates their vectors, each L2-normalised and scaled
// by 1/sqrt(parts) (so every part weighs the same in the head's input and in the unknown check's cosine distance,
// and the fused vector has unit length). Each part's vectors are cached under the part's own key (features/extract.ts),
// so a fused run reuses single-model caches and the other way round.
import type { Backbone, InputSpec, ModelEntry } from './types.js';
import { TlError } from '../util/errors.js';

/** What joins the ids of a fused model: `mobilenet-v2+mobilenet-v1-0.75`. */
export const FUSED_SEPARATOR = '+';

const FUSED_EXAMPLE = 'mobilenet-v2+mobilenet-v1-0.75';

/** Whether a --model value names a fused model (model ids never contain '+'). */
export function isFusedSpec(spec: string | undefined): spec is string {
  return spec !== undefined && spec.includes(FUSED_SEPARATOR);
}

/** The part ids of a fused spec; a clear error for an empty or repeated part. */
export function parseFusedSpec(spec: string): string[] {
  const parts = spec.split(FUSED_SEPARATOR).map((p) => p.trim());
  if (parts.some((p) => p === '')) {
    throw new TlError(
      `fused model "${spec}" has an empty part`,
      `Join two or more model ids with "+", e.g. --model ${FUSED_EXAMPLE} (see \`tl models list\`).`,
    );
  }
  const twice = parts.find((p, i) => parts.indexOf(p) !== i);
  if (twice) {
    throw new TlError(
      `fused model "${spec}" names ${twice} twice`,
      `Each backbone can appear once; e.g. --model ${FUSED_EXAMPLE}.`,
    );
  }
  return parts;
}

/** How the parts' vectors are combined, in words: part of the fused entry's feature spec, so bundles record it. */
export function fusionRule(parts: readonly ModelEntry[]): string {
  return `concat(${parts.map((p) => `l2norm(${p.id})`).join(', ')}) / sqrt(${parts.length})`;
}

/**
 * The registry entry of a fused model: its id is the spec, its files are the parts' files (so its weights hash
 * changes when any part's does), its input lists each part's preprocessing (data/image.ts preprocesses a photo once
 * per part and concatenates), its feature is the concatenation.
 */
export function fusedEntry(parts: ModelEntry[]): ModelEntry {
  const input: InputSpec = { ...parts[0].input, parts: parts.map((p) => p.input) };
  return {
    id: parts.map((p) => p.id).join(FUSED_SEPARATOR),
    title: `fused features of ${parts.map((p) => p.id).join(', ')}`,
    format: 'fused',
    folder: '',
    entry: '',
    files: parts.flatMap((p) => p.files.map((f) => ({ ...f, name: `${p.id}/${f.name}` }))),
    input,
    feature: { tensor: fusionRule(parts), dim: parts.reduce((a, p) => a + p.feature.dim, 0), pool: 'none' },
    head: { output: '', activation: 'logits', synsets: 'imagenet-synsets' },
    imagenetTop1: NaN,
    params: parts.reduce((a, p) => a + p.params, 0),
    license: [...new Set(parts.map((p) => p.license))].join(' + '),
    source: parts.map((p) => p.source).join(' + '),
    parts,
  };
}

/** The one fused vector from each part's vector of the same image (the rule `fusionRule` states). */
export function fuseVectors(partVectors: readonly Float32Array[]): Float32Array {
  const out = new Float32Array(partVectors.reduce((a, v) => a + v.length, 0));
  const share = 1 / Math.sqrt(partVectors.length);
  let offset = 0;
  for (const v of partVectors) {
    let norm = 0;
    for (let i = 0; i < v.length; i++) norm += v[i] * v[i];
    // An all-zero vector stays zero rather than becoming NaN.
    const scale = norm > 0 ? share / Math.sqrt(norm) : 0;
    for (let i = 0; i < v.length; i++) out[offset + i] = v[i] * scale;
    offset += v.length;
  }
  return out;
}

/** Elements of one part's preprocessed image (size x size x 3 floats). */
function inputLength(spec: InputSpec): number {
  return spec.size * spec.size * 3;
}

/**
 * Several loaded backbones seen as one extractor. `embed` takes what data/image.ts makes of the fused input spec (each
 * part's preprocessed tensor, concatenated), runs every part and fuses; features/extract.ts instead extracts (and
 * caches) each part on its own and fuses the cached vectors with the same `fuseVectors`.
 */
export class FusedBackbone implements Backbone {
  readonly id: string;
  readonly input: InputSpec;
  readonly featureDim: number;

  constructor(
    readonly entry: ModelEntry,
    readonly weightsHash: string,
    readonly parts: readonly Backbone[],
  ) {
    this.id = entry.id;
    this.input = entry.input;
    this.featureDim = parts.reduce((a, p) => a + p.featureDim, 0);
  }

  async embed(batch: Float32Array[]): Promise<Float32Array[]> {
    const perPart: Float32Array[][] = [];
    let offset = 0;
    for (const part of this.parts) {
      const n = inputLength(part.input);
      const start = offset;
      // A copy, not a view: the ONNX runtime posts its inputs to a worker thread.
      perPart.push(await part.embed(batch.map((x) => x.slice(start, start + n))));
      offset += n;
    }
    return batch.map((_, i) => fuseVectors(perPart.map((vectors) => vectors[i])));
  }

  async dispose(): Promise<void> {
    await Promise.all(this.parts.map((p) => p.dispose()));
  }
}

export function isFusedBackbone(b: Backbone): b is FusedBackbone {
  return b instanceof FusedBackbone;
}

/** Rungs 2-3 train one network's blocks; a fused model has several. */
export function fusedFineTuneError(id: string): TlError {
  return new TlError(
    `fine-tuning needs one backbone: "${id}" fuses several`,
    `Use --strategy head with a fused model, or fine-tune one of its parts (e.g. --model ${id.split(FUSED_SEPARATOR)[0]}).`,
  );
}

/** One exported graph takes one input; the parts of a fused model each want their own size and normalisation. */
export function fusedExportError(id: string): TlError {
  return new TlError(
    `cannot export "${id}": a fused classifier runs several backbones, each with its own input size and normalisation, and an exported model has one input`,
    'Serve it with `tl serve` or the library (both run fused bundles), or retrain on one backbone (e.g. --model mobilenet-v2) to export.',
  );
}
