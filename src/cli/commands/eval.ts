// `tl eval BUNDLE DATA`: a saved classifier's metrics on labelled images.
import type { Command } from 'commander';
import { basename, join, resolve } from 'node:path';
import { existsSync, statSync } from 'node:fs';
import type { Classifier } from '../../classifier/classifier.js';
import { loadDataset } from '../../data/dataset.js';
import { evaluate } from '../../eval/metrics.js';
import { renderHtmlReport } from '../../eval/report.js';
import { progressReporter } from '../progress.js';
import { warnSkipped } from './common.js';
import { humanOut, metricsJson, printMetrics } from './metrics-output.js';
import { TlError } from '../../util/errors.js';

export function registerEvalCommand(program: Command): void {
  program
    .command('eval')
    .argument('<bundle>', 'a saved classifier folder')
    .argument('<data>', 'labelled images: <class>/*.jpg (or a folder with val/ — then val is used), or a CSV')
    .description('evaluate a saved classifier on labelled images')
    .option('--json', 'print the metrics as one JSON object on stdout')
    .option('--report <file>', 'also write a self-contained HTML report')
    .option('--allow-outside', "a CSV manifest may list images outside the CSV's folder")
    .addHelpText('after', '\nExamples:\n  tl eval cats-classifier more-photos/\n  tl eval cats-classifier data/ --json')
    .action(async (bundle: string, data: string, opts: { json?: boolean; report?: string; allowOutside?: boolean }) => {
      const say = humanOut(opts.json);
      const { Classifier } = await import('../../classifier/classifier.js');
      const clf = await Classifier.load(bundle);
      const items = labelledItemsForEval(data, { allowOutside: opts.allowOutside });
      const unknownLabels = [...new Set(items.map((x) => x.label))].filter((l) => !clf.labels.includes(l));
      if (unknownLabels.length) {
        throw new TlError(
          `classes not known to this classifier: ${unknownLabels.join(', ')}`,
          `It knows: ${clf.labels.join(', ')}.`,
        );
      }
      const bar = progressReporter('features', items.length);
      const { predictions, skipped } = await clf.predictFiles(
        items.map((x) => x.path),
        { top: clf.labels.length, onProgress: (p) => bar.update(p.done), onSkip: warnSkipped },
      );
      bar.stop();
      const byPath = new Map(items.map((x) => [x.path, x.label]));
      const metrics = evaluate(
        Int32Array.from(predictions.map((p) => clf.labels.indexOf(byPath.get(p.path)!))),
        predictions.map((p) => probsFromPrediction(clf, p.top)),
        clf.labels,
        predictions.map((p) => p.path),
      );
      printMetrics(metrics, say, `${data}`);
      if (skipped.length) say(`${skipped.length} file(s) skipped`);
      if (opts.report) {
        const { writeFile } = await import('node:fs/promises');
        const title = `tl eval: ${basename(resolve(data))}`;
        await writeFile(opts.report, renderHtmlReport({ title, metrics, history: [], config: { bundle, data } }));
        say(`report: ${opts.report}`);
      }
      if (opts.json) process.stdout.write(metricsJson({ metrics }) + '\n');
      await clf.dispose();
    });
}

function probsFromPrediction(clf: Classifier, top: { label: string; probability: number }[]): Float32Array {
  const p = new Float32Array(clf.labels.length);
  for (const t of top) p[clf.labels.indexOf(t.label)] = t.probability;
  return p;
}

/** A folder with a val/ (validation/, test/) split is evaluated on that split; anything else on all its images. */
function labelledItemsForEval(data: string, opts: { allowOutside?: boolean }): { path: string; label: string }[] {
  const p = resolve(data);
  if (!existsSync(p)) throw new TlError(`no such file or folder: ${data}`);
  const isSplitFolder = statSync(p).isDirectory() && ['val', 'validation', 'test'].some((d) => existsSync(join(p, d)));
  if (isSplitFolder) {
    const ds = loadDataset(p, opts);
    return ds.val;
  }
  const ds = loadDataset(p, { ...opts, valFraction: 0.5 });
  return [...ds.train, ...ds.val];
}
