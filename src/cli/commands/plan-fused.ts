// `tl plan DATA --model a+b`: the fused model's plan (src/plan/fused.ts) as a table.
import type { FusedPlan } from '../../plan/fused.js';
import { table } from '../output.js';

export function printFusedPlan(plan: FusedPlan, say: (s: string) => void): void {
  say(`${plan.model}: ${plan.trainImages} training + ${plan.valImages} val images`);
  say(
    table(
      plan.parts.map((p) => [
        p.id,
        p.dim,
        `${p.uncached} of ${plan.trainImages + plan.valImages}`,
        `~${p.assumedImagesPerSecond}`,
        `~${Math.round(p.extractSeconds)} s`,
      ]),
      ['part', 'dim', 'to extract', 'img/s (assumed)', 'extraction'],
    ),
  );
  say(`head fit (L2 by 5-fold CV) ~${Math.round(plan.headSeconds)} s; total ~${Math.round(plan.seconds)} s`);
  say(`\nauto: head (${plan.reason})`);
}
