// Child of run-bounded.test.ts: one rung-1 run through the built library (dist/) on DATA, in its own process so its
// peak RSS is its own. Prints one JSON line: {"accuracy","trainImages","valImages","l2","peakRssMB"}.
// Usage: node run-bounded-child.mjs DATA [L2]   (TL_CACHE_DIR, TL_HEAD_MEMORY_MB from the environment; TL_TEST_DIST:
// another build's dist/ folder, e.g. the base branch's, to measure it the same way)
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const dist = process.env.TL_TEST_DIST ?? resolve(import.meta.dirname, '../../dist');
const { trainClassifier } = await import(pathToFileURL(resolve(dist, 'src/training/train.js')).href);

const [data, l2] = process.argv.slice(2);
const r = await trainClassifier(data, {
  strategy: 'head',
  model: 'mobilenet-v2',
  seed: 0,
  ...(l2 ? { l2: Number(l2) } : {}),
});
const out = {
  accuracy: r.metrics.accuracy,
  trainImages: r.config.trainImages,
  valImages: r.config.valImages,
  l2: r.config.l2,
  peakRssMB: Math.round(process.resourceUsage().maxRSS / 1024),
};
await r.classifier.dispose();
process.stdout.write(JSON.stringify(out) + '\n');
