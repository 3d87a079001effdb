// Whether rungs 2-3 can train a backbone, and why not: the one rule that the trainer (network.ts, before it lists a
// model's blocks) and the server's backbone list (fineTunable) both ask.
import type { ModelEntry } from '../backbone/types.js';
import type { FineTuning } from '../backbone/runtimes/types.js';
import { listModels } from '../backbone/registry.js';
import { canFineTune, runtimeFor } from '../backbone/runtimes/registry.js';
import { fusedFineTuneError } from '../backbone/fused.js';
import { TlError } from '../util/errors.js';

const HEAD_ONLY_HINT =
  'Use --strategy head (rung 1): a new softmax on its frozen features, which is what DINOv2 and CLIP features are made for.';

/**
 * The runtime's fine-tuning, or why there is none for this model (its description alone decides). A format no runtime
 * registered throws runtimeFor's error.
 */
function fineTuningFor(entry: ModelEntry): FineTuning | TlError {
  if (entry.parts) return fusedFineTuneError(entry.id);
  const ft = runtimeFor(entry.format).fineTuning;
  if (ft) return ft;
  const ok = listModels()
    .filter(canFineTune)
    .map((m) => m.id);
  return new TlError(
    `${entry.id} (${entry.format}) cannot be fine-tuned: its runtime has no trainable tail`,
    `Use --strategy head, or a model that can: ${ok.join(', ')}.`,
  );
}

/** The runtime's fine-tuning for `entry`; throws the refusal when its description rules it out. */
export function fineTuningOf(entry: ModelEntry): FineTuning {
  const ft = fineTuningFor(entry);
  if (ft instanceof TlError) throw ft;
  return ft;
}

/**
 * Why rungs 2-3 cannot train `entry` (undefined: they can): a fused model, a runtime without a trainable tail, or a
 * graph its runtime's tail cannot train (a transformer's), read from the model's files in `dir`. Without `dir` (the
 * model is not on disk yet) its description stands in for the graph: a feature extractor, whose ImageNet figure is
 * a linear probe's or zero-shot (no ImageNet classifier), is rung 1 only.
 */
export async function fineTuneRefusal(entry: ModelEntry, dir?: string): Promise<Error | undefined> {
  const ft = fineTuningFor(entry);
  if (ft instanceof TlError) return ft;
  if (dir !== undefined) return ft.refusal?.(entry, dir);
  const metric = entry.imagenetMetric ?? 'top-1';
  if (metric === 'top-1') return undefined;
  return new TlError(
    `${entry.id} is a feature extractor (its ImageNet figure is ${metric}: it has no ImageNet classifier): fine-tuning (rungs 2-3) trains the blocks of CNN classifiers only`,
    HEAD_ONLY_HINT,
  );
}
