// Child of library-exit.test.ts: a library user's script that trains rung 1 twice on DATA through the built library
// (dist/) and never disposes the classifiers, then simply ends. Prints one JSON line per fit:
// {"fit":N,"accuracy":A,"wasm":true|false}, where wasm says whether the fit was big enough for the wasm head kernel.
// Usage: node train-head-exit.mjs DATA
import { trainClassifier } from '../../dist/src/training/train.js';
import { wasmPays } from '../../dist/src/solvers/wasm-objective.js';

const [data] = process.argv.slice(2);
for (const fit of [1, 2]) {
  let featureDim = 0;
  const onEvent = (e) => {
    if (e.type === 'backbone') featureDim = e.featureDim;
  };
  const r = await trainClassifier(data, { strategy: 'head', seed: 0, onEvent });
  const wasm = wasmPays(r.config.trainImages, featureDim, r.dataset.classes.length);
  process.stdout.write(JSON.stringify({ fit, accuracy: r.metrics.accuracy, wasm }) + '\n');
}
