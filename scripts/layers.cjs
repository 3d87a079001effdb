// The layers of src/, low → high (ARCHITECTURE.md): each layer is one or two folders, and a module may import its own
// layer and the ones below. Patterns match the emitted JavaScript (dist/src/...js). Used by .dependency-cruiser.cjs and
// test/unit/architecture.test.ts, which also checks that every src/ module falls in exactly one layer.
const folder = (...names) => `^dist/src/(${names.join('|')})/`;
const LAYERS = [
  ['util', folder('util')],
  ['options', folder('options')],
  ['data', folder('data')],
  ['engine', folder('engine')],
  ['backbone', folder('backbone')],
  ['features', folder('features')],
  ['numerics', folder('solvers', 'eval')],
  ['finetune', folder('finetune')],
  ['classifier', folder('classifier')],
  ['plan', folder('plan')],
  ['training', folder('training')],
  ['export', folder('export')],
  ['queue', folder('queue')],
  ['serve', folder('serve')],
  ['cli', folder('cli')],
  ['library', '^dist/src/index[.]js$'],
];

module.exports = { LAYERS };
