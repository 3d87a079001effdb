// The learning-rate schedule of fine-tuning: a linear warm-up over the first epoch (Adam's first steps move every
// weight by about the full rate whatever its gradient, and after the L-BFGS head the gradients are tiny), then either
// the full rate (rung 2) or a cosine decay to zero at the last step of the last epoch (rung 3: the whole network
// settles in the last epochs instead of bouncing around the minimum at the full rate).

export type RateSchedule = 'constant' | 'cosine';

/**
 * The factor (0..1] the base rates are multiplied by at step `step` (0-based) of `totalSteps`, after `warmupSteps`
 * steps of linear warm-up. Cosine ends at a small floor, not 0, so the last step still moves.
 */
export function rateFactor(schedule: RateSchedule, step: number, warmupSteps: number, totalSteps: number): number {
  if (step < warmupSteps) return (step + 1) / warmupSteps;
  if (schedule === 'constant') return 1;
  const span = Math.max(1, totalSteps - warmupSteps);
  const t = Math.min(1, (step - warmupSteps) / span);
  return Math.max(0.01, 0.5 * (1 + Math.cos(Math.PI * t)));
}
