// The architecture check (test/architecture.test.ts runs it, so `npm test` and CI do): no import cycle, and no import
// from a lower layer to a higher one. Layers, low → high; a module may import its own layer and the ones below.
// It cruises the JavaScript tsc emits (dist/src/, one file per src/ module): dependency-cruiser parses TypeScript only
// through the TypeScript 5 compiler API, which TypeScript 7 (this project's tsc) no longer ships. So what is checked
// is the runtime import graph (static and dynamic imports); `import type` lines are erased by tsc and not checked.
const LAYERS = [
  ['util', '^dist/src/(util/|env[.]js$|version[.]js$)'],
  ['data', '^dist/src/data/'],
  // Backbones, their runtimes (backbone/runtimes/) and the training engine those runtimes build on.
  ['backbone', '^dist/src/(backbone|engine)/'],
  ['features', '^dist/src/features/'],
  // Pure numerics on feature rows: solvers and metrics (the trainers use them; they import nothing above util).
  ['numerics', '^dist/src/(train|eval)/'],
  // Fine-tuning's machinery: the cut, the trainable tail, steps, augmentation, plan (not its trainer).
  ['finetune', '^dist/src/finetune/(?!train[.]js$)'],
  // The classifier both rungs produce: head, bundle, unknown detection, shared types and head policy.
  ['classifier', '^dist/src/classifier/(?!train[.]js$|train-head[.]js$)'],
  // The two rungs, siblings: rung 1 (a new head) and fine-tuning (rungs 2-3).
  ['rungs', '^dist/src/(classifier/train-head|finetune/train)[.]js$'],
  // trainClassifier: chooses a rung.
  ['dispatcher', '^dist/src/classifier/train[.]js$'],
  ['export', '^dist/src/export/'],
  ['serve', '^dist/src/serve/'],
  ['cli', '^dist/src/cli/'],
  ['library', '^dist/src/index[.]js$'],
];

const upward = LAYERS.slice(0, -1).map(([name, path], i) => ({
  name: `layer-${name}`,
  comment: `${name} is below ${LAYERS.slice(i + 1).map(([n]) => n).join(', ')}: it must not import them`,
  severity: 'error',
  from: { path },
  to: { path: LAYERS.slice(i + 1).map(([, p]) => `(${p})`).join('|') },
}));

module.exports = {
  forbidden: [
    { name: 'no-circular', comment: 'an import cycle', severity: 'error', from: {}, to: { circular: true } },
    ...upward,
    {
      name: 'rungs-are-siblings',
      comment: 'rung 1 and fine-tuning share classifier/ modules, never each other',
      severity: 'error',
      from: { path: '^dist/src/(classifier/train-head|finetune/train)[.]js$' },
      to: { path: '^dist/src/(classifier/train-head|finetune/train)[.]js$'},
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
        moduleSystems: ['es6'],
  },
};
