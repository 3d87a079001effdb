// The architecture check (test/unit/architecture.test.ts runs it, so `npm test` and CI do): no import cycle, and no import
// from a lower layer to a higher one. The layers are listed in scripts/layers.cjs.
// It cruises the JavaScript tsc emits (dist/src/, one file per src/ module): dependency-cruiser parses TypeScript only
// through the TypeScript 5 compiler API, which TypeScript 7 (this project's tsc) no longer ships. So what is checked
// is the runtime import graph (static and dynamic imports); `import type` lines, which tsc erases, are checked against
// the same layers by test/unit/architecture.test.ts itself.
const { LAYERS } = require('./scripts/layers.cjs');

const upward = LAYERS.slice(0, -1).map(([name, path], i) => ({
  name: `layer-${name}`,
  comment: `${name} is below ${LAYERS.slice(i + 1)
    .map(([n]) => n)
    .join(', ')}: it must not import them`,
  severity: 'error',
  from: { path },
  to: {
    path: LAYERS.slice(i + 1)
      .map(([, p]) => `(${p})`)
      .join('|'),
  },
}));

module.exports = {
  forbidden: [
    { name: 'no-circular', comment: 'an import cycle', severity: 'error', from: {}, to: { circular: true } },
    ...upward,
    {
      name: 'rungs-are-siblings',
      comment: 'rung 1 (training/head) and fine-tuning (training/finetune*) share lower modules, never each other',
      severity: 'error',
      from: { path: '^dist/src/training/head[.]js$' },
      to: { path: '^dist/src/training/finetune' },
    },
    {
      name: 'rungs-are-siblings-back',
      comment: 'fine-tuning (training/finetune*) never imports rung 1 (training/head)',
      severity: 'error',
      from: { path: '^dist/src/training/finetune' },
      to: { path: '^dist/src/training/head[.]js$' },
    },
    {
      name: 'cli-is-thin',
      comment:
        'the CLI parses, calls the library and prints: it never runs a rung, a solver, a plan probe or the fine-tuning machinery itself (trainClassifier and planTraining do); it may word the plan (domain-rule) and the stop line (interrupted)',
      severity: 'error',
      from: { path: '^dist/src/cli/' },
      to: {
        path: '^dist/src/(solvers/|training/|plan/|finetune/)',
        pathNot:
          '^dist/src/(training/train|training/interrupted|plan/plan|plan/fused|plan/domain-rule|finetune/network)[.]js$',
      },
    },
    {
      name: 'rungs-below-dispatcher',
      comment: 'trainClassifier (training/train) chooses a rung: no rung imports it',
      severity: 'error',
      from: { path: '^dist/src/training/', pathNot: '^dist/src/training/train[.]js$' },
      to: { path: '^dist/src/training/train[.]js$' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    moduleSystems: ['es6'],
  },
};
