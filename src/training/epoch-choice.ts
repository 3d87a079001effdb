// Which epoch of a fine-tuning run to keep, and when to stop it, judged on the inner validation split with a paired
// test against epoch 0 (the L-BFGS head on the pretrained tail, what rung 1 would have given). The best fine-tuned
// epoch is the maximum over several noisy epochs, so it beats epoch 0 by a point or two on a small inner split by luck
// alone: it is kept only when its gain exceeds the paired standard error of the difference on the same rows (the
// one-standard-error rule select-l2.ts uses for the L2 strength). Patience counts from the best fine-tuned epoch, not
// from epoch 0, so the dip of the first epochs after unfreezing does not end a run whose inner score still climbs.
// When the best passes, a decaying schedule (rung 3) keeps the latest epoch within a paired SE of it (NEAR_BEST_SE).
import { pairedStdErr } from '../solvers/select-l2.js';

/** A fine-tuned epoch is kept when it beats epoch 0 by more than this many paired standard errors on the inner split. */
export const KEEP_MARGIN_SE = 1;
/** A run is "clearly behind" when its best fine-tuned epoch trails epoch 0 by more than this many paired SEs... */
export const BEHIND_MARGIN_SE = 2;
/** ...after at least this many fine-tuned epochs (the first one is the dip after unfreezing)... */
export const BEHIND_MIN_EPOCHS = 2;

/** One epoch's score on the inner split: accuracy, loss, and which rows it got right (row order fixed). */
export interface EpochScore {
  epoch: number;
  acc: number;
  loss: number;
  correct: Uint8Array;
}

export interface EpochVerdict {
  /** The epoch kept: when the best fine-tuned epoch passes the test, it or (a decaying schedule) the latest epoch
   * near it; else 0. */
  kept: number;
  /** The best fine-tuned epoch and its gain over epoch 0 (points), with the paired standard error (points). */
  bestFinetuned: number;
  gainPoints: number;
  stdErrPoints: number;
  /** One line: what was compared and why the kept epoch won. */
  why: string;
}

const pts = (x: number) => `${x >= 0 ? '+' : ''}${x.toFixed(1)}`;

/**
 * The one-sided level of the keep margin: under the normal, a gain above 1 SE happens by chance 15.9 % of the time.
 * On a small inner split the normal is wrong: with 8 inner images one image right instead of wrong is "+12.5 pts >
 * 1 paired SE" (bench:auto, cats/dogs 25/class: kept epoch 7, val 0.977 against the head's 0.981). So the gain must
 * also pass the exact sign test (McNemar's) at that level: among the images exactly one of the two gets right, the
 * fine-tuned epoch's share must be unlikely under a coin flip. It needs 3 such images with none the other way.
 */
export const KEEP_SIGN_TEST_LEVEL = 0.1587;

/** P(X >= wins) for X ~ Binomial(wins + losses, 1/2): the exact one-sided sign test of wins against losses. */
export function signTestP(wins: number, losses: number): number {
  const n = wins + losses;
  if (n === 0) return 1;
  // Sum of C(n, k) / 2^n for k >= wins, in logs (n is at most the inner split's size).
  let logC = 0; // log C(n, 0)
  let p = 0;
  for (let k = 0; k <= n; k++) {
    if (k > 0) logC += Math.log(n - k + 1) - Math.log(k);
    if (k >= wins) p += Math.exp(logC - n * Math.LN2);
  }
  return Math.min(1, p);
}

/**
 * The paired comparison of the best fine-tuned epoch with epoch 0 on the same inner rows: whether fine-tuning beat the
 * head. When it did, the epoch kept is `later` if given (a later epoch within NEAR_BEST_SE of the best), else the best.
 */
export function chooseEpoch(
  head: EpochScore,
  best: EpochScore,
  weights?: Float64Array,
  later?: { epoch: number; acc: number },
): EpochVerdict {
  const gain = (best.acc - head.acc) * 100;
  const se = pairedStdErr(best.correct, head.correct, weights) * 100;
  let wins = 0;
  let losses = 0;
  for (let i = 0; i < head.correct.length; i++) {
    if (best.correct[i] > head.correct[i]) wins++;
    else if (best.correct[i] < head.correct[i]) losses++;
  }
  const signP = signTestP(wins, losses);
  const beats = gain > KEEP_MARGIN_SE * se + 1e-9 && signP <= KEEP_SIGN_TEST_LEVEL;
  const pc = (x: number) => `${(x * 100).toFixed(1)} %`;
  const scores = `epoch 0 (the head) ${pc(head.acc)}, best fine-tuned epoch ${best.epoch} ${pc(best.acc)} on ${head.correct.length} inner-val images`;
  const near = later && later.epoch > best.epoch ? later : undefined;
  const why = beats
    ? `kept epoch ${near?.epoch ?? best.epoch}: ${scores}; ${pts(gain)} pts > ${KEEP_MARGIN_SE} paired SE (${se.toFixed(1)} pts)${near ? `; epoch ${near.epoch} (${pc(near.acc)}) is the latest within ${NEAR_BEST_SE} paired SE of the best, further down the decay` : ''}`
    : gain > KEEP_MARGIN_SE * se + 1e-9
      ? `kept epoch 0 (the head): ${scores}; ${pts(gain)} pts rests on ${wins} image${wins === 1 ? '' : 's'} against ${losses} (sign test p ${signP.toFixed(2)} > ${KEEP_SIGN_TEST_LEVEL.toFixed(2)}), too few to show a gain`
      : gain <= 0
        ? `kept epoch 0 (the head): ${scores}; fine-tuning did not beat it (${pts(gain)} pts, paired SE ${se.toFixed(1)} pts)`
        : `kept epoch 0 (the head): ${scores}; ${pts(gain)} pts is within ${KEEP_MARGIN_SE} paired SE (${se.toFixed(1)} pts) of it, so fine-tuning did not show a gain`;
  return {
    kept: beats ? (near?.epoch ?? best.epoch) : 0,
    bestFinetuned: best.epoch,
    gainPoints: gain,
    stdErrPoints: se,
    why,
  };
}

/**
 * Whether a run should stop: patience epochs since the best fine-tuned epoch, or (a try, `stopWhenBehind`: auto's)
 * clearly behind epoch 0: after BEHIND_MIN_EPOCHS epochs the best fine-tuned one trails it by more than
 * BEHIND_MARGIN_SE paired SEs and the last epoch did not improve on it. `sinceBest` counts epochs since the best
 * fine-tuned one.
 */
export function shouldStop(
  head: EpochScore,
  best: EpochScore | undefined,
  epoch: number,
  sinceBest: number,
  patience: number,
  weights?: Float64Array,
  stopWhenBehind = false,
): 'patience' | 'behind' | undefined {
  if (sinceBest >= patience) return 'patience';
  if (!stopWhenBehind || !best || epoch < BEHIND_MIN_EPOCHS || sinceBest === 0) return undefined;
  const gap = head.acc - best.acc;
  return gap > BEHIND_MARGIN_SE * pairedStdErr(best.correct, head.correct, weights) + 1e-9 ? 'behind' : undefined;
}

/**
 * On a decaying schedule (rung 3's cosine) the kept epoch is the latest within this many paired SEs of the best
 * fine-tuned epoch: epochs that close are tied on the inner split, the best of them won by noise, and the later one has
 * gone further down the decay, where a run settles. (tf_flowers5 at 3600 s: twelve epochs within four images of each
 * other on 180 inner images; the best, epoch 4, scored 0.913 on val, the last 0.933.)
 */
export const NEAR_BEST_SE = 1;

/** Whether epoch `s` is within NEAR_BEST_SE paired standard errors of the best fine-tuned epoch on the same rows. */
export function nearBest(s: EpochScore, best: EpochScore, weights?: Float64Array): boolean {
  return best.acc - s.acc <= NEAR_BEST_SE * pairedStdErr(s.correct, best.correct, weights) + 1e-9;
}

/**
 * Where an epoch that just ended stands: whether it is the new best fine-tuned epoch (`best` undefined: none yet), and
 * whether it is now the one to keep: the best, or with `latestNearBest` (a decaying schedule) any later epoch near it.
 */
export function epochStanding(
  now: EpochScore,
  best: EpochScore | undefined,
  latestNearBest: boolean,
  weights?: Float64Array,
): { isBest: boolean; keep: boolean } {
  const isBest = improves(now, best);
  return { isBest, keep: isBest || (latestNearBest && !!best && nearBest(now, best, weights)) };
}

/** Whether epoch `s` beats the best fine-tuned epoch so far (accuracy, then loss). */
export function improves(s: { acc: number; loss: number }, best: { acc: number; loss: number } | undefined): boolean {
  return !best || s.acc > best.acc || (s.acc === best.acc && s.loss < best.loss);
}
