// `tl predict BUNDLE IMAGES...`: classify images with a saved classifier (loads only that bundle's runtime).
import type { Command } from 'commander';
import { expandInputs, type SkippedFile } from '../../data/files.js';
import { positiveInt } from '../options.js';
import { progressReporter } from '../progress.js';
import { pct } from '../output.js';
import { printableName, warnSkipped } from './common.js';
import { TlError } from '../../util/errors.js';

export function registerPredictCommand(program: Command): void {
  program
    .command('predict')
    .argument('<bundle>', 'a saved classifier folder')
    .argument('<images...>', 'image files or folders')
    .description('classify images with a saved classifier')
    .option('-k, --top <k>', 'classes to show per image', positiveInt('--top'), 3)
    .option('--json', 'print JSON: one entry per file with label, probability, top-k and the unknown flag')
    .addHelpText(
      'after',
      '\nExamples:\n  tl predict cats-classifier photo.jpg\n  tl predict cats-classifier inbox/ --top 2 --json',
    )
    .action(async (bundle: string, images: string[], opts: { top: number; json?: boolean }) => {
      const skippedList: SkippedFile[] = [];
      const paths = expandInputs(images, skippedList);
      skippedList.forEach(warnSkipped);
      if (!paths.length) throw new TlError('no images to classify');
      const { Classifier } = await import('../../classifier/classifier.js');
      const clf = await Classifier.load(bundle);
      const bar = paths.length > 1 ? progressReporter('predicting', paths.length) : undefined;
      const { predictions } = await clf.predictFiles(paths, {
        top: Math.min(opts.top, clf.labels.length),
        onProgress: (p) => bar?.update(p.done),
        onSkip: warnSkipped,
      });
      bar?.stop();
      await clf.dispose();
      if (opts.json) return void process.stdout.write(JSON.stringify(predictions, null, 2) + '\n');
      for (const p of predictions) {
        const tops = p.top.map((t) => `${t.label} ${pct(t.probability)}`).join(' | ');
        process.stdout.write(
          `${printableName(p.path)}\n  ${p.unknown ? `UNKNOWN (unlike the training images; nearest: ${tops})` : tops}\n`,
        );
      }
      if (!predictions.length) process.exitCode = 1;
    });
}
