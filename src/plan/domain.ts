// How far a dataset is from ImageNet, judged by the backbone's own 1000-way head on a sample of its training images:
// on photos it is confident about something (mean top-1 probability 0.50-0.81 on the shared photo sets), on
// satellite patches it is not (0.15 on EuroSAT). Far from ImageNet, the top blocks' ImageNet-specific features are
// the wrong thing to start from, and new units on a mid-level cut win (docs/fine-tuning.md).
import type { Dataset } from '../data/dataset.js';
import type { ResolveOptions } from '../backbone/resolve.js';
import { loadBackbone } from '../backbone/load.js';
import { preprocess } from '../data/image.js';
import { DEFAULT_MODEL_ID } from '../backbone/zoo.js';
import type { InputTensorData } from '../backbone/types.js';

/** Below this mean top-1 probability of the ImageNet head, a dataset counts as far from ImageNet. */
export const FAR_FROM_IMAGENET_TOP1 = 0.3;
export const DOMAIN_SAMPLE = 64;

export interface DomainCheck {
  /** Mean over the sampled images of the ImageNet head's largest class probability. */
  meanTop1: number;
  images: number;
  far: boolean;
}

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
    let sum = 0;
    for (let i = 0; i < inputs.length; i += 32) {
      const { probabilities } = await backbone.embedAndClassify(inputs.slice(i, i + 32));
      for (const p of probabilities) sum += p.reduce((m, v) => (v > m ? v : m), 0);
    }
    const meanTop1 = sum / inputs.length;
    return { meanTop1, images: inputs.length, far: meanTop1 < FAR_FROM_IMAGENET_TOP1 };
  } catch {
    // A custom backbone without an ImageNet head: no opinion.
    return undefined;
  } finally {
    await backbone.dispose();
  }
}
