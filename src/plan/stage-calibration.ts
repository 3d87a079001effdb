// From a probe's raw stage time to the run's: the measured correction per rung and stage (bench/auto.ts fits it on
// every bench:auto run and checks it leave-one-dataset-out with these same functions).
import type { Rung } from './decide.js';

export interface StageCalibration {
  /** Actual / probed seconds, by `${rung}:${stage}` (1 where absent). */
  factors: Record<string, number>;
  /**
   * Seconds per image (train + val) the extract stage pays on top of its probe, by rung: reading every cached vector
   * back and hashing every file, which the probe (cold work on a few uncached images) leaves out. A partial run on a
   * fully cached 5000-image set spent 6.5 s there against a 0.7 s probe; rung 3 reads decoded images back (~8 ms each).
   */
  cachedReadSeconds: Partial<Record<Rung, number>>;
}

/**
 * Fitted by `npm run bench:auto -- --analyze` on the 50 locked bench:auto runs of 2026-11-30 (the probes' own times
 * recovered from the factors shipped when each ran): median actual/probed per stage (stages under 3 s are too noisy to
 * count), the epoch per epoch; extraction: the per-image term from the runs that found everything cached, the factor
 * from the rest. The probes overestimate extraction and the partial epoch (x0.65, x0.73); rung 3's epoch is the
 * exception (below).
 */
export const SHIPPED_CALIBRATION: StageCalibration = {
  factors: {
    'head:extract': 0.74,
    'head:head-fit': 0.84,
    'partial:extract': 0.65,
    'partial:head-fit': 0.93,
    'partial:epochs': 0.73,
    'partial:final': 1,
    'full:extract': 1.88,
    'full:head-fit': 0.82,
    // Not the bench's fit (1.14, from eight 25-50/class runs with epochs of 5-50 s, where per-epoch fixed costs weigh
    // and the old two-step probe still timed warm-up): on EuroSAT whole it made a quiet 144 s epoch read 212 s. With
    // the fastest-of-four probe (full-probe.ts) the step's own rate needs no factor (docs/auto.md, "Rung 3's time estimate").
    'full:epochs': 1,
    'full:final': 0.83,
  },
  cachedReadSeconds: { head: 0.00027, partial: 0.00075, full: 0.00758 },
};

/** A stage's correction: estimated = probed x factor + images x perImage (the per-image term: extraction only). */
function terms(rung: Rung, stage: string, cal: StageCalibration) {
  return {
    factor: cal.factors[`${rung}:${stage}`] ?? 1,
    perImage: stage === 'extract' ? (cal.cachedReadSeconds[rung] ?? 0) : 0,
  };
}

/** A stage's estimated seconds from its probed seconds; `images`: train + val images the run reads. */
export function calibratedStageSeconds(
  rung: Rung,
  stage: string,
  probedSeconds: number,
  images: number,
  cal: StageCalibration = SHIPPED_CALIBRATION,
): number {
  const { factor, perImage } = terms(rung, stage, cal);
  return probedSeconds * factor + images * perImage;
}

/** The probed seconds behind a stage estimate made with `cal` (the inverse of calibratedStageSeconds). */
export function probedStageSeconds(
  rung: Rung,
  stage: string,
  estimatedSeconds: number,
  images: number,
  cal: StageCalibration,
): number {
  const { factor, perImage } = terms(rung, stage, cal);
  return Math.max(0, estimatedSeconds - images * perImage) / factor;
}
