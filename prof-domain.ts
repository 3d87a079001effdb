import { env } from './src/env.js';
import { loadBackbone } from './src/backbone/load.js';
import { preprocess } from './src/data/image.js';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
env.modelsDir = '/work/shared/models';
const b = await loadBackbone('mobilenet-v2');
for (const ds of ['hymenoptera_data', 'cats_and_dogs_filtered', 'imagewoof', 'imagenette', 'eurosat']) {
  const root = join('/work/shared/datasets', ds, 'train');
  const classes = readdirSync(root).sort();
  const files: string[] = [];
  for (let i = 0; files.length < 64 && i < 200; i++) for (const c of classes) { const fs = readdirSync(join(root, c)).sort(); if (fs[i * 7]) files.push(join(root, c, fs[i * 7])); }
  const xs = await Promise.all(files.slice(0, 64).map((f) => preprocess(f, b.input)));
  const r = await b.embedAndClassify(xs);
  const maxp = r.probabilities.map((p) => Math.max(...p));
  const ent = r.probabilities.map((p) => -p.reduce((s, v) => s + (v > 0 ? v * Math.log(v) : 0), 0));
  const mean = (a: number[]) => a.reduce((s, v) => s + v, 0) / a.length;
  const med = (a: number[]) => [...a].sort((x, y) => x - y)[a.length >> 1];
  console.log(ds.padEnd(24), 'mean top-1 prob', mean(maxp).toFixed(3), 'median', med(maxp).toFixed(3), 'mean entropy', mean(ent).toFixed(2));
}
await b.dispose();
