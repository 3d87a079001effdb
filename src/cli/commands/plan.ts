// `tl plan DATA`: what each rung would cost and bring on this data and machine, and what `--strategy auto` picks.
import type { Command } from 'commander';
import { loadDataset } from '../../data/dataset.js';
import { addTableOptions } from '../options.js';
import { table } from '../output.js';
import { addBackboneOptions, blockTable, type BackboneOpts } from './common.js';
import { isFusedSpec } from '../../backbone/fused.js';
import { domainSummary } from '../../plan/domain-rule.js';
import type { Dataset } from '../../data/dataset.js';

interface PlanCliOpts extends BackboneOpts {
  val: number;
  seed: number;
  allowOutside?: boolean;
  timeBudget?: number;
  freeze?: number;
  trainLast?: number;
  json?: boolean;
}

export function registerPlanCommand(program: Command): void {
  // The options it shares with `tl train` come from the option table (src/options/train-options.ts).
  addTableOptions(
    addBackboneOptions(
      program
        .command('plan')
        .argument('<data>', 'a dataset folder or CSV, as for `tl train`')
        .description(
          'estimate time and expected gain of each rung (head, partial, full) without training; list the blocks one can freeze',
        ),
    ),
    ['val', 'seed', 'allowOutside', 'timeBudget', 'freeze', 'trainLast'],
    {
      help: {
        seed: 'seed of the split',
        timeBudget: 'how long training may take, in seconds',
        freeze: 'plan partial fine-tuning with the first N blocks frozen',
        trainLast: 'plan partial fine-tuning of the last K blocks',
      },
    },
  )
    .option('--json', 'print the plan as JSON')
    .addHelpText('after', '\nExamples:\n  tl plan my-photos/\n  tl plan data/ --time-budget 1800 --train-last 3')
    .action(async (data: string, opts: PlanCliOpts) => {
      const dataset = loadDataset(data, { valFraction: opts.val, seed: opts.seed, allowOutside: opts.allowOutside });
      if (isFusedSpec(opts.model)) return planFusedCommand(dataset, opts);
      const [{ findModel }, { planTraining }, { loadNetwork }] = await Promise.all([
        import('../../backbone/registry.js'),
        import('../../plan/plan.js'),
        import('../../finetune/network.js'),
      ]);
      const plan = await planTraining(dataset, {
        model: opts.model,
        modelPath: opts.modelPath,
        timeBudget: opts.timeBudget,
        freeze: opts.freeze,
        trainLast: opts.trainLast,
        alwaysMeasure: true,
        dataArg: data,
      });
      if (opts.json) return void process.stdout.write(JSON.stringify(plan, null, 2) + '\n');
      const say = (s: string) => process.stdout.write(s + '\n');
      say(
        `${dataset.classes.length} classes, ${plan.trainImages} training images (${plan.imagesPerClass}/class); time budget ${plan.timeBudget} s`,
      );
      say(
        table(
          plan.estimates.map((e) => [
            e.rung,
            `~${Math.round(e.seconds)} s`,
            e.stages.map((x) => `${x.stage} ${Math.round(x.seconds)}`).join(' + '),
            e.expectedGain === null ? 'n/a' : `${e.expectedGain >= 0 ? '+' : ''}${e.expectedGain.toFixed(1)}`,
            e.detail,
          ]),
          ['rung', 'time', 'stages (s)', 'gain (pts)', 'what'],
        ),
      );
      if (plan.domain) say(`ImageNet-likeness: ${domainSummary(plan.domain)}`);
      say(
        `throughput ${plan.throughput.measured ? 'measured now' : 'assumed'}: frozen part ~${plan.throughput.extract.toFixed(0)} img/s, partial training ~${plan.throughput.partialTrain.toFixed(0)} img/s, full ~${plan.throughput.fullTrain.toFixed(1)} img/s`,
      );
      const net = await loadNetwork(findModel(opts.model), { path: opts.modelPath });
      say(`\nblocks of ${net.entry.id} (--freeze N freezes the first N; --train-last K trains the last K):`);
      say(blockTable(net.units));
      say(`\nauto: ${plan.reason}`);
      if (plan.backboneAdvice) say(`\nbackbone: ${plan.backboneAdvice.line}`);
    });
}

/** A fused model (--model a+b): head only; its parts' extraction and the head fit. */
async function planFusedCommand(dataset: Dataset, opts: PlanCliOpts): Promise<void> {
  const [{ findModel }, { planFused }, { printFusedPlan }] = await Promise.all([
    import('../../backbone/registry.js'),
    import('../../plan/fused.js'),
    import('./plan-fused.js'),
  ]);
  const plan = await planFused(dataset, findModel(opts.model));
  if (opts.json) return void process.stdout.write(JSON.stringify(plan, null, 2) + '\n');
  printFusedPlan(plan, (s) => process.stdout.write(s + '\n'));
}
