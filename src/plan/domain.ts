// How far a dataset is from ImageNet, judged by the backbone's own 1000-way head on a sample of its training images.
// Its confidence alone (mean top-1 probability) does not tell: blood-cell micrographs score 0.45, as confident as
// cats/dogs (0.48) and flowers (0.50), because the head says "the same few wrong classes" with some conviction. What
// tells is how many different ImageNet classes the head sorts the sample into, confidently: the mutual information
// between image and predicted class, I = H(mean prediction) - mean H(prediction), as an effective number of classes
// exp(I), per class of the dataset. Photos give each of their classes one or more ImageNet classes of its own (1.2-5 on
// the five photo sets); satellite patches (0.38) and micrographs (0.26) get less than one: the ImageNet features do
// not even separate them into as many groups as the task has. Far from ImageNet, the top blocks' ImageNet-specific
// features are the wrong thing to start from, and new units on a mid-level cut win (docs/fine-tuning.md).
import type { Dataset } from '../data/dataset.js';
import type { ResolveOptions } from '../backbone/resolve.js';
import { loadBackbone } from '../backbone/load.js';
import { preprocess } from '../data/image.js';
import { DEFAULT_MODEL_ID } from '../backbone/zoo.js';
import type { InputTensorData } from '../backbone/types.js';
import { judgeDomain, type DomainCheck } from './domain-rule.js';

export {
  DOMAIN_CLASS_CAP,
  FAR_CLASSES_PER_CLASS,
  domainSummary,
  effectiveImagenetClasses,
  judgeDomain,
  type DomainCheck,
} from './domain-rule.js';
export const DOMAIN_SAMPLE = 64;

/** Samples up to `sample` training images evenly (deterministic) and scores them with the ImageNet head. */
export async function checkDomain(
  dataset: Dataset,
  opts: ResolveOptions & { model?: string; modelPath?: string; sample?: number } = {},
): Promise<DomainCheck | undefined> {
  const n = Math.min(opts.sample ?? DOMAIN_SAMPLE, dataset.train.length);
  if (!n) return undefined;
  const step = dataset.train.length / n;
  const paths = Array.from({ length: n }, (_, i) => dataset.train[Math.floor(i * step)].path);
  const backbone = await loadBackbone(opts.model ?? DEFAULT_MODEL_ID, { path: opts.modelPath });
  try {
    const inputs: InputTensorData[] = [];
    for (const p of paths) {
      try {
        inputs.push(await preprocess(p, backbone.input));
      } catch {
        // Unreadable files are reported by the run itself; the sample just skips them.
      }
    }
    if (!inputs.length) return undefined;
    const rows: ArrayLike<number>[] = [];
    for (let i = 0; i < inputs.length; i += 32) {
      const { probabilities } = await backbone.embedAndClassify(inputs.slice(i, i + 32));
      rows.push(...probabilities);
    }
    return judgeDomain(rows, dataset.classes.length);
  } catch {
    // A custom backbone without an ImageNet head: no opinion.
    return undefined;
  } finally {
    await backbone.dispose();
  }
}
