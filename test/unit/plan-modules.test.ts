// auto's planning is three modules: probes.ts measures (files, models, timings), estimate.ts and decide.ts only
// compute. This follows every import of their emitted JavaScript (dependency-cruiser, as test/unit/architecture.test.ts;
// type-only imports are gone there) and fails when either reaches a Node built-in or a package (no fs, no backbone
// loading, no TF.js): the same probes give the same plan.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { estimateRungs, runSize, type Measurements } from '../../src/plan/estimate.js';
import { decideRung } from '../../src/plan/decide.js';
import { ROOT } from '../helpers.js';

const DEPCRUISE = join(ROOT, 'node_modules/dependency-cruiser/bin/dependency-cruise.mjs');

interface Cruised {
  modules: { source: string; dependencies: { resolved: string; dependencyTypes: string[] }[] }[];
}

/** Every module `entry` (a src/ module) reaches, by its emitted file, and each import of a built-in or a package. */
function reach(entry: string): { modules: string[]; outside: string[] } {
  const emitted = join('dist', entry).replace(/\.ts$/, '.js');
  assert.ok(existsSync(join(ROOT, emitted)), `${emitted} is built (scripts/test.mjs runs tsc first)`);
  const r = spawnSync(process.execPath, [DEPCRUISE, emitted, '--no-config', '--output-type', 'json'], {
    cwd: ROOT,
    encoding: 'utf8',
    maxBuffer: 64 * 2 ** 20,
  });
  assert.ok(r.stdout, `depcruise printed nothing: ${r.stderr}`);
  const out = JSON.parse(r.stdout) as Cruised;
  const local = out.modules.filter((m) => m.source.startsWith('dist/'));
  const outside = local.flatMap((m) =>
    m.dependencies.filter((d) => !d.dependencyTypes.includes('local')).map((d) => `${m.source} imports ${d.resolved}`),
  );
  return { modules: local.map((m) => m.source).sort(), outside };
}

test('the estimate and the decision import no I/O: no Node built-in, no package, nothing that loads a model', () => {
  for (const entry of ['src/plan/estimate.ts', 'src/plan/decide.ts']) {
    const { modules, outside } = reach(entry);
    assert.deepEqual(outside, [], `${entry} reaches ${modules.join(', ')}`);
    // plan/ itself, and the option table's defaults (src/options/train-options.ts imports nothing).
    for (const m of modules)
      assert.match(m, /^dist\/src\/(plan\/|options\/train-options[.]js$)/, `${entry} reaches ${m}`);
  }
  assert.deepEqual(reach('src/plan/estimate.ts').modules, [
    'dist/src/options/train-options.js',
    'dist/src/plan/decide.js',
    'dist/src/plan/estimate.js',
    'dist/src/plan/stage-calibration.js',
  ]);
  // The reading is real: the probes module is seen reaching files and models.
  const probes = reach('src/plan/probes.ts');
  assert.ok(probes.outside.some((o) => o.endsWith('imports fs/promises') || o.endsWith('node:fs/promises')));
  assert.ok(probes.modules.includes('dist/src/backbone/load.js'));
});

test('the estimate is a function of the measurements: every stage from them, the decision on its seconds', () => {
  const size = runSize([100, 100], 200, 50);
  assert.deepEqual(size, { classes: 2, perClass: 100, train: 200, val: 50, fit: 170 });
  const m: Measurements = {
    throughput: { extract: 50, partialTrain: 40, fullTrain: 4, measured: true },
    uncached: { features: 250, partial: 0, full: 250 },
    secondsPerImage: { embed: 0.02, decode: 0.004 },
    fixedSeconds: { hash: 0.5, load: 1 },
    featureDim: 1280,
    partialTailDim: 1280,
    trainable: 'block 16, head',
    headFitSeconds: { head: 3, partial: 2.5, full: 3 },
    dotSeconds: 1e-9,
    fullSize: 224,
  };
  const [head, partial, full] = estimateRungs(size, m, 'photo');
  // Rung 1: 250 uncached images at 0.02 s + hashing + loading, x0.74, + 250 images read back at 0.27 ms.
  assert.equal(head.stages[0].stage, 'extract');
  assert.ok(Math.abs(head.stages[0].seconds - ((0.5 + 1 + 250 * 0.02) * 0.74 + 250 * 0.00027)) < 1e-9);
  // Head fit: the probe's 3 s + the unknown flag's distances (200 refs x 250 rows x 1280 x 1 ns), x0.84.
  assert.ok(Math.abs(head.stages[1].seconds - (3 + 200 * 250 * 1280 * 1e-9) * 0.84) < 1e-9);
  assert.ok(Math.abs(head.seconds - head.stages[0].seconds - head.stages[1].seconds) < 1e-9);
  // Partial on photos at 100/class: no gain expected, but auto tries it, so all 8 epochs are counted.
  assert.equal(partial.epochs, 8);
  assert.deepEqual(partial.epochsRange, [3, 8]);
  assert.match(partial.stages[0].detail!, /^0 of 250 images not cached/);
  assert.match(partial.detail, /last blocks \(block 16, head\)/);
  assert.ok(full.seconds > partial.seconds && partial.seconds > head.seconds);
  assert.ok(full.secondsRange![1] - full.secondsRange![0] > 0);
  // Faster full training shortens only rung 3's estimate.
  const faster = estimateRungs(size, { ...m, throughput: { ...m.throughput, fullTrain: 8 } }, 'photo');
  assert.ok(faster[2].seconds < full.seconds);
  assert.deepEqual(faster.slice(0, 2), [head, partial]);
  const decision = decideRung(
    [head, partial, full].map((e) => ({
      rung: e.rung,
      seconds: e.seconds,
      gain: e.expectedGain ?? undefined,
      command: '',
    })),
    { perClass: size.perClass, budget: 900, domain: 'photo' },
  );
  // From 25 images/class auto tries what the budget holds: partial, then rung 3 when both fit, else the deepest alone.
  const expected = full.seconds <= 900 ? 'full' : partial.seconds <= 900 ? 'partial' : 'head';
  assert.equal(decision.choice, expected);
  assert.equal(decision.tries !== undefined, partial.seconds + full.seconds <= 900);
  // A budget under partial's estimate: the head.
  const tight = decideRung(
    [head, partial, full].map((e) => ({
      rung: e.rung,
      seconds: e.seconds,
      gain: e.expectedGain ?? undefined,
      command: '',
    })),
    { perClass: size.perClass, budget: partial.seconds - 1, domain: 'photo' },
  );
  assert.equal(tight.choice, 'head');
});
