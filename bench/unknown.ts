// The unknown flag (docs/unknown.md), measured on MobileNetV2 features (from the feature cache when it holds them).
// Sections (--sections, default rates,near):
// - rates (issue 24): on each of the 7 shared sets, the threshold fitted on train as `tl train` fits it
//   (fitUnknownOnTrain: conformal, train only) and the share of the official val split it flags, beside the binomial
//   sd of a 5% rate on that many images and the threshold's own estimation sd; then the same over --resplits random
//   stratified re-splits of train + val (same sizes), which shows whether the rule is biased or a set's val is unlike
//   its train. "leave-one-out only" calibrates on the kept references alone (the rule before issue 24, less its
//   quantile), for the sets with more training images than references.
// - near (issue 24): each shared set with 4 classes or more, --near-partitions random partitions: the detector fitted
//   on half the classes (ceil), the other classes' val images are near-unknowns, val images of the shared sets with
//   nothing in common with it are far-unknowns; AUROC (known val vs unknown) and the share flagged at the threshold.
//   Beside it (unless --no-neither), a "neither" class instead: the softmax head (fitSoftmaxHead, L2 by CV) trained on
//   the known classes plus the training images of half the held-out classes as one class "neither"; the share of val
//   images it calls "neither", for the held-out classes it saw and for those it did not.
// - methods (issue 13; slow): the scores compared. Known = 5 imagewoof breeds; near-unknown = the other 5 breeds' val
//   images; far-unknown = imagenette val. AUROC of each score, and, at a threshold calibrated on training data only
//   (the 95th percentile of the score on an inner split held out of train), the share of known val images flagged and
//   of unknowns caught. Split "A" (issue 13's): the first 5 breeds known; "B" the other 5; then `--partitions N`
//   random 5/5 partitions. Every score is fitted on the inner-fit part of train; thresholds, z-score statistics and k
//   come from train only (k: leave-one-class-out on train). The "neither" head also trains on imagenette TRAIN images
//   as outliers: none of them is a breed of the near split, but imagenette val (far) holds the same 10 classes, so
//   its far AUROC is that of seen outlier classes (optimistic).
// The val splits are only read to report: nothing here is chosen on them.
// npm run bench:unknown -- [--sections rates,near,methods] [--resplits 10] [--near-partitions 3] [--partitions 6]
//   (writes bench-results/unknown.json: one key per section run; the other sections' results are kept)
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { benchArgs, list } from './args.js';
import { loadBackbone } from '../src/backbone/load.js';
import { extractFeatures } from '../src/features/extract.js';
import { FeatureStore } from '../src/features/store.js';
import { fitStandardizer, applyStandardizerAll } from '../src/solvers/standardize.js';
import { fitSoftmaxHead } from '../src/classifier/head-policy.js';
import {
  fitUnknownDetector,
  fitUnknownDetectorCounted,
  unknownDistance,
  DEFAULT_FALSE_UNKNOWN_RATE,
  type UnknownDetector,
} from '../src/classifier/unknown.js';
import { fitUnknownOnTrain } from '../src/classifier/splits-used.js';
import { innerSplit } from '../src/classifier/inner-split.js';
import { DEFAULT_MODEL_ID } from '../src/backbone/zoo.js';
import { Rng } from '../src/util/random.js';
import { env } from '../src/util/env.js';

const SECTIONS = ['rates', 'near', 'methods'] as const;
type Section = (typeof SECTIONS)[number];
const args = benchArgs(
  'npm run bench:unknown -- [--sections rates,near,methods] [--sets a,b] [--resplits 10] [--near-partitions 3] [--no-neither] [--model mobilenet-v2] [--partitions 6] [--cc-k 5]',
  {
    sections: 'rates,near',
    sets: '',
    resplits: '10',
    'near-partitions': '3',
    model: DEFAULT_MODEL_ID,
    partitions: '6',
    'cc-k': '5',
  },
  ['no-neither'],
);
const sections = list(args.sections);
for (const s of sections)
  if (!(SECTIONS as readonly string[]).includes(s)) {
    console.error(`no section "${s}"; there are: ${SECTIONS.join(', ')}`);
    process.exit(2);
  }
const root = [resolve(import.meta.dirname, '..'), resolve(import.meta.dirname, '../..')].find((d) =>
  existsSync(join(d, 'package.json')),
)!;
const datasets = env.datasetsDir || resolve(root, '../shared/datasets');
const CC_K = Number(args['cc-k']);
const FLAG_RATE = DEFAULT_FALSE_UNKNOWN_RATE;
const K_CANDIDATES = [1, 2, 3, 5, 10, 20, 50];
const TL_ROW = 'tl train as fitted,';
const MEAN5 = 'mean cosine distance to the 5 nearest (fixed k)';
/** The shared sets (../shared/datasets); `dogs`: holds dog photos, so it is no far-unknown for another that does. */
const SHARED_SETS = [
  { name: 'hymenoptera_data', dogs: false },
  { name: 'cats_and_dogs_filtered', dogs: true },
  { name: 'imagenette', dogs: true },
  { name: 'imagewoof', dogs: true },
  { name: 'tf_flowers5', dogs: false },
  { name: 'pbc_bloodcells8', dogs: false },
  { name: 'eurosat', dogs: false },
];
const setNames = args.sets ? list(args.sets) : SHARED_SETS.map((s) => s.name);

// ---- features (all from the feature cache when it holds them) ----
const listDir = (dir: string) =>
  readdirSync(dir)
    .sort()
    .map((f) => join(dir, f));
const backbone = await loadBackbone(args.model);
const store = FeatureStore.open();
async function embedDir(dir: string): Promise<Float32Array[]> {
  const { features } = await extractFeatures(backbone, listDir(dir), { store });
  return features.filter((f): f is Float32Array => f !== undefined);
}
interface Labelled {
  rows: Float32Array[];
  labels: Int32Array;
}
interface SharedSet {
  name: string;
  classes: string[];
  train: Labelled;
  val: Labelled;
}
async function embedSplit(dir: string, classes: string[]): Promise<Labelled> {
  const rows: Float32Array[] = [];
  const labels: number[] = [];
  for (const [y, c] of classes.entries()) {
    const f = await embedDir(join(dir, c));
    rows.push(...f);
    labels.push(...f.map(() => y));
  }
  return { rows, labels: Int32Array.from(labels) };
}
const loaded = new Map<string, SharedSet>();
async function sharedSet(name: string): Promise<SharedSet> {
  const had = loaded.get(name);
  if (had) return had;
  const t = Date.now();
  const classes = readdirSync(join(datasets, name, 'train')).sort();
  const set = {
    name,
    classes,
    train: await embedSplit(join(datasets, name, 'train'), classes),
    val: await embedSplit(join(datasets, name, 'val'), classes),
  };
  console.error(
    `${name}: ${set.train.rows.length} train, ${set.val.rows.length} val images (${((Date.now() - t) / 1000).toFixed(1)} s)`,
  );
  loaded.set(name, set);
  return set;
}
// The methods section's features, loaded when it runs.
let breeds: string[] = [];
const woofTrain: Float32Array[][] = [];
const woofVal: Float32Array[][] = [];
const outliers: Float32Array[] = [];
const far: Float32Array[] = [];
let D = 0;
async function loadMethodsFeatures() {
  const t0 = Date.now();
  breeds = readdirSync(join(datasets, 'imagewoof/train')).sort();
  for (const b of breeds) {
    woofTrain.push(await embedDir(join(datasets, 'imagewoof/train', b)));
    woofVal.push(await embedDir(join(datasets, 'imagewoof/val', b)));
  }
  for (const c of readdirSync(join(datasets, 'imagenette/train')).sort()) {
    outliers.push(...(await embedDir(join(datasets, 'imagenette/train', c))));
    far.push(...(await embedDir(join(datasets, 'imagenette/val', c))));
  }
  console.error(`features loaded in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  D = far[0].length;
}

// ---- small numeric helpers ----
const norm = (v: Float32Array) => {
  let n = 0;
  for (const x of v) n += x * x;
  n = Math.sqrt(n) || 1;
  return v.map((x) => x / n);
};
const dot = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let s = 0;
  for (let j = 0; j < a.length; j++) s += a[j] * b[j];
  return s;
};
/** Ascending cosine distances from (normalised) q to each (normalised) reference row. */
const sortedDistances = (q: Float32Array, refs: Float32Array[]) => Float64Array.from(refs, (r) => 1 - dot(r, q)).sort();
const lse = (z: number[]) => {
  const m = Math.max(...z);
  return m + Math.log(z.reduce((a, v) => a + Math.exp(v - m), 0));
};
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const sd = (xs: number[]) => {
  const m = mean(xs);
  return Math.sqrt(xs.reduce((a, b) => a + (b - m) ** 2, 0) / Math.max(1, xs.length - 1)) || 1;
};

/** AUROC of separating `pos` (unknown) from `neg` (known) by score (higher = more unknown); ties count half. */
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

/**
 * Squared Mahalanobis distance to the nearest class Gaussian, the classes sharing one covariance shrunk towards a
 * scaled identity by the Ledoit-Wolf intensity (1280 dimensions from a few hundred rows: the sample covariance alone
 * is singular). Whitening by the Cholesky factor once makes each query O(D^2).
 */
function gaussianScorer(
  rows: Float32Array[],
  labels: Int32Array,
  K: number,
  fixedShrink?: number,
): { shrink: number; score: (x: ArrayLike<number>) => number } {
  const n = rows.length;
  const means = Array.from({ length: K }, () => new Float64Array(D));
  const counts = new Array<number>(K).fill(0);
  rows.forEach((r, i) => {
    counts[labels[i]]++;
    for (let j = 0; j < D; j++) means[labels[i]][j] += r[j];
  });
  means.forEach((m, c) => m.forEach((_, j) => (m[j] /= counts[c] || 1)));
  const S = new Float64Array(D * D);
  let sumNorm4 = 0;
  rows.forEach((r, i) => {
    const m = means[labels[i]];
    const c = Float64Array.from(r, (v, j) => v - m[j]);
    sumNorm4 += dot(c, c) ** 2;
    for (let a = 0; a < D; a++) {
      const ca = c[a] / n;
      if (ca === 0) continue;
      for (let b = 0; b <= a; b++) S[a * D + b] += ca * c[b];
    }
  });
  let trace = 0;
  let frob2 = 0;
  for (let a = 0; a < D; a++) {
    trace += S[a * D + a];
    for (let b = 0; b <= a; b++) frob2 += (a === b ? 1 : 2) * S[a * D + b] ** 2;
  }
  const mu = trace / D;
  const d2 = frob2 - D * mu * mu; // ||S - mu I||_F^2
  const b2 = Math.min(d2, (sumNorm4 / n - frob2) / n);
  const shrink = fixedShrink ?? (d2 > 0 ? b2 / d2 : 1);
  for (let a = 0; a < D; a++)
    for (let b = 0; b <= a; b++) S[a * D + b] = (1 - shrink) * S[a * D + b] + (a === b ? shrink * mu : 0);
  const L = S; // in-place Cholesky of the lower triangle
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
  const wMeans = means.filter((_, c) => counts[c]).map(whiten);
  return {
    shrink,
    score: (x) => {
      const y = whiten(x);
      return Math.min(...wMeans.map((m) => m.reduce((a, v, j) => a + (y[j] - v) ** 2, 0)));
    },
  };
}

/** A softmax head on standardized rows; returns the logits of a raw feature vector. */
async function fitLogits(rows: Float32Array[], labels: Int32Array, K: number) {
  const std = fitStandardizer(rows);
  const head = (await fitSoftmaxHead(applyStandardizerAll(rows, std), labels, K, { seed: 0 })).model;
  const dim = rows[0].length;
  return (f: Float32Array) => {
    const x = applyStandardizerAll([f], std)[0];
    return Array.from({ length: K }, (_, k) => head.b[k] + dot(head.W.subarray(k * dim, (k + 1) * dim), x));
  };
}

/**
 * k for the k-NN score, chosen on training data only: each known class in turn plays the unknown (its rows scored
 * against the other classes' fit rows), the other classes' held-out rows play the known; the k with the best mean
 * AUROC over the classes wins.
 */
function tuneK(
  fitN: Float32Array[],
  fitY: Int32Array,
  checkN: Float32Array[],
  checkY: Int32Array,
  K: number,
  reduce: (sorted: Float64Array, k: number) => number,
) {
  const perK = K_CANDIDATES.map(() => [] as number[]);
  for (let c = 0; c < K; c++) {
    const refs = fitN.filter((_, i) => fitY[i] !== c);
    const known = checkN.filter((_, i) => checkY[i] !== c).map((q) => sortedDistances(q, refs));
    const unknown = [...fitN.filter((_, i) => fitY[i] === c), ...checkN.filter((_, i) => checkY[i] === c)].map((q) =>
      sortedDistances(q, refs),
    );
    K_CANDIDATES.forEach((k, j) =>
      perK[j].push(
        auroc(
          known.map((d) => reduce(d, k)),
          unknown.map((d) => reduce(d, k)),
        ),
      ),
    );
  }
  const scores = perK.map(mean);
  const best = scores.indexOf(Math.max(...scores));
  return { k: K_CANDIDATES[best], trainAuroc: Object.fromEntries(K_CANDIDATES.map((k, j) => [k, scores[j]])) };
}

interface Row {
  method: string;
  aurocNear: number;
  aurocFar: number;
  flagKnownVal: number;
  flagNear: number;
  flagFar: number;
}

/** One known/unknown split of the 10 breeds: every method's row. */
async function runSplit(knownIdx: number[]) {
  const K = knownIdx.length;
  const nearIdx = breeds.map((_, i) => i).filter((i) => !knownIdx.includes(i));
  const train = knownIdx.flatMap((b, y) => woofTrain[b].map((f) => ({ f, y })));
  const val = knownIdx.flatMap((b) => woofVal[b]);
  const near = nearIdx.flatMap((b) => woofVal[b]);
  const labels = Int32Array.from(train, (x) => x.y);
  const split = innerSplit(labels, K, 0);
  const fitF = split.fit.map((i) => train[i].f);
  const fitY = Int32Array.from(split.fit, (i) => labels[i]);
  const checkF = split.check.map((i) => train[i].f);
  const checkY = Int32Array.from(split.check, (i) => labels[i]);
  const fitN = fitF.map(norm);
  const checkN = checkF.map(norm);
  // Centred: the fit rows' mean subtracted before normalising (pooled ReLU features all point into one orthant, so
  // raw cosines crowd near 1).
  const centre = new Float32Array(D);
  for (const f of fitF) for (let j = 0; j < D; j++) centre[j] += f[j] / fitF.length;
  const centred = (f: Float32Array) => norm(f.map((v, j) => v - centre[j]));
  const fitC = fitF.map(centred);
  const byClass = Array.from({ length: K }, (_, c) => fitN.filter((_, i) => fitY[i] === c));
  const sets = { val, near, far, check: checkF };

  const t = Date.now();
  const logits = await fitLogits(fitF, fitY, K);
  // "neither": the same head with an extra class of outlier images available at train time (imagenette train).
  const neitherLogits = await fitLogits(
    [...fitF, ...outliers],
    Int32Array.from([...fitY, ...outliers.map(() => K)]),
    K + 1,
  );
  const kthOf = (d: Float64Array, k: number) => d[Math.min(k, d.length) - 1];
  const meanOf = (d: Float64Array, k: number) => mean(Array.from(d.subarray(0, Math.min(k, d.length))));
  const tuned = tuneK(fitN, fitY, checkN, checkY, K, kthOf);
  const tunedMean = tuneK(fitN, fitY, checkN, checkY, K, meanOf);
  const mahaStd = (() => {
    const std = fitStandardizer(fitF);
    const { score } = gaussianScorer(applyStandardizerAll(fitF, std), fitY, K);
    return (f: Float32Array) => score(applyStandardizerAll([f], std)[0]);
  })();
  const mahaL2 = gaussianScorer(fitN, fitY, K);
  // The background Gaussian (all known rows as one class) shrunk by the same intensity: with two different
  // intensities the difference of the two distances measures the shrinkage more than the image.
  const background = gaussianScorer(fitN, new Int32Array(fitN.length), 1, mahaL2.shrink);
  console.error(
    `  fitted in ${((Date.now() - t) / 1000).toFixed(1)} s (k = ${tuned.k}, mean-of-k k = ${tunedMean.k}, Ledoit-Wolf shrinkage ${mahaL2.shrink.toFixed(3)})`,
  );

  // Higher = more unknown, for every method.
  const kth = (f: Float32Array, k: number) => kthOf(sortedDistances(norm(f), fitN), k);
  const energy = (f: Float32Array) => -lse(logits(f));
  const pNeither = (f: Float32Array) => {
    const z = neitherLogits(f);
    return Math.exp(z[K] - lse(z));
  };
  const methods: Record<string, (f: Float32Array) => number> = {
    'nearest-neighbour cosine (k = 1, the former rule)': (f) => kth(f, 1),
    'k-th nearest cosine distance, k tuned leave-one-class-out on train': (f) => kth(f, tuned.k),
    [MEAN5]: (f) => meanOf(sortedDistances(norm(f), fitN), 5),
    'mean cosine distance to the k nearest, k tuned leave-one-class-out on train': (f) =>
      meanOf(sortedDistances(norm(f), fitN), tunedMean.k),
    'nearest-neighbour cosine, centred features (fit mean subtracted)': (f) => sortedDistances(centred(f), fitC)[0],
    [`class-conditional ${CC_K}-NN cosine (class from the head)`]: (f) => {
      const z = logits(f);
      const d = sortedDistances(norm(f), byClass[z.indexOf(Math.max(...z))]);
      return d[Math.min(CC_K, d.length) - 1];
    },
    'Mahalanobis, standardized, shared covariance (Ledoit-Wolf)': mahaStd,
    'Mahalanobis, L2-normalised, shared covariance (Ledoit-Wolf)': (f) => mahaL2.score(norm(f)),
    'relative Mahalanobis, L2-normalised (minus background Gaussian)': (f) => {
      const x = norm(f);
      return mahaL2.score(x) - background.score(x);
    },
    'energy (-logsumexp of logits)': energy,
    'max logit (negated)': (f) => -Math.max(...logits(f)),
    'max softmax probability (negated)': (f) => {
      const z = logits(f);
      return -Math.exp(Math.max(...z) - lse(z));
    },
    '"neither" class: P(neither), head trained with imagenette-train outliers': pNeither,
  };
  // Combinations: the mean of each part's z-score, its statistics from the held-out training rows.
  const zScored = (score: (f: Float32Array) => number) => {
    const s = checkF.map(score);
    const [m, v] = [mean(s), sd(s)];
    return (f: Float32Array) => (score(f) - m) / v;
  };
  const combine = (...parts: ((f: Float32Array) => number)[]) => {
    const z = parts.map(zScored);
    return (f: Float32Array) => mean(z.map((g) => g(f)));
  };
  methods['combination: z-mean of 5-NN mean distance and energy'] = combine(methods[MEAN5], energy);
  methods['combination: z-mean of 5-NN mean distance and "neither" P(neither)'] = combine(methods[MEAN5], pNeither);

  const rows: Row[] = [];
  for (const [name, score] of Object.entries(methods)) {
    const s = Object.fromEntries(Object.entries(sets).map(([k, v]) => [k, v.map(score)])) as Record<
      keyof typeof sets,
      number[]
    >;
    const thr = quantile(s.check, 1 - FLAG_RATE);
    rows.push({
      method: name,
      aurocNear: auroc(s.val, s.near),
      aurocFar: auroc(s.val, s.far),
      flagKnownVal: rate(s.val, thr),
      flagNear: rate(s.near, thr),
      flagFar: rate(s.far, thr),
    });
  }
  // What tl train fits, before (k = 1: the nearest image) and now (the default k): all training images as
  // references, threshold from their leave-one-out scores.
  for (const k of [1, undefined]) {
    const det = fitUnknownDetector(
      train.map((x) => x.f),
      labels,
      K,
      undefined,
      { k },
    );
    const dist = (set: Float32Array[]) => set.map((f) => unknownDistance(det, f));
    const [dv, dn, df] = [dist(val), dist(near), dist(far)];
    rows.push({
      method: `${TL_ROW} ${k === 1 ? 'before' : 'now'} (k = ${det.k}), all train, leave-one-out threshold`,
      aurocNear: auroc(dv, dn),
      aurocFar: auroc(dv, df),
      flagKnownVal: rate(dv, det.threshold),
      flagNear: rate(dn, det.threshold),
      flagFar: rate(df, det.threshold),
    });
  }
  return {
    known: knownIdx.map((i) => breeds[i]),
    near: nearIdx.map((i) => breeds[i]),
    counts: { train: train.length, val: val.length, near: near.length, far: far.length, outliers: outliers.length },
    k: tuned,
    kMean: tunedMean,
    rows,
  };
}

// ---- section "methods": the scores compared (issue 13) ----
async function methodsSection() {
  await loadMethodsFeatures();
  const all = breeds.map((_, i) => i);
  const splits: { name: string; known: number[] }[] = [
    { name: 'A (first 5 breeds known)', known: all.slice(0, 5) },
    { name: 'B (last 5 breeds known)', known: all.slice(5) },
  ];
  const rng = new Rng(13);
  for (let p = 0; p < Number(args.partitions); p++)
    splits.push({
      name: `random partition ${p + 1}`,
      known: rng
        .shuffle([...all])
        .slice(0, 5)
        .sort((a, b) => a - b),
    });

  const results: ({ name: string } & Awaited<ReturnType<typeof runSplit>>)[] = [];
  for (const s of splits) {
    console.error(`split ${s.name}: known ${s.known.map((i) => breeds[i]).join(' ')}`);
    const r = await runSplit(s.known);
    results.push({ name: s.name, ...r });
    console.log(
      `\n### split ${s.name}: known ${r.known.join(' ')} (${r.counts.train} train, ${r.counts.val} val); near ${r.near.join(' ')} (${r.counts.near}); far imagenette val (${r.counts.far}); k = ${r.k.k}; ${args.model}`,
    );
    console.log('| method | AUROC near | AUROC far | flagged: known val | near | far |');
    console.log('|---|---|---|---|---|---|');
    for (const row of r.rows)
      console.log(
        `| ${row.method} | ${row.aurocNear.toFixed(3)} | ${row.aurocFar.toFixed(3)} | ${pct(row.flagKnownVal)} | ${pct(row.flagNear)} | ${pct(row.flagFar)} |`,
      );
  }
  // Mean over the splits.
  const names = results[0].rows.map((r) => r.method);
  const avg = (name: string, key: keyof Omit<Row, 'method'>) =>
    mean(results.map((r) => r.rows.find((x) => x.method === name)![key]));
  const today = avg(names[0], 'aurocNear');
  console.log(`\n### mean over ${results.length} splits`);
  console.log('| method | AUROC near | (vs today) | AUROC far | flagged: known val | near | far |');
  console.log('|---|---|---|---|---|---|---|');
  const summary = names.map((name) => ({
    method: name,
    aurocNear: avg(name, 'aurocNear'),
    aurocFar: avg(name, 'aurocFar'),
    flagKnownVal: avg(name, 'flagKnownVal'),
    flagNear: avg(name, 'flagNear'),
    flagFar: avg(name, 'flagFar'),
  }));
  for (const r of summary)
    console.log(
      `| ${r.method} | ${r.aurocNear.toFixed(3)} | ${(r.aurocNear - today >= 0 ? '+' : '') + (r.aurocNear - today).toFixed(3)} | ${r.aurocFar.toFixed(3)} | ${pct(r.flagKnownVal)} | ${pct(r.flagNear)} | ${pct(r.flagFar)} |`,
    );
  return { splits: results, summary };
}

// ---- shared by the sections on the shared sets ----
const pct = (x: number, digits = 1) => `${(x * 100).toFixed(digits)}%`;
const pts = (x: number) => (x * 100).toFixed(2);
const flagged = (det: UnknownDetector, rows: readonly Float32Array[]) =>
  rows.filter((f) => unknownDistance(det, f) > det.threshold).length / rows.length;
/** sd of a rate `p` measured on `n` independent images. */
const binomialSd = (p: number, n: number) => Math.sqrt((p * (1 - p)) / n);

/** Train and val pooled, then split at random within each class into parts of the official sizes. */
function resplit(set: SharedSet, seed: number): { train: Labelled; val: Labelled } {
  const rng = new Rng(seed);
  const rows = [...set.train.rows, ...set.val.rows];
  const labels = Int32Array.from([...set.train.labels, ...set.val.labels]);
  const train: number[] = [];
  const val: number[] = [];
  for (let c = 0; c < set.classes.length; c++) {
    const idx = rng.shuffle([...labels.keys()].filter((i) => labels[i] === c));
    const nTrain = set.train.labels.filter((y) => y === c).length;
    train.push(...idx.slice(0, nTrain));
    val.push(...idx.slice(nTrain));
  }
  const pick = (idx: number[]) => ({ rows: idx.map((i) => rows[i]), labels: Int32Array.from(idx, (i) => labels[i]) });
  return { train: pick(train), val: pick(val) };
}

// ---- section "rates": the flag rate on val against its target (issue 24) ----
interface RateRow {
  set: string;
  train: number;
  val: number;
  calibration: { leaveOneOut: number; heldOut: number };
  flagRateOnVal: number;
  binomialSd: number;
  thresholdSd: number;
  /** (flag rate - target) / sqrt(binomial sd^2 + threshold sd^2). */
  z: number;
  resplits: { rates: number[]; mean: number; sd: number };
  leaveOneOutOnly?: { rates: number[]; mean: number; sd: number };
}
/** Mean and sample sd (0 for one run; the helper sd() above returns 1 then, for z-scores). */
const meanSd = (rates: number[]) => ({
  rates,
  mean: mean(rates),
  sd: rates.length > 1 ? Math.sqrt(rates.reduce((a, x) => a + (x - mean(rates)) ** 2, 0) / (rates.length - 1)) : 0,
});

async function ratesSection() {
  const rows: RateRow[] = [];
  console.log(
    `\n### unknown flag rate on val, target ${pct(FLAG_RATE)} (threshold from train only; ${args.model}; ${args.resplits} random re-splits)`,
  );
  console.log(
    '| set | train | val | calibrated on (leave-one-out + held out) | val flagged | binomial sd | threshold sd | z | re-splits: mean ± sd | leave-one-out only: mean ± sd |',
  );
  console.log('|---|---|---|---|---|---|---|---|---|---|');
  for (const name of setNames) {
    const set = await sharedSet(name);
    const K = set.classes.length;
    const t = Date.now();
    const fit = fitUnknownOnTrain(set.train.rows, set.train.labels, K, set.val.rows);
    const nCal = fit.calibrated!.leaveOneOut + fit.calibrated!.heldOut;
    const bSd = binomialSd(FLAG_RATE, set.val.rows.length);
    // The rank statistic's coverage is Beta-distributed: sd sqrt(p(1 - p)/(n + 2)) of flag rate.
    const tSd = Math.sqrt((FLAG_RATE * (1 - FLAG_RATE)) / (nCal + 2));
    const again: number[] = [];
    const looOnly: number[] = [];
    for (let r = 1; r <= Number(args.resplits); r++) {
      const { train, val } = resplit(set, r);
      again.push(fitUnknownOnTrain(train.rows, train.labels, K, val.rows).flagRateOnVal!);
      if (fit.calibrated!.heldOut)
        looOnly.push(
          flagged(fitUnknownDetector(train.rows, train.labels, K, undefined, { maxCalibration: 0 }), val.rows),
        );
    }
    const row: RateRow = {
      set: name,
      train: set.train.rows.length,
      val: set.val.rows.length,
      calibration: fit.calibrated!,
      flagRateOnVal: fit.flagRateOnVal!,
      binomialSd: bSd,
      thresholdSd: tSd,
      z: (fit.flagRateOnVal! - FLAG_RATE) / Math.hypot(bSd, tSd),
      resplits: meanSd(again),
      ...(looOnly.length ? { leaveOneOutOnly: meanSd(looOnly) } : {}),
    };
    rows.push(row);
    const ms = (x: { mean: number; sd: number }) => `${pts(x.mean)} ± ${pts(x.sd)}`;
    console.log(
      `| ${name} | ${row.train} | ${row.val} | ${row.calibration.leaveOneOut} + ${row.calibration.heldOut} | ${pct(row.flagRateOnVal, 2)} | ${pts(bSd)} | ${pts(tSd)} | ${row.z.toFixed(2)} | ${ms(row.resplits)} | ${row.leaveOneOutOnly ? ms(row.leaveOneOutOnly) : 'same'} |`,
    );
    console.error(`  ${name}: ${((Date.now() - t) / 1000).toFixed(1)} s`);
  }
  // Bias of the rule: every re-split of every set pooled; its standard error from the spread of the runs.
  const all = rows.flatMap((r) => r.resplits.rates);
  const bias = { runs: all.length, meanFlagRate: mean(all), standardError: meanSd(all).sd / Math.sqrt(all.length) };
  console.log(
    `\nall ${bias.runs} re-splits pooled: mean val flag rate ${pct(bias.meanFlagRate, 2)} ± ${pts(bias.standardError)} (standard error), target ${pct(FLAG_RATE)}`,
  );
  return { target: FLAG_RATE, sets: rows, bias };
}

// ---- section "near": train on some classes, the others held out (issue 24) ----
const neitherCells = (r: { neither?: NearRow['neither'] }) =>
  r.neither
    ? ` ${r.neither.seen.join(' ')} | ${pct(r.neither.knownAsNeither)} | ${pct(r.neither.seenCaught)} | ${pct(r.neither.unseenCaught)} | ${pct(r.neither.unseenFlagOrNeither)} |`
    : '';
interface NearRow {
  set: string;
  partition: number;
  known: string[];
  heldOut: string[];
  counts: { train: number; knownVal: number; near: number; far: number };
  knownFlagged: number;
  nearCaught: number;
  farCaught: number;
  aurocNear: number;
  aurocFar: number;
  /**
   * A "neither" class instead: the head trained on the known classes plus the training images of the first half
   * (ceil) of the held-out classes as one more class. Shares of val images it predicts "neither": known ones, the
   * held-out classes it saw, those it did not; and of those unseen ones, the share the flag or "neither" catches.
   */
  neither?: {
    seen: string[];
    knownAsNeither: number;
    seenCaught: number;
    unseenCaught: number;
    unseenFlagOrNeither: number;
  };
}

/** The head with a "neither" class of held-out training images, and its catch rates (NearRow.neither). */
async function neitherRow(
  set: SharedSet,
  known: number[],
  held: number[],
  det: UnknownDetector,
): Promise<NonNullable<NearRow['neither']>> {
  const seen = held.slice(0, Math.ceil(held.length / 2));
  const label = new Map([...known.map((c, i) => [c, i] as const), ...seen.map((c) => [c, known.length] as const)]);
  const trainIdx = [...set.train.labels.keys()].filter((i) => label.has(set.train.labels[i]));
  const logits = await fitLogits(
    trainIdx.map((i) => set.train.rows[i]),
    Int32Array.from(trainIdx, (i) => label.get(set.train.labels[i])!),
    known.length + 1,
  );
  const saysNeither = (f: Float32Array) => {
    const z = logits(f);
    return z.indexOf(Math.max(...z)) === known.length;
  };
  const valOf = (classes: number[]) => set.val.rows.filter((_, i) => classes.includes(set.val.labels[i]));
  const share = (rows: Float32Array[], hit: (f: Float32Array) => boolean) => rows.filter(hit).length / rows.length;
  const unseen = valOf(held.filter((c) => !seen.includes(c)));
  return {
    seen: seen.map((c) => set.classes[c]),
    knownAsNeither: share(valOf(known), saysNeither),
    seenCaught: share(valOf(seen), saysNeither),
    unseenCaught: share(unseen, saysNeither),
    unseenFlagOrNeither: share(unseen, (f) => saysNeither(f) || unknownDistance(det, f) > det.threshold),
  };
}

async function nearSection() {
  const rows: NearRow[] = [];
  const FAR_PER_SET = 50;
  console.log(
    `\n### near-unknowns: the detector fitted on half the classes of a set, the others' val images held out (${args['near-partitions']} random partitions each; ${args.model})`,
  );
  console.log(
    `| set | partition | known classes | held out | known val flagged | held-out val caught | AUROC near | far caught | AUROC far |${args['no-neither'] ? '' : ' "neither" trained on | known val called neither | its classes caught | the other held-out caught | by neither or the flag |'}`,
  );
  console.log(`|---|---|---|---|---|---|---|---|---|${args['no-neither'] ? '' : '---|---|---|---|---|'}`);
  for (const name of setNames) {
    const set = await sharedSet(name);
    const K = set.classes.length;
    if (K < 4) continue;
    // Far-unknowns: 50 val images (evenly spread) of each other shared set with nothing in common with this one.
    const dogs = SHARED_SETS.find((s) => s.name === name)?.dogs ?? false;
    const farRows: Float32Array[] = [];
    for (const other of SHARED_SETS) {
      if (other.name === name || (dogs && other.dogs)) continue;
      const o = await sharedSet(other.name);
      for (let j = 0; j < FAR_PER_SET; j++) farRows.push(o.val.rows[Math.floor((j * o.val.rows.length) / FAR_PER_SET)]);
    }
    const rng = new Rng(24);
    for (let p = 1; p <= Number(args['near-partitions']); p++) {
      const order = rng.shuffle([...set.classes.keys()]);
      const known = order.slice(0, Math.ceil(K / 2)).sort((a, b) => a - b);
      const held = order.slice(Math.ceil(K / 2)).sort((a, b) => a - b);
      const relabel = new Map(known.map((c, i) => [c, i]));
      const trainIdx = [...set.train.labels.keys()].filter((i) => relabel.has(set.train.labels[i]));
      const det = fitUnknownDetectorCounted(
        trainIdx.map((i) => set.train.rows[i]),
        Int32Array.from(trainIdx, (i) => relabel.get(set.train.labels[i])!),
        known.length,
      ).detector;
      const score = (rs: Float32Array[]) => rs.map((f) => unknownDistance(det, f));
      const knownVal = score(set.val.rows.filter((_, i) => relabel.has(set.val.labels[i])));
      const near = score(set.val.rows.filter((_, i) => !relabel.has(set.val.labels[i])));
      const farS = score(farRows);
      const over = (xs: number[]) => xs.filter((x) => x > det.threshold).length / xs.length;
      const row: NearRow = {
        set: name,
        partition: p,
        known: known.map((c) => set.classes[c]),
        heldOut: held.map((c) => set.classes[c]),
        counts: { train: trainIdx.length, knownVal: knownVal.length, near: near.length, far: farS.length },
        knownFlagged: over(knownVal),
        nearCaught: over(near),
        farCaught: over(farS),
        aurocNear: auroc(knownVal, near),
        aurocFar: auroc(knownVal, farS),
        ...(args['no-neither'] ? {} : { neither: await neitherRow(set, known, held, det) }),
      };
      rows.push(row);
      console.log(
        `| ${name} | ${p} | ${row.known.join(' ')} | ${row.heldOut.join(' ')} | ${pct(row.knownFlagged)} | ${pct(row.nearCaught)} | ${row.aurocNear.toFixed(3)} | ${pct(row.farCaught)} | ${row.aurocFar.toFixed(3)} |${neitherCells(row)}`,
      );
    }
  }
  // Per set, the mean over its partitions.
  const perSet = [...new Set(rows.map((r) => r.set))].map((set) => {
    const rs = rows.filter((r) => r.set === set);
    const m = (key: keyof Pick<NearRow, 'knownFlagged' | 'nearCaught' | 'farCaught' | 'aurocNear' | 'aurocFar'>) =>
      mean(rs.map((r) => r[key]));
    return {
      set,
      partitions: rs.length,
      knownClasses: rs[0].known.length,
      heldOutClasses: rs[0].heldOut.length,
      knownFlagged: m('knownFlagged'),
      nearCaught: m('nearCaught'),
      aurocNear: m('aurocNear'),
      aurocNearRange: [Math.min(...rs.map((r) => r.aurocNear)), Math.max(...rs.map((r) => r.aurocNear))],
      farCaught: m('farCaught'),
      aurocFar: m('aurocFar'),
      ...(rs.every((r) => r.neither)
        ? {
            neither: {
              knownAsNeither: mean(rs.map((r) => r.neither!.knownAsNeither)),
              seenCaught: mean(rs.map((r) => r.neither!.seenCaught)),
              unseenCaught: mean(rs.map((r) => r.neither!.unseenCaught)),
              unseenFlagOrNeither: mean(rs.map((r) => r.neither!.unseenFlagOrNeither)),
            },
          }
        : {}),
    };
  });
  console.log(`\n### near-unknowns, mean over the partitions`);
  console.log(
    `| set | classes known / held out | known val flagged | held-out val caught | AUROC near (range) | far caught | AUROC far |${args['no-neither'] ? '' : ' known val called neither | "neither" classes caught | other held-out caught by neither | by neither or the flag |'}`,
  );
  console.log(`|---|---|---|---|---|---|---|${args['no-neither'] ? '' : '---|---|---|---|'}`);
  for (const r of perSet)
    console.log(
      `| ${r.set} | ${r.knownClasses} / ${r.heldOutClasses} | ${pct(r.knownFlagged)} | ${pct(r.nearCaught)} | ${r.aurocNear.toFixed(3)} (${r.aurocNearRange.map((x) => x.toFixed(2)).join('-')}) | ${pct(r.farCaught)} | ${r.aurocFar.toFixed(3)} |${r.neither ? ` ${pct(r.neither.knownAsNeither)} | ${pct(r.neither.seenCaught)} | ${pct(r.neither.unseenCaught)} | ${pct(r.neither.unseenFlagOrNeither)} |` : ''}`,
    );
  return { partitions: rows, perSet };
}

// ---- run the sections, write bench-results/unknown.json ----
const run: Record<Section, () => Promise<unknown>> = {
  rates: ratesSection,
  near: nearSection,
  methods: methodsSection,
};
const out: Record<string, unknown> = {};
try {
  for (const s of sections)
    out[s] = { when: new Date().toISOString(), model: args.model, ...((await run[s as Section]()) as object) };
} finally {
  store.close();
  await backbone.dispose();
}
const file = resolve(root, 'bench-results/unknown.json');
await mkdir(resolve(root, 'bench-results'), { recursive: true });
// The sections not run this time keep their last results.
let kept: Record<string, unknown> = {};
try {
  const before = JSON.parse(readFileSync(file, 'utf8'));
  if (before && typeof before === 'object' && !('splits' in before)) kept = before;
} catch {
  // No earlier results (or unreadable ones): this run's alone.
}
await writeFile(file, JSON.stringify({ ...kept, ...out }, null, 2) + '\n');
