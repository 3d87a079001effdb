// "Is this photo like anything seen in training?" A softmax always picks one of the classes, often with high
// confidence even for a photo of a wall; the distance of the feature vector to the nearest class centroid does not
// have that problem. The threshold is a high quantile of that distance over in-distribution (validation) images.

export interface UnknownDetector {
  method: 'centroid-cosine';
  /** One L2-normalized centroid per class (numClasses x dim). */
  centroids: Float32Array;
  dim: number;
  /** Images whose distance exceeds this are flagged unknown. */
  threshold: number;
  /** Share of in-distribution images allowed to be flagged (the quantile used). */
  falseUnknownRate: number;
}

function normalized(v: Float32Array): Float32Array {
  let n = 0;
  for (const x of v) n += x * x;
  n = Math.sqrt(n) || 1;
  return v.map((x) => x / n);
}

/** Cosine distance (1 - cos) from a feature vector to the nearest class centroid. */
export function centroidDistance(det: Pick<UnknownDetector, 'centroids' | 'dim'>, feature: Float32Array): number {
  const f = normalized(feature);
  let best = Infinity;
  for (let c = 0; c * det.dim < det.centroids.length; c++) {
    let dot = 0;
    for (let i = 0; i < det.dim; i++) dot += det.centroids[c * det.dim + i] * f[i];
    best = Math.min(best, 1 - dot);
  }
  return best;
}

export function fitUnknownDetector(
  trainFeatures: Float32Array[],
  trainLabels: Int32Array,
  numClasses: number,
  calibration: Float32Array[],
  falseUnknownRate = 0.02,
): UnknownDetector {
  const dim = trainFeatures[0].length;
  const sums = new Float64Array(numClasses * dim);
  for (let i = 0; i < trainFeatures.length; i++) {
    const f = normalized(trainFeatures[i]);
    for (let d = 0; d < dim; d++) sums[trainLabels[i] * dim + d] += f[d];
  }
  const centroids = new Float32Array(numClasses * dim);
  for (let c = 0; c < numClasses; c++) {
    const row = normalized(Float32Array.from(sums.subarray(c * dim, (c + 1) * dim)));
    centroids.set(row, c * dim);
  }
  const det = { method: 'centroid-cosine' as const, centroids, dim, threshold: Infinity, falseUnknownRate };
  const distances = calibration.map((f) => centroidDistance(det, f)).sort((a, b) => a - b);
  if (distances.length) det.threshold = distances[Math.min(distances.length - 1, Math.floor((1 - falseUnknownRate) * distances.length))];
  return det;
}
