// The ImageNet-likeness rule of domain.ts as pure arithmetic on the ImageNet head's probabilities (no I/O: the CLI
// imports its summary without loading a backbone).

/**
 * Below this many effective ImageNet classes per dataset class, a dataset counts as far from ImageNet. Measured on 64
 * images of each shared set (two samples): eurosat 0.38-0.43 and pbc_bloodcells8 0.25-0.26 (far), the photo sets
 * 1.18-6.1 (imagewoof lowest); 0.75 sits between, and every leave-one-dataset-out refit of the midpoint classifies
 * the set left out right (docs/auto.md).
 */
export const FAR_CLASSES_PER_CLASS = 0.75;
/**
 * The dataset classes the effective count is divided by are capped here: 64 sampled images cannot show more than a few
 * dozen distinct ImageNet classes, so a 100-class photo set would otherwise look far. 10 is the most classes of a
 * shared set the threshold was measured on.
 */
export const DOMAIN_CLASS_CAP = 10;

export interface DomainCheck {
  /** Mean over the sampled images of the ImageNet head's largest class probability (reported; not the rule). */
  meanTop1: number;
  /** exp(mutual information between image and ImageNet class) / min(classes, DOMAIN_CLASS_CAP): the rule's number. */
  classesPerClass: number;
  images: number;
  far: boolean;
}

/** exp(I(image; class)) from the head's probability rows: how many ImageNet classes the sample is sorted into. */
export function effectiveImagenetClasses(probabilities: ArrayLike<number>[]): number {
  if (!probabilities.length) return 0;
  const C = probabilities[0].length;
  const mean = new Float64Array(C);
  let condEntropy = 0;
  for (const p of probabilities)
    for (let j = 0; j < C; j++) {
      const v = p[j];
      mean[j] += v / probabilities.length;
      if (v > 0) condEntropy -= (v * Math.log(v)) / probabilities.length;
    }
  let margEntropy = 0;
  for (const v of mean) if (v > 0) margEntropy -= v * Math.log(v);
  return Math.exp(Math.max(0, margEntropy - condEntropy));
}

/** The rule, from the head's probability rows on the sample and the dataset's number of classes. */
export function judgeDomain(probabilities: ArrayLike<number>[], classes: number): DomainCheck {
  let top1 = 0;
  for (const p of probabilities) {
    let m = 0;
    for (let j = 0; j < p.length; j++) if (p[j] > m) m = p[j];
    top1 += m;
  }
  const classesPerClass = effectiveImagenetClasses(probabilities) / Math.max(1, Math.min(classes, DOMAIN_CLASS_CAP));
  return {
    meanTop1: top1 / Math.max(1, probabilities.length),
    classesPerClass,
    images: probabilities.length,
    far: classesPerClass < FAR_CLASSES_PER_CLASS,
  };
}

/** One line for the plan and the run's log: what the check measured and what it concluded. */
export function domainSummary(d: DomainCheck): string {
  return (
    `the ImageNet head sorts ${d.images} training images into ${d.classesPerClass.toFixed(2)} distinct ImageNet ` +
    `classes per class (mean confidence ${d.meanTop1.toFixed(2)}): ` +
    `${d.far ? 'far from ImageNet' : 'photo-like'} (below ${FAR_CLASSES_PER_CLASS} counts as far)`
  );
}
