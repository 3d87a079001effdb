// The backbone runtimes, registered once. A new runtime is one module implementing BackboneRuntime plus one line
// here; everything format-specific (loading, layer tables, fine-tuning, export, registration of user models) is
// looked up by a model entry's `format`.
import type { ModelEntry } from '../types.js';
import type { BackboneRuntime } from './types.js';
import { TlError } from '../../util/errors.js';
import { onnxRuntime } from './onnx/index.js';
import { tfjsRuntime } from './tfjs/index.js';

const RUNTIMES: readonly BackboneRuntime[] = [onnxRuntime, tfjsRuntime];

export function listRuntimes(): readonly BackboneRuntime[] {
  return RUNTIMES;
}

export function isRuntimeFormat(format: string): boolean {
  return RUNTIMES.some((r) => r.format === format);
}

/** The runtime that runs models of this format; a clear error for a format no runtime registered. */
export function runtimeFor(format: string): BackboneRuntime {
  const r = RUNTIMES.find((x) => x.format === format);
  if (!r) {
    throw new TlError(
      `no backbone runtime for model format "${format}"`,
      `Known formats: ${RUNTIMES.map((x) => x.format).join(', ')}. Re-register the model with one of them (\`tl models add\`).`,
    );
  }
  return r;
}

/** New units instead of the pretrained ones after a cut (--replace): the same TF.js code on every runtime. */
export const REPLACE_TAIL = {
  kind: 'replace',
  runs: 'frozen part: the backbone up to `cut` (NHWC); then per hidden size a 1x1 conv (tail/convI/kernel [1,1,in,out], tail/convI/bias) + ReLU; global average pool -> head',
} as const;

/** How a saved tail of this kind runs (bundle's `tail.runs`); undefined for a kind no runtime makes. */
export function tailRuns(kind: string): string | undefined {
  if (kind === REPLACE_TAIL.kind) return REPLACE_TAIL.runs;
  return RUNTIMES.find((r) => r.fineTuning?.tailKind === kind)?.fineTuning?.tailRuns;
}

/** Whether rungs 2-3 (fine-tuning blocks) can run on this model: its runtime says so. */
export function canFineTune(entry: ModelEntry): boolean {
  return isRuntimeFormat(entry.format) && runtimeFor(entry.format).fineTuning !== undefined;
}
