// Rung 1 vs rung 2 (and optionally 3) on real datasets: val accuracy and wall time of each, with the machine load.
// npm run bench:finetune-eval -- [--data eurosat,cats_and_dogs_filtered] [--rungs head,partial,full] [--train-last 1] [--epochs 5] [--size 160 (full)]
// Writes bench-results/finetune.json (merged with earlier runs, keyed by dataset + rung + settings).
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { trainClassifier, env, type TrainOptions, type AutoTrainOptions } from '../src/index.js';
import { benchArgs } from './args.js';

const args = benchArgs(
  'npm run bench:finetune-eval -- [--data eurosat,cats_and_dogs_filtered] [--rungs head,partial,full] [--train-last 1] ' +
    '[--epochs 5] [--model ID] [--size 160] [--l2 X] [--lr X] [--tail-lr X] [--patience N] [--augment] [--augment-copies K] [--replace 256]',
  {
    data: undefined,
    rungs: undefined,
    'train-last': undefined,
    epochs: undefined,
    model: undefined,
    size: undefined,
    l2: undefined,
    lr: undefined,
    'tail-lr': undefined,
    patience: undefined,
    'augment-copies': undefined,
    replace: undefined,
  },
  ['augment'],
);
const arg = (name: string, dflt: string) => ((args as Record<string, unknown>)[name] as string | undefined) ?? dflt;
// Runs from bench/ (tsx) or dist/bench/ (built): the package root is whichever parent holds package.json.
const root = [resolve(import.meta.dirname, '..'), resolve(import.meta.dirname, '../..')].find((d) =>
  existsSync(join(d, 'package.json')),
)!;
const datasetsDir = env.datasetsDir || resolve(root, '../shared/datasets');
// env.ts read the environment at import time, so set the library's env directly.
env.modelsDir ||= resolve(root, '../shared/models');
const datasets = arg('data', 'eurosat,cats_and_dogs_filtered').split(',');
const rungs = arg('rungs', 'head,partial').split(',');
const trainLast = Number(arg('train-last', '1'));
const epochs = Number(arg('epochs', '5'));
// The full rung defaults to the library's rung-3 backbone (mobilenet-v1-0.25) at --size 160 (default for full).
const modelArg = arg('model', '');
const size = Number(arg('size', '160'));
// Optional knobs for experiments (default: the library's defaults).
const num = (name: string) => (arg(name, '') === '' ? undefined : Number(arg(name, '')));
const knobs: Partial<AutoTrainOptions> = Object.fromEntries(
  Object.entries({
    l2: num('l2'),
    lr: num('lr'),
    tailLr: num('tail-lr'),
    patience: num('patience'),
    augmentCopies: num('augment-copies'),
  }).filter(([, v]) => v !== undefined),
);
if (args.augment) knobs.augment = true;
if (arg('replace', '')) knobs.replace = arg('replace', '').split(',').map(Number);
const out = resolve(root, 'bench-results/finetune.json');

type Row = Record<string, unknown>;
const results: Row[] = existsSync(out) ? (JSON.parse(await readFile(out, 'utf8')).runs ?? []) : [];

for (const name of datasets) {
  for (const rung of rungs) {
    const model = modelArg || (rung === 'full' ? 'mobilenet-v1-0.25' : 'mobilenet-v2');
    const opts: TrainOptions = { model, seed: 0, strategy: rung as TrainOptions['strategy'] };
    if (rung === 'partial') Object.assign(opts, { trainLast, epochs }, knobs);
    if (rung === 'full') Object.assign(opts, { epochs, size }, knobs);
    const epochTimes: number[] = [];
    const load0 = loadavg()[0];
    const t0 = Date.now();
    const r = await trainClassifier(join(datasetsDir, name), {
      ...opts,
      onEvent: (e) => {
        if (e.type === 'extract-done')
          console.error(
            `${name} ${rung}: ${e.split} ${e.embedded} computed, ${e.cached} cached (${e.seconds.toFixed(1)} s)`,
          );
        if (e.type === 'finetune-epoch') {
          epochTimes.push(e.seconds);
          console.error(
            `${name} ${rung}: epoch ${e.epoch} ${e.seconds.toFixed(1)} s (${(e.images / e.seconds).toFixed(1)} img/s) tensors ${e.memory.numTensors}`,
          );
        }
        if (e.type === 'progress' && rung !== 'head')
          console.error(
            `  step ${e.point.step} train acc ${e.point.trainAcc.toFixed(4)} inner val acc ${e.point.innerValAcc?.toFixed(4)}`,
          );
      },
    });
    const wall = (Date.now() - t0) / 1000;
    const ft = r.config.strategy === 'partial' || r.config.strategy === 'full' ? r.config : undefined;
    const row: Row = {
      dataset: name,
      rung,
      model,
      size: rung === 'full' ? size : undefined,
      batchSize: ft?.batchSize,
      trainLast: rung === 'partial' ? trainLast : undefined,
      epochs: rung === 'head' ? undefined : epochs,
      valAccuracy: r.metrics.accuracy,
      valCount: r.metrics.count,
      headOnlyInnerValAccuracy: ft?.headOnlyInnerValAccuracy,
      bestEpoch: ft?.bestEpoch,
      wallSeconds: wall,
      extractSeconds: r.timings.extractSeconds,
      trainSeconds: r.timings.trainSeconds,
      epochSeconds: epochTimes,
      knobs,
      loadavgStart: load0,
      loadavgEnd: loadavg()[0],
      cores: (await import('node:os')).availableParallelism(),
      when: new Date().toISOString(),
    };
    console.error(JSON.stringify(row));
    const i = results.findIndex(
      (x) =>
        x.dataset === name &&
        x.rung === rung &&
        x.model === model &&
        x.trainLast === row.trainLast &&
        x.epochs === row.epochs &&
        x.size === row.size &&
        JSON.stringify(x.knobs ?? {}) === JSON.stringify(knobs),
    );
    if (i >= 0) results[i] = row;
    else results.push(row);
    await mkdir(join(root, 'bench-results'), { recursive: true });
    await writeFile(out, JSON.stringify({ runs: results }, null, 2) + '\n');
    await r.classifier.dispose();
  }
}
