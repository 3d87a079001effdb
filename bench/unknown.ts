// Unknown detection (issue 13 part 3), measured as the out-of-distribution field does: AUROC of each score between
// known-class val images and unknown ones, and the share of known val images flagged at a threshold calibrated on
// training data only (the 95th percentile of the score on an inner split held out of train, or, for today's rule,
// the training images' leave-one-out distances).
// Split: known = the first K imagewoof breeds (train: their train images); near-unknown = the other imagewoof breeds'
// val images (other dog breeds); far-unknown = imagenette val (tench, church, parachute, ... and one dog breed).
// node --import tsx bench/unknown.ts [--known 5] [--model mobilenet-v2] [--k 5]   (writes bench-results/unknown.json)
import { readdirSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { benchArgs } from './args.js';
import { loadBackbone } from '../src/backbone/load.js';
import { extractFeatures } from '../src/features/extract.js';
import { FeatureStore } from '../src/features/store.js';
import { fitStandardizer, applyStandardizerAll } from '../src/train/standardize.js';
import { fitSoftmaxHead } from '../src/classifier/head-policy.js';
import { fitUnknownDetector, unknownDistance } from '../src/classifier/unknown.js';
import { innerSplit } from '../src/classifier/inner-split.js';
import { DEFAULT_MODEL_ID } from '../src/backbone/zoo.js';

const args = benchArgs('node --import tsx bench/unknown.ts [--known 5] [--model mobilenet-v2] [--k 5]', {
  known: '5',
  model: DEFAULT_MODEL_ID,
  k: '5',
});
const root = [resolve(import.meta.dirname, '..'), resolve(import.meta.dirname, '../..')].find((d) =>
  existsSync(join(d, 'package.json')),
)!;
const datasets = process.env.TL_DATASETS_DIR || resolve(root, '../shared/datasets');
const KNOWN = Number(args.known);
const K_NN = Number(args.k);
const FLAG_RATE = 0.05;

const listClass = (dir: string) =>
  readdirSync(dir)
    .sort()
    .map((f) => join(dir, f));
const woofClasses = readdirSync(join(datasets, 'imagewoof/train')).sort();
const known = woofClasses.slice(0, KNOWN);
const near = woofClasses.slice(KNOWN);
const trainItems = known.flatMap((c, y) =>
  listClass(join(datasets, 'imagewoof/train', c)).map((path) => ({ path, y })),
);
const valItems = known.flatMap((c, y) => listClass(join(datasets, 'imagewoof/val', c)).map((path) => ({ path, y })));
const nearPaths = near.flatMap((c) => listClass(join(datasets, 'imagewoof/val', c)));
const farPaths = readdirSync(join(datasets, 'imagenette/val'))
  .sort()
  .flatMap((c) => listClass(join(datasets, 'imagenette/val', c)));

const backbone = await loadBackbone(args.model);
const store = FeatureStore.open();
const embed = async (paths: string[]) => (await extractFeatures(backbone, paths, { store })).features;
const t0 = Date.now();
const [trF, vaF, nearF, farF] = [
  await embed(trainItems.map((x) => x.path)),
  await embed(valItems.map((x) => x.path)),
  await embed(nearPaths),
  await embed(farPaths),
];
store.close();
await backbone.dispose();
const keep = <T>(f: (Float32Array | undefined)[], items: T[]) =>
  items.map((it, i) => ({ it, f: f[i] })).filter((x) => x.f) as { it: T; f: Float32Array }[];
const train = keep(trF, trainItems);
const val = keep(vaF, valItems).map((x) => x.f);
const nearSet = keep(nearF, nearPaths).map((x) => x.f);
const farSet = keep(farF, farPaths).map((x) => x.f);
console.error(
  `features: ${train.length} train, ${val.length} known val, ${nearSet.length} near-unknown, ${farSet.length} far-unknown (${((Date.now() - t0) / 1000).toFixed(1)} s)`,
);

// Everything a score needs is fitted on the inner-fit part of train; thresholds come from the held-out inner part.
const labels = Int32Array.from(train.map((x) => x.it.y));
const split = innerSplit(labels, KNOWN, 0);
const fitF = split.fit.map((i) => train[i].f);
const fitY = Int32Array.from(split.fit, (i) => labels[i]);
const checkF = split.check.map((i) => train[i].f);
const std = fitStandardizer(fitF);
const Xfit = applyStandardizerAll(fitF, std);
const head = (await fitSoftmaxHead(Xfit, fitY, KNOWN, { seed: 0 })).model;
const D = Xfit[0].length;
const logits = (f: Float32Array) => {
  const x = applyStandardizerAll([f], std)[0];
  return Array.from({ length: KNOWN }, (_, k) => {
    let s = head.b[k];
    for (let j = 0; j < D; j++) s += head.W[k * D + j] * x[j];
    return s;
  });
};
const lse = (z: number[]) => {
  const m = Math.max(...z);
  return m + Math.log(z.reduce((a, v) => a + Math.exp(v - m), 0));
};

// Cosine references (L2-normalised raw features), by class for the class-conditional k-NN.
const norm = (v: Float32Array) => {
  let n = 0;
  for (const x of v) n += x * x;
  n = Math.sqrt(n) || 1;
  return v.map((x) => x / n);
};
const refs = fitF.map(norm);
const cosDists = (f: Float32Array, rows: Float32Array[]) => {
  const q = norm(f);
  return rows.map((r) => {
    let d = 0;
    for (let j = 0; j < D; j++) d += r[j] * q[j];
    return 1 - d;
  });
};
const byClass = Array.from({ length: KNOWN }, (_, c) => refs.filter((_, i) => fitY[i] === c));

// Mahalanobis with a shared, shrunk within-class covariance on the standardized features: whiten once by the Cholesky
// factor, then squared Euclidean distance to the nearest whitened class mean.
const means = Array.from({ length: KNOWN }, (_, c) => {
  const m = new Float64Array(D);
  const rows = Xfit.filter((_, i) => fitY[i] === c);
  for (const r of rows) for (let j = 0; j < D; j++) m[j] += r[j] / rows.length;
  return m;
});
const cov = new Float64Array(D * D);
Xfit.forEach((r, i) => {
  const m = means[fitY[i]];
  const c = Float64Array.from(r, (v, j) => v - m[j]);
  for (let a = 0; a < D; a++) {
    const ca = c[a] / Xfit.length;
    if (ca === 0) continue;
    for (let b = 0; b <= a; b++) cov[a * D + b] += ca * c[b];
  }
});
let trace = 0;
for (let a = 0; a < D; a++) trace += cov[a * D + a];
const SHRINK = 0.2;
for (let a = 0; a < D; a++)
  for (let b = 0; b <= a; b++) cov[a * D + b] = (1 - SHRINK) * cov[a * D + b] + (a === b ? (SHRINK * trace) / D : 0);
const L = cov; // in-place Cholesky of the lower triangle
for (let j = 0; j < D; j++) {
  let s = L[j * D + j];
  for (let k = 0; k < j; k++) s -= L[j * D + k] ** 2;
  L[j * D + j] = Math.sqrt(s);
  for (let i = j + 1; i < D; i++) {
    let t = L[i * D + j];
    for (let k = 0; k < j; k++) t -= L[i * D + k] * L[j * D + k];
    L[i * D + j] = t / L[j * D + j];
  }
}
const whiten = (x: ArrayLike<number>) => {
  const y = new Float64Array(D);
  for (let i = 0; i < D; i++) {
    let s = x[i];
    for (let k = 0; k < i; k++) s -= L[i * D + k] * y[k];
    y[i] = s / L[i * D + i];
  }
  return y;
};
const wMeans = means.map(whiten);
const mahalanobis = (f: Float32Array) => {
  const y = whiten(applyStandardizerAll([f], std)[0]);
  return Math.min(...wMeans.map((m) => m.reduce((a, v, j) => a + (y[j] - v) ** 2, 0)));
};

// Higher = more unknown, for every method.
const methods: Record<string, (f: Float32Array) => number> = {
  'nearest-neighbour cosine (today)': (f) => Math.min(...cosDists(f, refs)),
  [`class-conditional ${K_NN}-NN cosine`]: (f) => {
    const c = logits(f).reduce((b, v, k, z) => (v > z[b] ? k : b), 0);
    const d = cosDists(f, byClass[c]).sort((a, b) => a - b);
    return d[Math.min(K_NN, d.length) - 1];
  },
  'Mahalanobis (shared covariance, shrunk 0.2)': mahalanobis,
  'energy (-logsumexp of logits)': (f) => -lse(logits(f)),
  'max logit (negated)': (f) => -Math.max(...logits(f)),
  'max softmax probability (negated)': (f) => {
    const z = logits(f);
    return -Math.exp(Math.max(...z) - lse(z));
  },
};

/** AUROC of separating `pos` (unknown) from `neg` (known) by score; ties count half. */
function auroc(neg: number[], pos: number[]): number {
  const all = [...neg.map((s) => ({ s, p: 0 })), ...pos.map((s) => ({ s, p: 1 }))].sort((a, b) => a.s - b.s);
  let rankSum = 0;
  for (let i = 0; i < all.length;) {
    let j = i;
    while (j < all.length && all[j].s === all[i].s) j++;
    const rank = (i + j + 1) / 2;
    for (let k = i; k < j; k++) if (all[k].p) rankSum += rank;
    i = j;
  }
  return (rankSum - (pos.length * (pos.length + 1)) / 2) / (pos.length * neg.length);
}
const quantile = (xs: number[], q: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))];
const rate = (xs: number[], thr: number) => xs.filter((x) => x > thr).length / xs.length;

const rows: Record<string, unknown>[] = [];
for (const [name, score] of Object.entries(methods)) {
  const t = Date.now();
  const [sv, sn, sf, sc] = [val, nearSet, farSet, checkF].map((set) => set.map(score));
  const thr = quantile(sc, 1 - FLAG_RATE);
  rows.push({
    method: name,
    aurocNear: auroc(sv, sn),
    aurocFar: auroc(sv, sf),
    threshold: thr,
    flagKnownVal: rate(sv, thr),
    flagNear: rate(sn, thr),
    flagFar: rate(sf, thr),
    seconds: (Date.now() - t) / 1000,
  });
  console.error(`${name}: done in ${((Date.now() - t) / 1000).toFixed(1)} s`);
}
// Today's rule exactly as tl train fits it: all training images as references, threshold from their leave-one-out distances.
const det = fitUnknownDetector(
  train.map((x) => x.f),
  labels,
  KNOWN,
);
const dist = (set: Float32Array[]) => set.map((f) => unknownDistance(det, f));
const [dv, dn, df] = [dist(val), dist(nearSet), dist(farSet)];
rows.push({
  method: 'tl today: nearest neighbour, all train, LOO threshold',
  aurocNear: auroc(dv, dn),
  aurocFar: auroc(dv, df),
  threshold: det.threshold,
  flagKnownVal: rate(dv, det.threshold),
  flagNear: rate(dn, det.threshold),
  flagFar: rate(df, det.threshold),
});

const pct = (x: unknown) => `${((x as number) * 100).toFixed(1)}%`;
console.log(
  `known: imagewoof ${known.join(' ')} (${train.length} train, ${val.length} val); near-unknown: imagewoof ${near.join(' ')} (${nearSet.length}); far-unknown: imagenette val (${farSet.length}); ${args.model}`,
);
console.log('| method | AUROC near (other dog breeds) | AUROC far (imagenette) | flagged: known val | near | far |');
console.log('|---|---|---|---|---|---|');
for (const r of rows)
  console.log(
    `| ${r.method} | ${(r.aurocNear as number).toFixed(3)} | ${(r.aurocFar as number).toFixed(3)} | ${pct(r.flagKnownVal)} | ${pct(r.flagNear)} | ${pct(r.flagFar)} |`,
  );
await mkdir(resolve(root, 'bench-results'), { recursive: true });
await writeFile(
  resolve(root, 'bench-results/unknown.json'),
  JSON.stringify({ when: new Date().toISOString(), model: args.model, known, near, rows }, null, 2) + '\n',
);
