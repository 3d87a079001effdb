import type { Command } from 'commander';
import { expandInputs, type SkippedFile } from '../../data/files.js';
import { positiveInt } from '../options.js';
import { addBackboneOptions, openBackbone, warnSkipped, type BackboneOpts } from './common.js';
import { TlError } from '../../util/errors.js';

export function registerClassifyCommand(program: Command): void {
  addBackboneOptions(
    program
      .command('classify')
      .argument('<images...>', 'image files or folders')
      .description("ImageNet top-k with the backbone's original 1000-way head (checks a backbone is loaded right)"),
  )
    .option('-k, --top <k>', 'how many classes per image', positiveInt('--top'), 5)
    .option('--json', 'print JSON: one entry per file with its path and predictions in order')
    .addHelpText(
      'after',
      '\nExamples:\n  tl classify dog.jpg\n  tl classify photos/ --model darknet-tiny --top 3 --json',
    )
    .action(async (images: string[], opts: BackboneOpts & { top: number; json?: boolean }) => {
      const skipped: SkippedFile[] = [];
      const paths = expandInputs(images, skipped);
      skipped.forEach(warnSkipped);
      if (paths.length === 0)
        throw new TlError(
          'no images to classify',
          'Give image files (jpg, png, webp, tiff, ...) or folders holding them.',
        );
      const backbone = await openBackbone(opts);
      const { classifyImagenet } = await import('../../backbone/classify.js');
      const { results } = await classifyImagenet(backbone, paths, { top: opts.top, onSkip: warnSkipped });
      await backbone.dispose();
      if (opts.json) {
        process.stdout.write(JSON.stringify(results, null, 2) + '\n');
      } else {
        for (const r of results) {
          process.stdout.write(`${r.path}\n`);
          for (const p of r.predictions)
            process.stdout.write(`  ${(p.probability * 100).toFixed(1).padStart(5)}%  ${p.label}\n`);
        }
      }
      if (results.length === 0) process.exitCode = 1;
    });
}
