// When a stronger backbone is the better lever than a deeper rung (issue 27): frozen features cap rung 1, and on
// fine-grained sets and sets unlike ImageNet the self-supervised transformers' features are far better than a 2018
// CNN's (DINOv2 linear probes: Food-101 89.1 %, Flowers 99.6 %, arXiv 2304.07193 Table 8). Pure: from the backbone
// in use, the zoo, and the ImageNet-likeness check. Only for images the check calls far (domain-rule.ts: microscopy
// and satellite patches, not everyday photos): it cannot yet tell a fine-grained photo set from everyday photos, and
// advising on those would send cats-and-dogs users to a 25x slower backbone for nothing.
import type { ModelEntry } from '../backbone/types.js';
import type { DomainCheck } from './domain.js';

/** A suggestion needs this many ImageNet points more than the backbone in use (linear probe vs its figure). */
export const MIN_IMAGENET_LEAD = 0.05;

export interface BackboneAdvice {
  /** The zoo id to try. */
  model: string;
  /** One line: why, the published numbers and their source, and the commands. */
  line: string;
}

export function backboneAdvice(
  inUse: ModelEntry,
  zoo: readonly ModelEntry[],
  domain: DomainCheck | undefined,
): BackboneAdvice | undefined {
  if (!domain?.far) return undefined;
  // The smallest download among the feature extractors with published linear probes that lead the one in use.
  const better = zoo
    .filter((m) => m.imagenetMetric === 'linear' && m.linearProbes && m.id !== inUse.id)
    .filter((m) => m.imagenetTop1 >= inUse.imagenetTop1 + MIN_IMAGENET_LEAD)
    .sort((a, b) => size(a) - size(b))[0];
  if (!better) return undefined;
  const probes = better.linearProbes!.results.map((r) => `${r.dataset} ${(r.top1 * 100).toFixed(1)} %`).join(', ');
  const why = `the images are far from ImageNet: its own head sorts them into ${domain.classesPerClass.toFixed(2)} ImageNet classes per class`;
  return {
    model: better.id,
    line:
      `a stronger backbone may gain more than a deeper rung here (${why}): ${better.id} ` +
      `(${(better.imagenetTop1 * 100).toFixed(1)} % ImageNet linear vs ${(inUse.imagenetTop1 * 100).toFixed(1)} % ${inUse.imagenetMetric ?? 'top-1'}; ` +
      `linear probes ${probes}: ${better.linearProbes!.source}). Try: tl models pull ${better.id}, then ` +
      `tl train DATA --model ${better.id} (rung 1 only; extraction is slower on a CPU, once per photo)`,
  };
}

const size = (m: ModelEntry) => m.files.reduce((a, f) => a + f.size, 0);
