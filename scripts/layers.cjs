// The layers of src/, low → high (ARCHITECTURE.md): a module may import its own layer and the ones below. Patterns
// match the emitted JavaScript (dist/src/...js). Used by .dependency-cruiser.cjs and test/unit/architecture.test.ts.
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

module.exports = { LAYERS };
