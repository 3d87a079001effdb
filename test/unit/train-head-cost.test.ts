// tl plan's rung-1 estimate: probes of the kernels the head fit really uses, and a cost that includes the L2 search.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { estimateHeadFitSeconds, measureEvaluationCosts } from '../../src/solvers/head-cost.js';
import { pathTolerance } from '../../src/solvers/l2-path.js';
import { wasmPays } from '../../src/solvers/wasm-objective.js';

test('head-cost probes: the wasm kernel of the fits is timed (cheaper per unit than the JavaScript scoring), in milliseconds', async () => {
  const t0 = performance.now();
  const costs = await measureEvaluationCosts(1280, 10);
  assert.ok(performance.now() - t0 < 10_000, 'the probes take well under 10 s even on a busy machine');
  assert.ok(costs.search > 0 && costs.scoring > 0);
  assert.ok(
    costs.search < costs.scoring,
    `wasm ${costs.search} vs JavaScript ${costs.scoring} s per row x class x feature`,
  );
});

test('head estimate includes the L2 search: folds shared over the threads, more rows cost more', async () => {
  const costs = { search: 4e-10, scoring: 1e-9 };
  const shape = { trainRows: 5000, valRows: 2000, dim: 1280, classes: 10 };
  const twoThreads = await estimateHeadFitSeconds({ ...shape, threads: 2 }, costs);
  const fiveThreads = await estimateHeadFitSeconds({ ...shape, threads: 5 }, costs);
  const oneThread = await estimateHeadFitSeconds({ ...shape, threads: 1 }, costs);
  // 5 folds take 2.5 fold-walks of wall time on 2 threads, 1 on 5, 5 on 1: the search is the part that changes.
  const foldWalk = (twoThreads - fiveThreads) / 1.5;
  assert.ok(foldWalk > 0);
  assert.ok(Math.abs(oneThread - fiveThreads - 4 * foldWalk) < 1e-9);
  const bigger = await estimateHeadFitSeconds({ ...shape, trainRows: 20000, threads: 2 }, costs);
  assert.ok(bigger > 3 * twoThreads, `20k rows ${bigger} s vs 5k rows ${twoThreads} s`);
});

test('search tolerance: tight for weak l2, floored at 1e-4, never looser than asked', () => {
  assert.equal(pathTolerance(10, 1e-3), 1e-3);
  assert.equal(pathTolerance(0.01, 1e-3), 1e-4);
  assert.equal(pathTolerance(1e-4, 1e-3), 1e-4);
  assert.equal(pathTolerance(1e-4, 1e-3, 1e-5), 1e-5);
  assert.equal(pathTolerance(10, 1e-5), 1e-5);
});

test('the wasm kernel is used only where it repays its start: hymenoptera-sized fits stay on JavaScript', () => {
  assert.equal(wasmPays(244, 1280, 2), false);
  assert.equal(wasmPays(2000, 1280, 2), true);
  assert.equal(wasmPays(5000, 1280, 10), true);
});
