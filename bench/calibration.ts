// Rung 1's probabilities on every shared dataset's val split: accuracy, log loss and expected calibration error (ECE,
// 10 bins) of the head as `tl train --strategy head` fits it, with and without the temperature folded in
// (src/solvers/temperature.ts, fitted on the L2 search's out-of-fold logits: no val image decides anything).
// Writes bench-results/calibration.json. Usage: npm run bench:calibration -- [--datasets x,y] [--model ID]
// [--per-class N] (N training images per class, the first N in file order: the small-data case).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { loadDataset, type LabeledImage } from '../src/data/dataset.js';
import { loadFeatureBackbone } from '../src/backbone/load.js';
import { DEFAULT_MODEL_ID } from '../src/backbone/zoo.js';
import { FeatureStore } from '../src/features/store.js';
import { extractFeatures } from '../src/features/extract.js';
import { fitStandardizer, applyStandardizerAll } from '../src/solvers/standardize.js';
import { headForward, linearHead, withTemperature, type HeadWeights } from '../src/classifier/head.js';
import { fitSoftmaxHead } from '../src/classifier/head-policy.js';
import { fitTemperature } from '../src/solvers/temperature.js';
import { evaluate, type Metrics } from '../src/eval/metrics.js';
import { env } from '../src/util/env.js';
import { benchArgs, list } from './args.js';

const args = benchArgs('npm run bench:calibration -- [--datasets x,y] [--model ID] [--per-class N]', {
  datasets: undefined,
  model: DEFAULT_MODEL_ID,
  'per-class': undefined,
});
const datasetsDir = env.datasetsDir || resolve('../shared/datasets');
if (!env.modelsDir) env.modelsDir = resolve('../shared/models');
const datasets = args.datasets
  ? list(args.datasets)
  : [
      'hymenoptera_data',
      'cats_and_dogs_filtered',
      'imagenette',
      'imagewoof',
      'eurosat',
      'tf_flowers5',
      'pbc_bloodcells8',
    ];
const perClass = args['per-class'] ? Number(args['per-class']) : undefined;

const backbone = await loadFeatureBackbone(args.model);
const store = FeatureStore.open();

async function features(items: LabeledImage[], classes: string[]) {
  const r = await extractFeatures(
    backbone,
    items.map((x) => x.path),
    { store },
  );
  const keep = items.map((_, i) => i).filter((i) => r.features[i]);
  return {
    X: keep.map((i) => r.features[i]!),
    y: Int32Array.from(keep.map((i) => classes.indexOf(items[i].label))),
  };
}

const firstPerClass = (items: LabeledImage[], n: number) => {
  const seen = new Map<string, number>();
  return items.filter((x) => {
    const c = seen.get(x.label) ?? 0;
    seen.set(x.label, c + 1);
    return c < n;
  });
};

interface Row {
  dataset: string;
  trainImages: number;
  valImages: number;
  l2: number;
  temperature: number;
  capped: boolean;
  before: Pick<Metrics, 'accuracy' | 'logLoss' | 'ece'>;
  after: Pick<Metrics, 'accuracy' | 'logLoss' | 'ece'>;
  meanTopBefore: number;
  meanTopAfter: number;
}
const rows: Row[] = [];
for (const name of datasets) {
  const ds = loadDataset(join(datasetsDir, name), { seed: 0 });
  const train = await features(perClass ? firstPerClass(ds.train, perClass) : ds.train, ds.classes);
  const val = await features(ds.val, ds.classes);
  const K = ds.classes.length;
  const s = fitStandardizer(train.X);
  const Xtr = applyStandardizerAll(train.X, s);
  const plain = await fitSoftmaxHead(Xtr, train.y, K, { seed: 0 });
  // Rung 1's head as training/head.ts builds it, and the temperature as the rung harness fits and folds it in.
  const head = linearHead(s, plain.model.W, plain.model.b);
  const temperature = fitTemperature(plain.selection!.heldOutLogits!, train.y, K, plain.sampleWeights);
  const score = (h: HeadWeights) => {
    const p = val.X.map((f) => headForward(h, f));
    const metrics = evaluate(val.y, p, ds.classes);
    const meanTop = p.reduce((a, r) => a + Math.max(...r), 0) / Math.max(1, p.length);
    return { metrics, meanTop };
  };
  const b = score(head);
  const a = score(withTemperature(head, temperature.temperature));
  const pick = (m: Metrics) => ({ accuracy: m.accuracy, logLoss: m.logLoss, ece: m.ece });
  rows.push({
    dataset: name,
    trainImages: train.X.length,
    valImages: val.X.length,
    l2: plain.l2,
    temperature: temperature.temperature,
    capped: temperature.capped,
    before: pick(b.metrics),
    after: pick(a.metrics),
    meanTopBefore: b.meanTop,
    meanTopAfter: a.meanTop,
  });
  console.error(`${name}: done`);
}
store.close();
await backbone.dispose();

const f3 = (x: number) => x.toFixed(3);
console.log(
  `\nrung 1 (${args.model}${perClass ? `, ${perClass} training images/class` : ''}), val split; before = no temperature, after = temperature from the L2 search's out-of-fold logits\n`,
);
console.log(
  '| dataset | train | val | L2 | T | accuracy | log loss before → after | ECE before → after | mean top prob. before → after |',
);
console.log('|---|---|---|---|---|---|---|---|---|');
for (const r of rows)
  console.log(
    `| ${r.dataset} | ${r.trainImages} | ${r.valImages} | ${r.l2.toPrecision(3)} | ${r.temperature.toFixed(3)}${r.capped ? ' (cap)' : ''} | ${f3(r.before.accuracy)}${r.after.accuracy !== r.before.accuracy ? ` → ${f3(r.after.accuracy)}` : ''} | ${f3(r.before.logLoss)} → ${f3(r.after.logLoss)} | ${f3(r.before.ece)} → ${f3(r.after.ece)} | ${f3(r.meanTopBefore)} → ${f3(r.meanTopAfter)} |`,
  );
mkdirSync('bench-results', { recursive: true });
writeFileSync(
  `bench-results/calibration${perClass ? `-${perClass}` : ''}.json`,
  JSON.stringify({ date: new Date().toISOString(), model: args.model, perClass, rows }, null, 2),
);
