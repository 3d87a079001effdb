// Why a saved classifier cannot run on the backbone registered under its id now, in words: other weights, or other
// preprocessing / feature cut. A user model that was registered again after training says exactly that.
import { TlError } from '../util/errors.js';
import type { FeatureSpec, InputSpec, ModelEntry } from './types.js';
import { weightsHash } from './weights-hash.js';

/** What a bundle recorded about the backbone it was trained on. */
export interface TrainedOn {
  id: string;
  weightsHash: string;
  input: InputSpec;
  feature: FeatureSpec;
}

const short = (h: string) => `${h.slice(0, 16)}...`;

/** The differences of input/feature fields, e.g. `input.mean [0.5,0.5,0.5] -> [0.485,0.456,0.406]`. */
function specChanges(was: TrainedOn, now: ModelEntry): string[] {
  const out: string[] = [];
  for (const [part, a, b] of [
    ['input', was.input, now.input],
    ['feature', was.feature, now.feature],
  ] as const) {
    const keys = new Set([...Object.keys(a ?? {}), ...Object.keys(b ?? {})]);
    for (const k of keys) {
      const x = JSON.stringify((a as unknown as Record<string, unknown>)?.[k]);
      const y = JSON.stringify((b as unknown as Record<string, unknown>)?.[k]);
      if (x !== y) out.push(`${part}.${k} ${x ?? 'unset'} -> ${y ?? 'unset'}`);
    }
  }
  return out;
}

/** Undefined when `entry` is the backbone the classifier was trained on; else the error that says what changed. */
export function backboneMismatch(entry: ModelEntry, ref: TrainedOn, trainedAt?: string): TlError | undefined {
  const hash = weightsHash(entry);
  const changes = specChanges(ref, entry);
  if (hash === ref.weightsHash && !changes.length) return undefined;
  if (entry.custom) {
    const when =
      entry.registeredAt && trainedAt && entry.registeredAt > trainedAt
        ? ` on ${entry.registeredAt}, after this classifier was trained (${trainedAt})`
        : ' since this classifier was trained';
    const what = [
      hash === ref.weightsHash
        ? `same weights (hash ${short(hash)})`
        : `weights hash ${short(ref.weightsHash)} when trained, ${short(hash)} registered now`,
      ...changes,
    ].join('; ');
    return new TlError(
      `the registration of model "${entry.id}" was replaced${when}: ${what}`,
      `Register the model as it was (\`tl models add FILE --id ${entry.id} --replace\` with the original file and settings), or retrain on the new registration.`,
    );
  }
  if (hash !== ref.weightsHash)
    return new TlError(
      `backbone "${ref.id}" here has other weights than the one this classifier was trained on (hash ${short(hash)} vs ${short(ref.weightsHash)})`,
      'Its features would not match the head. Use the backbone files the bundle was trained with, or retrain.',
    );
  return new TlError(
    `backbone "${ref.id}" here preprocesses or cuts differently than when this classifier was trained (${changes.join('; ')})`,
    'Retrain with this version of tl.',
  );
}
