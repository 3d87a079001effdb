// `tl train DATA` and `tl demo`: train a classifier (any rung), print its curve and metrics, save the bundle.
import type { Command } from 'commander';
import { basename, resolve, join } from 'node:path';
import type { TrainEvent, TrainResult, HeadSpec, TrainOptions, Strategy } from '../../training/train.js';
import { formatCurve, renderHtmlReport } from '../../eval/report.js';
import { addTableOptions, libraryOptions } from '../options.js';
import { optionRows, type CliOptionName } from '../../options/train-options.js';
import { normaliseStrategy } from '../../options/normalise.js';
import { DEFAULT_MODEL_ID } from '../../backbone/zoo.js';
import { progressReporter, type ProgressReporter } from '../progress.js';
import { table, pct } from '../output.js';
import { warnSkipped, type BackboneOpts } from './common.js';
import { openQueue } from './queue-open.js';
import { humanOut, metricsJson, printMetrics, splitsSummary } from './metrics-output.js';
import { parseHeadSpec } from '../../classifier/head-spec.js';
import type { HistoryPoint } from '../../training/types.js';
import { InvalidArgumentError } from 'commander';
import type { DeviceRequest } from '../../engine/webgpu/device-request.js';
import { listenForStop } from '../signals.js';
import { exitTrainingStopped } from './train-stopped.js';

/** What commander parses: the table's options under their flags' names (--batch → batch), and the CLI's own. */
interface TrainCliOpts extends BackboneOpts {
  out?: string;
  json?: boolean;
  reuse?: boolean;
  strategy?: Strategy;
  device?: DeviceRequest;
  [flag: string]: unknown;
}

/** --head: the library's one head-spec parser (the server accepts the same syntax). */
function parseHead(v: string): HeadSpec {
  try {
    return parseHeadSpec(v);
  } catch (e) {
    throw new InvalidArgumentError(`--${(e as Error).message}`);
  }
}

function eventPrinter(say: (s: string) => void) {
  let bar: ProgressReporter | undefined;
  let lastCurvePrint = 0;
  // One bar per epoch: 'progress' and 'finetune-epoch' end it.
  let stepBar: ProgressReporter | undefined;
  // A fine-tuning epoch's steps are timed from the end of the previous epoch (the bar starts at its first step).
  let epochStart = Date.now();
  let lastPoint: HistoryPoint | undefined;
  return (e: TrainEvent) => {
    switch (e.type) {
      case 'dataset':
        say(
          `data: ${e.dataset.root} (${e.dataset.splitSource === 'random' ? 'seeded stratified split' : `${e.dataset.splitSource} split`}), ${e.dataset.classes.length} classes`,
        );
        say(
          table(
            e.counts.map((c) => [c.label, c.train, c.val]),
            ['class', 'train', 'val'],
          ),
        );
        for (const w of e.warnings) process.stderr.write(`warning: ${w}\n`);
        break;
      case 'backbone':
        say(`backbone: ${e.id} (${e.featureDim}-d features, all pretrained layers frozen)`);
        break;
      case 'extract-start':
        bar = progressReporter(`features ${e.split}`, e.total);
        break;
      case 'extract':
        bar?.update(e.progress.done, `(${e.progress.cached} cached)`);
        break;
      case 'extract-done':
        bar?.stop();
        say(
          `features ${e.split}: ${e.embedded} embedded, ${e.cached} from cache, ${e.skipped} skipped (${e.seconds.toFixed(1)} s)`,
        );
        break;
      case 'skip':
        warnSkipped(e.file);
        break;
      case 'temperature':
        say(
          `probability temperature ${e.temperature.toPrecision(3)}${e.capped ? ' (at its cap: no more confident than the held-out rows allow)' : ''}, by log loss on ${e.rows} held-out training images (${e.logLossBefore.toFixed(3)} -> ${e.logLossAfter.toFixed(3)})`,
        );
        break;
      case 'select-l2': {
        const best = e.selection.curve.find((p) => p.l2 === e.selection.best)!;
        say(
          `L2 strength by 5-fold CV on train: ${e.selection.best.toPrecision(3)} (CV accuracy ${pct(best.cvAccuracy)}; ${e.seconds.toFixed(1)} s)`,
        );
        break;
      }
      case 'progress':
        stepBar?.stop();
        stepBar = undefined;
        epochStart = Date.now();
        lastPoint = e.point;
        // Live line on a terminal; the whole curve is printed as a table at the end.
        if (process.stderr.isTTY && Date.now() - lastCurvePrint > 100) {
          lastCurvePrint = Date.now();
          const p = e.point;
          process.stderr.write(
            `\r${e.of ? 'epoch' : 'iteration'} ${p.step}${e.of ? `/${e.of}` : ''}  loss ${p.trainLoss.toFixed(4)}  train acc ${Number.isNaN(p.trainAcc) ? '-' : pct(p.trainAcc)}  ${p.innerValAcc !== undefined ? `inner val acc ${pct(p.innerValAcc)}` : `val acc ${p.valAcc === undefined ? '-' : pct(p.valAcc)}`}   `,
          );
        }
        break;
      case 'done':
        if (process.stderr.isTTY) process.stderr.write('\n');
        break;
      case 'plan':
        say(`auto: ${e.plan.reason}`);
        break;
      case 'finetune-setup':
        say(
          `fine-tuning: ${e.replace ? `new units ${e.replace.join(',')} after` : `training ${e.trainable.length} block(s): ${e.trainable.join(', ')}; frozen up to`} ${e.cut} (activations cached as float16); engine: tfjs-${e.backend}${e.device ? `; device: ${e.device}` : ''}`,
        );
        if (e.note) process.stderr.write(`warning: ${e.note}\n`);
        if (e.size) say(e.size);
        if (e.rates) say(e.rates);
        break;
      case 'finetune-batch':
        say(
          `minibatch ${e.requested} in passes of ${e.used} (gradients summed): a training step needs ~${Math.round(e.bytesPerImage / 2 ** 20)} MB per image (wasm heap)`,
        );
        break;
      case 'finetune-budget':
        say(
          `time budget: ${e.measured ? `an epoch took ${e.epochSeconds.toFixed(0)} s` : `an epoch is planned at ~${e.epochSeconds.toFixed(0)} s`}, so ${e.epochs} of ${e.of} epochs fit in what is left of it${e.epochs < e.of ? " (the rate's decay ends with them)" : ''}`,
        );
        break;
      case 'finetune-resume':
        say(`resuming from epoch ${e.epoch} of ${e.of} (checkpoint of this same run in ${e.dir})`);
        break;
      case 'finetune-step':
        // Plain lines every 15 s: an epoch's steps take seconds each.
        stepBar ??= progressReporter(`epoch ${e.epoch}/${e.of}`, e.total, process.stderr, 15_000, epochStart);
        stepBar.update(e.done);
        break;
      case 'finetune-epoch':
        stepBar?.stop();
        stepBar = undefined;
        if (process.stderr.isTTY) process.stderr.write('\n');
        // The epoch's accuracies too: in a log (no live line) this is where a user sees how training goes.
        say(
          `epoch ${e.epoch}: ${e.seconds.toFixed(1)} s (${(e.images / e.seconds).toFixed(1)} img/s)${lastPoint?.step === e.epoch ? `; train acc ${pct(lastPoint.trainAcc)}${lastPoint.innerValAcc !== undefined ? `, inner val acc ${pct(lastPoint.innerValAcc)}` : ''}` : ''}`,
        );
        epochStart = Date.now();
        break;
    }
  };
}

/** `modelNamed`: --model was given (commander's value source, not its default). */
async function runTraining(data: string, cliOpts: TrainCliOpts, modelNamed: boolean): Promise<TrainResult> {
  // The library's one rule (options/normalise.ts), here too so its refusals name flags and come before any work.
  const opts = normaliseStrategy(cliOpts, 'flag');
  const say = humanOut(opts.json);
  const out = resolve(opts.out ?? `${basename(resolve(data)).replace(/\.csv$/i, '')}-classifier`);
  // Refuse an --out in the photos or over a folder tl did not write before minutes of training (the save checks again).
  const { checkOutsideData, checkBundleTarget } = await import('../../classifier/bundle-dir.js');
  checkOutsideData(out, data);
  await checkBundleTarget(out);
  // TL_QUEUE (tl train's flags are the option table's; a queue is where the run happens, not a training option).
  const { env } = await import('../../util/env.js');
  // Before any work: a queue that does not answer is one line, and nothing is extracted here instead.
  const remote = env.queue ? await openQueue(env.queue) : undefined;
  const stop = listenForStop();
  try {
    // --model has a default (the zoo's best); rung 3 takes FULL_DEFAULT_MODEL (training/finetune-recipe.ts) unless one is named.
    // Training (tfjs, ONNX Runtime, sharp, SQLite) loads when it runs: `tl --help` and `tl predict` never pay for it.
    const { trainClassifier } = await import('../../training/train.js');
    // --device also moves a TF.js backbone's extraction (rung 1 too) onto the device: it is the process's TF.js device.
    if (opts.device) env.device = opts.device;
    const r = await trainClassifier(data, {
      ...libraryOptions(opts),
      model: opts.strategy === 'full' && !modelNamed ? undefined : opts.model,
      signal: stop.signal,
      remote,
      onEvent: eventPrinter(say),
    } as TrainOptions).finally(() => remote?.close());
    if (stop.received) exitTrainingStopped(stop.received, undefined, out);
    say('\ntraining curve:\n' + formatCurve(r.history));
    const what =
      r.config.strategy === 'partial' || r.config.strategy === 'full' ? `${r.config.strategy} fine-tuning` : 'head';
    say(
      `${what} trained in ${r.timings.trainSeconds.toFixed(2)} s (feature extraction ${r.timings.extractSeconds.toFixed(1)} s, total ${r.timings.totalSeconds.toFixed(1)} s)`,
    );
    printMetrics(r.metrics, say, r.config.evaluatedOn === 'val' ? 'validation' : 'training (no validation images!)');
    say(`\n${splitsSummary(r.config.splits)}`);
    const html = renderHtmlReport({
      title: `tl: ${basename(resolve(data))} on ${r.config.model}`,
      metrics: r.metrics,
      history: r.history,
      config: r.config,
      cvCurve: r.selection?.curve,
    });
    await r.classifier.save(out, { 'report.html': html });
    say(`\nsaved classifier: ${out}\nreport: ${join(out, 'report.html')}\nuse it: tl predict ${out} PHOTOS...`);
    if (opts.json) process.stdout.write(metricsJson({ ...r, out }) + '\n');
    await r.classifier.dispose();
    return r;
  } catch (err) {
    if (stop.received) exitTrainingStopped(stop.received, err, out);
    throw err;
  } finally {
    stop.dispose();
  }
}

/** Every table option with a flag (src/options/train-options.ts): names, help, defaults and parsing come from there. */
const TRAIN_FLAGS = optionRows()
  .filter((r) => r.row.cli)
  .map((r) => r.name as CliOptionName);

function addTrainOptions(cmd: Command): Command {
  return addTableOptions(cmd, TRAIN_FLAGS, {
    head: parseHead,
    // --model names the zoo's best (backbone/zoo.ts, above the table's layer); rung 3 checks whether it was typed.
    defaults: { model: { value: DEFAULT_MODEL_ID } },
  });
}

export function registerTrainCommands(program: Command): void {
  addTrainOptions(
    program
      .command('train')
      .argument(
        '<data>',
        'folder: <class>/*.jpg, or train/ + val/ (or validation/, test/) of those; or a CSV path,label[,split]',
      )
      .description(
        'train a classifier (a new softmax on cached frozen features, or fine-tune the last blocks or whole network), evaluate and save it',
      ),
  )
    .addHelpText(
      'after',
      '\nExamples:\n  tl train my-photos/                      # Tigger/ Misty/ neither/ inside\n  tl train data/ --out cats.tl --seed 1\n  tl train data/ --model mobilenet-v1-0.75 --head mlp:256 --json',
    )
    .action(async (data: string, opts: TrainCliOpts, cmd: Command) => {
      await runTraining(data, opts, cmd.getOptionValueSource('model') === 'cli');
    });

  addTrainOptions(
    program
      .command('demo')
      .description('train on the built-in demo dataset (ants vs bees) with the default backbone and print the report'),
  )
    .addHelpText('after', '\nExamples:\n  tl demo\n  TL_DATASETS_DIR=../shared/datasets tl demo --json')
    .action(async (opts: TrainCliOpts, cmd: Command) => {
      const say = humanOut(opts.json);
      const { ensureDemoDataset } = await import('../../data/demo-dataset.js');
      const dir = await ensureDemoDataset(undefined, say);
      await runTraining(
        dir,
        { ...opts, out: opts.out ?? 'demo-classifier' },
        cmd.getOptionValueSource('model') === 'cli',
      );
    });
}
