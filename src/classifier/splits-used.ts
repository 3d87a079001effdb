// The parts every rung shares for keeping the validation split out of its decisions: the unknown detector fitted and
// calibrated on training images only (its flag rate then measured on val), and the `splits` record that says which
// split each number is on.
import type { Metrics } from '../eval/metrics.js';
import {
  fitUnknownDetectorCounted,
  unknownDistance,
  type UnknownCalibrationCount,
  type UnknownDetector,
} from './unknown.js';
import type { SplitsUsed } from './config.js';

/** The detector fitted on train, how its threshold was calibrated, and the share of val it flags. */
export interface UnknownFit {
  unknown: UnknownDetector;
  calibrated?: UnknownCalibrationCount;
  flagRateOnVal?: number;
}

/**
 * Threshold from the training images alone (conformal: each scored as a new image would be, fitUnknownDetector;
 * never from val), then the share of validation images it flags, measured (the stated rate is checked, not assumed).
 */
export function fitUnknownOnTrain(
  trainFeatures: Float32Array[],
  trainLabels: Int32Array,
  numClasses: number,
  valFeatures: readonly Float32Array[],
): UnknownFit {
  const { detector: unknown, calibrated } = fitUnknownDetectorCounted(trainFeatures, trainLabels, numClasses);
  if (!valFeatures.length) return { unknown, calibrated };
  let flagged = 0;
  for (const f of valFeatures) if (unknownDistance(unknown, f) > unknown.threshold) flagged++;
  return { unknown, calibrated, flagRateOnVal: flagged / valFeatures.length };
}

export function splitsUsed(
  metrics: Metrics,
  valImages: number,
  decisions: SplitsUsed['decisions'],
  unknown: UnknownFit,
): SplitsUsed {
  return {
    reported: {
      split: valImages ? 'val' : 'train (no validation images)',
      images: metrics.count,
      accuracy: metrics.accuracy,
    },
    decisions,
    unknown: {
      calibratedOn: unknownCalibration(unknown.unknown, unknown.calibrated),
      targetFlagRate: unknown.unknown.falseUnknownRate,
      flagRateOnVal: unknown.flagRateOnVal,
    },
  };
}

/**
 * The `calibratedOn` text: the detector's actual rule, "train, leave-one-out (mean cosine distance to the 5 nearest
 * training features)"; when the training images outnumber the kept references, "train, leave-one-out + 4000 held out
 * of the references (...)". k comes from the detector, since fitUnknownDetector caps it on tiny training sets.
 */
export function unknownCalibration(det: Pick<UnknownDetector, 'k'>, calibrated?: UnknownCalibrationCount): string {
  const k = det.k ?? 1;
  const score =
    k === 1
      ? 'cosine distance to the nearest training feature'
      : `mean cosine distance to the ${k} nearest training features`;
  const heldOut = calibrated?.heldOut ? ` + ${calibrated.heldOut} held out of the references` : '';
  return `train, leave-one-out${heldOut} (${score})`;
}

/** "inner val 97.2% (36 images held out of train; chose the best epoch), val 96.1% (153 images; read once, for this report)". */
export function formatSplits(s: SplitsUsed): string {
  const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
  const d = s.decisions;
  const chose = d.decided.length ? `; chose the ${d.decided.join(' and the ')}` : '';
  const decided =
    d.accuracy === undefined || d.split === 'none'
      ? ''
      : d.split === 'inner-val'
        ? `inner val ${pct(d.accuracy)} (${d.images} images held out of train${chose}), `
        : `CV on train ${pct(d.accuracy)} (${d.images} images${chose}), `;
  const reported =
    s.reported.split === 'val'
      ? `val ${pct(s.reported.accuracy)} (${s.reported.images} images; read once, for this report)`
      : `train ${pct(s.reported.accuracy)} (no validation images)`;
  return `${decided}${reported}`;
}
