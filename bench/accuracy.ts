// Rung-1 accuracy of every backbone on every shared dataset (val split), written to bench-results/accuracy.json.
// Usage: npm run bench:accuracy -- [--models a,b] [--datasets x,y]
// Features come from the feature cache (TL_CACHE_DIR), so a re-run only trains heads.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { trainClassifier } from '../src/training/train.js';
import { ZOO } from '../src/backbone/zoo.js';
import { env } from '../src/util/env.js';
import { benchArgs, list } from './args.js';
import { availableModels } from './models.js';

const args = benchArgs('npm run bench:accuracy -- [--models a,b] [--datasets x,y]', {
  models: undefined,
  datasets: undefined,
});
const datasetsDir = env.datasetsDir || resolve('../shared/datasets');
if (!env.modelsDir) env.modelsDir = resolve('../shared/models');
// Models not on disk (and not downloadable) get one line each and no column.
const { ready: models, skipped } = await availableModels(args.models ? list(args.models) : ZOO.map((m) => m.id));
for (const s of skipped) console.log(s.line);
const datasets = args.datasets
  ? list(args.datasets)
  : ['hymenoptera_data', 'cats_and_dogs_filtered', 'imagenette', 'imagewoof', 'eurosat'];

const rows: {
  model: string;
  dataset: string;
  accuracy: number;
  l2: unknown;
  trainImages: number;
  valImages: number;
  extractSeconds: number;
  trainSeconds: number;
}[] = [];
for (const model of models) {
  for (const dataset of datasets) {
    const r = await trainClassifier(join(datasetsDir, dataset), { model, seed: 0 });
    rows.push({
      model,
      dataset,
      accuracy: r.metrics.accuracy,
      l2: r.config.l2,
      trainImages: r.config.trainImages as number,
      valImages: r.config.valImages as number,
      extractSeconds: r.timings.extractSeconds,
      trainSeconds: r.timings.trainSeconds,
    });
    await r.classifier.dispose();
    console.log(
      `${model.padEnd(20)} ${dataset.padEnd(24)} ${r.metrics.accuracy.toFixed(3)}  (extract ${r.timings.extractSeconds.toFixed(0)} s, head ${r.timings.trainSeconds.toFixed(1)} s)`,
    );
  }
}
console.log('\n| backbone | ' + datasets.join(' | ') + ' |\n|---|' + datasets.map(() => '---').join('|') + '|');
for (const model of models)
  console.log(
    `| ${model} | ` +
      datasets.map((d) => rows.find((r) => r.model === model && r.dataset === d)!.accuracy.toFixed(3)).join(' | ') +
      ' |',
  );
mkdirSync('bench-results', { recursive: true });
writeFileSync(
  'bench-results/accuracy.json',
  JSON.stringify({ date: new Date().toISOString(), rows, skipped }, null, 2),
);
