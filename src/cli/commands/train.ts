// `tl train DATA` and `tl demo`: train a classifier (any rung), print its curve and metrics, save the bundle.
import type { Command } from 'commander';
import { basename, resolve, join } from 'node:path';
import type { TrainEvent, TrainResult, HeadSpec } from '../../training/train.js';
import { formatCurve, renderHtmlReport } from '../../eval/report.js';
import { choice, fraction, nonNegativeInt, positiveInt, positiveNumber } from '../options.js';
import { progressReporter, type ProgressReporter } from '../progress.js';
import { table, pct } from '../output.js';
import { addBackboneOptions, warnSkipped, type BackboneOpts } from './common.js';
import { humanOut, metricsJson, printMetrics, splitsSummary } from './metrics-output.js';
import { TlError } from '../../util/errors.js';
import { parseHeadSpec } from '../../classifier/head-spec.js';
import { DEFAULT_STRATEGY, type HistoryPoint } from '../../training/types.js';
import { InvalidArgumentError } from 'commander';
import { DEVICES, type DeviceRequest } from '../../engine/webgpu/device-request.js';
import { listenForStop } from '../signals.js';
import { exitTrainingStopped } from './train-stopped.js';

interface TrainCliOpts extends BackboneOpts {
  out?: string;
  val: number;
  seed: number;
  l2?: number;
  head: HeadSpec;
  classWeights: 'auto' | 'balanced' | 'none';
  epochs?: number;
  batch: number;
  json?: boolean;
  strategy: 'head' | 'partial' | 'full' | 'auto';
  freeze?: number;
  trainLast?: number;
  reuse?: boolean;
  replace?: number[];
  lr?: number;
  tailLr?: number;
  weightDecay?: number;
  timeBudget?: number;
  size?: number;
  augment?: boolean;
  augmentCopies?: number;
  finetuneBatch?: number;
  device?: DeviceRequest;
}

export function parseReplace(v: string): number[] {
  const m = /^hidden:(\d+(?:,\d+)*)$/.exec(v);
  const sizes = m ? m[1].split(',').map(Number) : [];
  if (!m || sizes.some((n) => n < 1))
    throw new InvalidArgumentError(`--replace must be "hidden:UNITS[,UNITS...]" (e.g. hidden:256), got "${v}"`);
  return sizes;
}

/** Flags that ask for a rung explicitly: with any of them, --strategy auto means partial. */
function rungFromFlags(opts: TrainCliOpts): TrainCliOpts['strategy'] {
  if (opts.strategy !== 'auto') return opts.strategy;
  if (
    opts.freeze !== undefined ||
    opts.trainLast !== undefined ||
    opts.reuse ||
    opts.replace ||
    opts.augmentCopies !== undefined
  )
    return 'partial';
  return 'auto';
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
async function runTraining(data: string, opts: TrainCliOpts, modelNamed: boolean): Promise<TrainResult> {
  const say = humanOut(opts.json);
  const out = resolve(opts.out ?? `${basename(resolve(data)).replace(/\.csv$/i, '')}-classifier`);
  // Refuse an --out in the photos or over a folder tl did not write before minutes of training (the save checks again).
  const { checkOutsideData, checkBundleTarget } = await import('../../classifier/bundle-dir.js');
  checkOutsideData(out, data);
  await checkBundleTarget(out);
  const stop = listenForStop();
  try {
    // --model has a default (the zoo's best); rung 3 takes FULL_DEFAULT_MODEL (finetune/train.ts) unless one is named.
    // Training (tfjs, ONNX Runtime, sharp, SQLite) loads when it runs: `tl --help` and `tl predict` never pay for it.
    const { trainClassifier } = await import('../../training/train.js');
    // --device also moves a TF.js backbone's extraction (rung 1 too) onto the device: it is the process's TF.js device.
    if (opts.device) (await import('../../util/env.js')).env.device = opts.device;
    const r = await trainClassifier(data, {
      model: rungFromFlags(opts) === 'full' && !modelNamed ? undefined : opts.model,
      modelPath: opts.modelPath,
      val: opts.val,
      seed: opts.seed,
      l2: opts.l2,
      head: opts.head,
      classWeights: opts.classWeights,
      epochs: opts.epochs,
      batchSize: opts.batch,
      strategy: rungFromFlags(opts),
      freeze: opts.freeze,
      trainLast: opts.trainLast,
      replace: opts.replace,
      lr: opts.lr,
      tailLr: opts.tailLr,
      weightDecay: opts.weightDecay,
      timeBudget: opts.timeBudget,
      size: opts.size,
      augment: opts.augment,
      augmentCopies: opts.augmentCopies,
      finetuneBatchSize: opts.finetuneBatch,
      device: opts.device,
      signal: stop.signal,
      onEvent: eventPrinter(say),
    });
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

function addTrainOptions(cmd: Command): Command {
  return addBackboneOptions(cmd)
    .option('-o, --out <dir>', 'where to save the classifier bundle (default: ./<data>-classifier)')
    .option('--val <fraction>', 'validation fraction when the data has no val/ split', fraction('--val'), 0.2)
    .option(
      '--seed <n>',
      'seed for the split, CV folds and init: same seed, byte-identical head',
      nonNegativeInt('--seed'),
      0,
    )
    .option(
      '--l2 <strength>',
      'L2 regularization of the head (default: chosen by 5-fold CV on train)',
      positiveNumber('--l2'),
    )
    .option('--head <spec>', 'linear (a new softmax) or mlp:UNITS[,dropout=P] (hidden layer + softmax)', parseHead, {
      kind: 'linear',
    })
    .option(
      '--class-weights <mode>',
      'auto | balanced | none (auto: balanced when classes are imbalanced)',
      choice('--class-weights', ['auto', 'balanced', 'none']),
      'auto',
    )
    .option(
      '--epochs <n>',
      'epochs of the mlp head or of fine-tuning (early stopping keeps the best)',
      positiveInt('--epochs'),
    )
    .option('-b, --batch <n>', 'images per backbone forward pass', positiveInt('--batch'), 32)
    .option('--json', 'print the final metrics as one JSON object on stdout')
    .option(
      '--strategy <rung>',
      'head | partial | full | auto (auto: picks by images/class, --time-budget and measured speed; see `tl plan`)',
      choice('--strategy', ['head', 'partial', 'full', 'auto']),
      DEFAULT_STRATEGY,
    )
    .option(
      '--freeze <n>',
      'partial: freeze the first N blocks (list them with `tl plan DATA`)',
      nonNegativeInt('--freeze'),
    )
    .option('--train-last <k>', 'partial: fine-tune the last K blocks (default 2)', nonNegativeInt('--train-last'))
    .option('--reuse', 'partial: start the unfrozen blocks from their pretrained weights (the default)')
    .option(
      '--replace <spec>',
      'partial: replace the unfrozen blocks by new units hidden:UNITS[,UNITS] (1x1 conv + ReLU each, then average pool)',
      parseReplace,
    )
    .option(
      '--lr <rate>',
      'fine-tuning: Adam learning rate of the head (default 1e-3; 1e-4 with --replace); reused blocks get a tenth, new --replace units the same',
      positiveNumber('--lr'),
    )
    .option(
      '--tail-lr <rate>',
      'fine-tuning: Adam learning rate of the pretrained blocks (default: --lr / 10; full: / 50 on photos, / 5 far from ImageNet)',
      positiveNumber('--tail-lr'),
    )
    .option(
      '--weight-decay <w>',
      'fine-tuning: decoupled (AdamW) weight decay of the kernels and the head, not biases/BatchNorm (default 0)',
      positiveNumber('--weight-decay'),
    )
    .option(
      '--time-budget <seconds>',
      'auto: how long training may take (default 900)',
      positiveNumber('--time-budget'),
    )
    .option(
      '--size <px>',
      'fine-tuning: input size (e.g. 160; the int8 ONNX model only with --strategy full)',
      positiveInt('--size'),
    )
    .option(
      '--finetune-batch <n>',
      'fine-tuning: minibatch size (default 32; run in passes that fit the wasm heap)',
      positiveInt('--finetune-batch'),
    )
    .option(
      '--device <device>',
      'fine-tuning: cpu, webgpu (a GPU, or software rendering when none) or auto (a GPU if present, else cpu); default TL_DEVICE or cpu',
      choice('--device', DEVICES),
    )
    .option(
      '--augment',
      'fine-tuning: random resized crop, flip, brightness/contrast jitter on training images (seeded; on by default with --strategy full)',
    )
    .option('--no-augment', 'full: train on the images as they are')
    .option(
      '--augment-copies <k>',
      'partial + augment: cache K augmented copies per image (K x disk, frozen part runs once); without it the frozen part reruns every epoch',
      positiveInt('--augment-copies'),
    );
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
      if (opts.reuse && opts.replace)
        throw new TlError(
          '--reuse and --replace exclude each other',
          'Reuse the pretrained blocks, or replace them by new units.',
        );
      if (
        (opts.freeze !== undefined || opts.trainLast !== undefined || opts.reuse || opts.replace) &&
        (opts.strategy === 'head' || opts.strategy === 'full')
      ) {
        throw new TlError(`--freeze/--train-last/--reuse/--replace apply to --strategy partial, not ${opts.strategy}`);
      }
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
