// auto's time budget held while the epochs run, not only in the plan. The plan sizes a try's epochs from probed step
// times, and those can be far off: on blood cells rung 3's epochs ran 1.6-2.2x the estimate, and a run planned at
// 667 s took 1,017 s of a 900 s budget. So the count is fitted again before the first epoch and after each one, from
// the epochs as measured; a cut count shortens the cosine decay too, so the run still ends on its low-rate epochs.

/** When a try's time is up, and the plan's estimate of the stages whose time the measured epochs scale. */
export interface EpochBudget {
  /** Date.now() by which the try must be over: its epochs and its final stage. */
  endsAt: number;
  /** The plan's seconds for one epoch (what the first epoch is fitted on, before one has been measured). */
  epochSeconds: number;
  /** The plan's seconds for the final stage (the tail's features of train and val, metrics) after the last epoch. */
  finalSeconds: number;
}

/**
 * The epochs that fit: `done` finished epochs plus as many more as end before `endsAt` with the final stage after
 * them. The last epoch's measured seconds stand for the next ones, and scale the final stage's estimate by the same
 * ratio when the plan was slow (a final stage is forward passes at the same size). Never fewer than `done`, never
 * more than `planned`, and at least one: a try that trains no epoch is no try.
 */
export function epochsWithinBudget(
  budget: EpochBudget,
  at: { done: number; planned: number; now: number; lastEpochSeconds?: number },
): number {
  const per = at.lastEpochSeconds ?? budget.epochSeconds;
  const slower = Math.max(1, per / Math.max(1e-9, budget.epochSeconds));
  const left = (budget.endsAt - at.now) / 1000 - budget.finalSeconds * slower;
  const more = Math.max(0, Math.floor(left / Math.max(1e-9, per)));
  return Math.min(at.planned, Math.max(at.done + more, at.done, 1));
}
