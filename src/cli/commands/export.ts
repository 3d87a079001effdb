// `tl export BUNDLE --format onnx|tfjs --out DIR`: one deployable model + metadata.json, checked against the bundle.
import type { Command } from 'commander';
import { basename, resolve } from 'node:path';
import type { ExportFormat } from '../../export/export.js';
import type { WeightQuantization } from '../../export/onnx/head.js';
import { choice, positiveInt } from '../options.js';
import { formatBytes, pct } from '../output.js';

interface ExportCliOpts {
  format: ExportFormat;
  out?: string;
  quantize: WeightQuantization;
  features: boolean;
  check: boolean;
  limit?: number;
  json?: boolean;
}

export function registerExportCommand(program: Command): void {
  program
    .command('export')
    .argument('<bundle>', 'a saved classifier folder (from tl train)')
    .description(
      "export a classifier as one deployable model (backbone, with a fine-tuned bundle's trained blocks, + trained head + softmax) with metadata.json",
    )
    .option(
      '-f, --format <format>',
      'onnx (any backbone; runs in onnxruntime-node/-web) or tfjs (TF.js layers model; TF.js backbones)',
      choice('--format', ['onnx', 'tfjs']),
      'onnx',
    )
    .option('-o, --out <dir>', 'output folder (default: ./<bundle>-<format>)')
    .option(
      '-q, --quantize <mode>',
      "store weights as none | float16 | int8 (ONNX: the head, converted TF.js weights and float16 for a fine-tuned tail's kernels; TF.js: every weight, int8 = uint8 affine)",
      choice('--quantize', ['none', 'float16', 'int8']),
      'none',
    )
    .option('--no-features', 'ONNX: do not output the feature vector (the unknown-image check needs it)')
    .option('--no-check', 'skip running the export on the validation images of the training data')
    .option('--limit <n>', 'compare on at most this many validation images (default: all)', positiveInt('--limit'))
    .option('--json', 'print the result (files, metadata, check) as one JSON object')
    .addHelpText(
      'after',
      '\nExamples:\n' +
        '  tl export cats-classifier --format onnx --out cats-onnx\n' +
        '  tl export cats-classifier --format onnx --quantize float16 --out cats-onnx-f16\n' +
        '  tl export cats-v1-classifier --format tfjs --out cats-tfjs     # trained with --model mobilenet-v1-0.75\n' +
        '  tl export cats-classifier --no-check --json\n' +
        '  tl export eurosat-finetuned --format onnx --out eurosat-onnx    # rung 2/3 bundle: the trained blocks go in too\n' +
        '\nThe folder holds the model (model.onnx, or model.json + weights.bin), metadata.json (labels in output order,\n' +
        'input size/layout, resize + crop, mean/std, unknown threshold) and unknown-references.bin. examples/browser/\n' +
        'runs an ONNX export in a web page with onnxruntime-web.',
    )
    .action(async (bundle: string, opts: ExportCliOpts) => {
      const say = (s: string) => (opts.json ? process.stderr : process.stdout).write(s + '\n');
      const out = resolve(opts.out ?? `${basename(resolve(bundle))}-${opts.format}`);
      // The classifier and both export paths (tfjs, ONNX Runtime) load only when this command runs.
      const [{ Classifier }, { exportLoaded }, { checkExport }] = await Promise.all([
        import('../../classifier/classifier.js'),
        import('../../export/export.js'),
        import('../../export/run-export.js'),
      ]);
      const clf = await Classifier.load(bundle);
      try {
        const r = await exportLoaded(clf, {
          format: opts.format,
          out,
          quantize: opts.quantize,
          features: opts.features,
        });
        const m = r.metadata;
        say(
          `exported ${m.source.backbone} classifier (${m.labels.length} classes: ${m.labels.join(', ')}) as ${opts.format === 'onnx' ? 'ONNX' : 'TF.js layers'}${m.quantize !== 'none' ? `, ${m.quantize} weights` : ''}: ${r.dir}`,
        );
        for (const f of r.files) say(`  ${f.name.padEnd(24)} ${formatBytes(f.bytes).padStart(9)}`);
        const t = m.source.tail;
        if (t)
          say(
            `tail     fine-tuned ${t.replace ? `new units hidden:${t.replace.join(',')}` : t.kind} after ${t.cut}: ${t.variables} trained tensors (${t.params.toLocaleString('en-US')} weights) in the model, at ${t.imageSize} px`,
          );
        const i = m.input;
        say(
          `input    ${i.name} float32 [N,${i.shape.slice(1).join(',')}] ${i.layout}, RGB; ${i.resize === 'cover' ? `shorter side to ${Math.round(i.size / i.cropFraction)}, centre crop ${i.size}` : `stretched to ${i.size}x${i.size}`}; (p/255 - mean) / std, mean [${i.mean.join(', ')}] std [${i.std.join(', ')}]`,
        );
        say(
          `outputs  ${m.outputs.probabilities.name} [N,${m.labels.length}]${m.outputs.features ? `; features [N,${m.outputs.features.shape[1]}] (${m.outputs.features.how})` : ''}`,
        );
        if (opts.format === 'onnx') say(`graph    opset ${m.opset}; structural check passed`);
        let check: Awaited<ReturnType<typeof checkExport>> | undefined;
        if (opts.check) {
          check = await checkExport(clf, r.dir, { limit: opts.limit });
          if ('reason' in check) say(`check    skipped: ${check.reason}`);
          else {
            const cost = (check.bundleAccuracy - check.exportAccuracy) * 100;
            say(`check    ${check.images} validation images of ${check.source}`);
            say(
              `         top-1 agreement with the bundle ${pct(check.top1Agreement)}, max |probability difference| ${check.maxProbDiff.toExponential(2)}`,
            );
            say(
              `         accuracy: bundle ${pct(check.bundleAccuracy)}, export ${pct(check.exportAccuracy)}${m.quantize === 'none' ? '' : ` (${m.quantize} accuracy cost: ${(cost === 0 ? 0 : cost).toFixed(1)} points)`}`,
            );
          }
        }
        if (opts.json)
          process.stdout.write(
            JSON.stringify({ dir: r.dir, files: r.files, metadata: m, check: check ?? null }, null, 2) + '\n',
          );
      } finally {
        await clf.dispose();
      }
    });
}
