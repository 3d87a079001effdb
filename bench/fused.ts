// Fused features against their parts: rung-1 val accuracy and the 5-fold CV accuracy on train (what picks L2) per
// backbone and dataset, and for each fused model the scaling alternative (plain concatenation, no per-part L2
// normalisation) judged on the same training CV. Features come from the feature cache, so run `tl embed` first.
// Usage: npm run bench:fused -- [--models a,b,a+b] [--datasets x,y] [--out fused]
// A dataset is a name under TL_DATASETS_DIR or a folder (e.g. a stratified subset made of symlinks).
import { mkdirSync, writeFileSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { trainClassifier } from '../src/training/train.js';
import { loadDataset } from '../src/data/dataset.js';
import { loadFeatureBackbone } from '../src/backbone/load.js';
import { isFusedSpec, parseFusedSpec } from '../src/backbone/fused.js';
import { extractFeatures } from '../src/features/extract.js';
import { FeatureStore } from '../src/features/store.js';
import { fitSoftmaxHead } from '../src/classifier/head-policy.js';
import { applyStandardizerAll, fitStandardizer } from '../src/solvers/standardize.js';
import { predictProbaBatch } from '../src/solvers/softmax-regression.js';
import type { L2Selection } from '../src/solvers/select-l2.js';
import { argmax } from '../src/util/math.js';
import { env } from '../src/util/env.js';
import { benchArgs, list } from './args.js';

const args = benchArgs('npm run bench:fused -- [--models a,b,a+b] [--datasets x,y] [--out fused]', {
  models: 'mobilenet-v2,mobilenet-v1-0.75,mobilenet-v2+mobilenet-v1-0.75',
  datasets: 'hymenoptera_data,cats_and_dogs_filtered,imagewoof,eurosat',
  out: 'fused',
});
const datasetsDir = env.datasetsDir || resolve('../shared/datasets');
if (!env.modelsDir) env.modelsDir = resolve('../shared/models');

const cvOf = (s: L2Selection | undefined) => s?.curve.find((p) => p.l2 === s.best)?.cvAccuracy ?? NaN;

/** The rejected rule: each part's raw vector, concatenated (the head standardises every column either way). */
async function plainConcat(spec: string, data: string) {
  const dataset = loadDataset(data, { seed: 0 });
  const store = FeatureStore.open();
  const parts: { train: (Float32Array | undefined)[]; val: (Float32Array | undefined)[] }[] = [];
  for (const id of parseFusedSpec(spec)) {
    const b = await loadFeatureBackbone(id);
    const split = async (items: typeof dataset.train) =>
      (
        await extractFeatures(
          b,
          items.map((i) => i.path),
          { store },
        )
      ).features;
    parts.push({ train: await split(dataset.train), val: await split(dataset.val) });
    await b.dispose();
  }
  store.close();
  const join2 = (which: 'train' | 'val', i: number) => {
    const vs = parts.map((p) => p[which][i]!);
    const out = new Float32Array(vs.reduce((a, v) => a + v.length, 0));
    vs.reduce((o, v) => (out.set(v, o), o + v.length), 0);
    return out;
  };
  const y = (items: typeof dataset.train) => Int32Array.from(items, (i) => dataset.classes.indexOf(i.label));
  const Xtr = dataset.train.map((_, i) => join2('train', i));
  const Xva = dataset.val.map((_, i) => join2('val', i));
  const s = fitStandardizer(Xtr);
  const fit = await fitSoftmaxHead(applyStandardizerAll(Xtr, s), y(dataset.train), dataset.classes.length, { seed: 0 });
  const probs = predictProbaBatch(fit.model, applyStandardizerAll(Xva, s));
  const yva = y(dataset.val);
  const accuracy = probs.filter((p, i) => argmax(p) === yva[i]).length / Math.max(1, yva.length);
  return { accuracy, cvAccuracy: cvOf(fit.selection), l2: fit.l2 };
}

const rows: Record<string, unknown>[] = [];
for (const dataset of list(args.datasets)) {
  const data = isAbsolute(dataset) ? dataset : join(datasetsDir, dataset);
  for (const model of list(args.models)) {
    const r = await trainClassifier(data, { model, seed: 0, strategy: 'head' });
    const row = {
      dataset,
      model,
      rule: isFusedSpec(model) ? 'l2 per part' : 'single',
      accuracy: r.metrics.accuracy,
      cvAccuracy: cvOf(r.selection),
      l2: r.config.l2,
      trainImages: r.config.trainImages,
      valImages: r.config.valImages,
    };
    rows.push(row);
    await r.classifier.dispose();
    console.log(
      `${dataset.padEnd(24)} ${model.padEnd(34)} val ${row.accuracy.toFixed(4)}  cv ${row.cvAccuracy.toFixed(4)}`,
    );
    if (isFusedSpec(model)) {
      const p = await plainConcat(model, data);
      rows.push({ dataset, model, rule: 'plain concat', ...p });
      console.log(
        `${dataset.padEnd(24)} ${(model + ' (plain)').padEnd(34)} val ${p.accuracy.toFixed(4)}  cv ${p.cvAccuracy.toFixed(4)}`,
      );
    }
  }
}
mkdirSync('bench-results', { recursive: true });
writeFileSync(`bench-results/${args.out}.json`, JSON.stringify({ date: new Date().toISOString(), rows }, null, 2));
