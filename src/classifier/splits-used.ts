// The parts every rung shares for keeping the validation split out of its decisions: the unknown detector fitted and
// calibrated on training images only (its flag rate then measured on val), and the `splits` record that says which
// split each number is on.
import type { Metrics } from '../eval/metrics.js';
import { fitUnknownDetector, unknownDistance, type UnknownDetector } from './unknown.js';
import type { SplitsUsed } from './train-types.js';

/**
 * Threshold from the training images' leave-one-out nearest-neighbour distances (never from val), then the share of
 * validation images it flags, measured (the stated rate is checked, not assumed).
 */
export function fitUnknownOnTrain(
  trainFeatures: Float32Array[],
  trainLabels: Int32Array,
  numClasses: number,
  valFeatures: readonly Float32Array[],
): { unknown: UnknownDetector; flagRateOnVal?: number } {
  const unknown = fitUnknownDetector(trainFeatures, trainLabels, numClasses);
  if (!valFeatures.length) return { unknown };
  let flagged = 0;
  for (const f of valFeatures) if (unknownDistance(unknown, f) > unknown.threshold) flagged++;
  return { unknown, flagRateOnVal: flagged / valFeatures.length };
}

export function splitsUsed(
  metrics: Metrics,
  valImages: number,
  decisions: SplitsUsed['decisions'],
  unknown: { unknown: UnknownDetector; flagRateOnVal?: number },
): SplitsUsed {
  return {
    reported: { split: valImages ? 'val' : 'train (no validation images)', images: metrics.count, accuracy: metrics.accuracy },
    decisions,
    unknown: { calibratedOn: 'train (leave-one-out nearest-neighbour distances)', targetFlagRate: unknown.unknown.falseUnknownRate, flagRateOnVal: unknown.flagRateOnVal },
  };
}

/** "inner val 97.0% (60 images), val 96.0%": the decision split's score beside the reported one, for summaries. */
export function formatSplits(s: SplitsUsed): string {
  const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
  const d = s.decisions;
  const where = d.split === 'inner-val' ? 'inner val (held out of train)' : d.split === 'cv-on-train' ? `${d.decided.join(', ')} by CV on train` : '';
  const decided = d.accuracy !== undefined && where ? `${where} ${pct(d.accuracy)} (${d.images} images), ` : '';
  const reported = `${s.reported.split === 'val' ? 'val' : 'train'} ${pct(s.reported.accuracy)} (${s.reported.images} images)`;
  return `${decided}${reported}`;
}
