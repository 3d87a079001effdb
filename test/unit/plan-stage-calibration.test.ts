// The plan's time estimate per stage (plan/stage-calibration.ts, fitted by bench:auto): measured runs' probe
// times must come out within ±30% of what the runs took, where the old per-stage factors alone missed by 2-10x.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { calibratedStageSeconds, probedStageSeconds, SHIPPED_CALIBRATION } from '../../src/plan/stage-calibration.js';
import { epochsExpected } from '../../src/plan/estimate.js';

const within30 = (estimate: number, actual: number) => Math.abs(estimate / actual - 1) <= 0.3;

test('extraction on a fully cached set counts reading the cache back (the old factor alone was 4x low)', () => {
  // bench:auto 2026-11-30, partial on cats/dogs, everything cached: the probe (hashing, loading) said 0.39 s for
  // 300/class (600 train + 1000 val images), the run's extract stage took 1.50 s; 100/class: 0.36 s vs 1.31 s.
  const old = (probed: number) => probed * 0.85; // the factor shipped before (667f482)
  for (const [images, probed, actual] of [
    [1600, 0.39, 1.5],
    [1200, 0.36, 1.31],
  ]) {
    const estimate = calibratedStageSeconds('partial', 'extract', probed, images);
    assert.ok(within30(estimate, actual), `${images} images: estimated ${estimate.toFixed(2)} s, took ${actual} s`);
    assert.ok(!within30(old(probed), actual), 'the old estimate missed it');
  }
  // EuroSAT's far recipe caches a deeper cut (2.4x the bytes): 5000 images took 6.48 s against a 0.68 s probe; the
  // per-image median still lands 35% low there, but 7x nearer than before.
  const eurosat = calibratedStageSeconds('partial', 'extract', 0.68, 5000);
  assert.ok(eurosat > 6 * old(0.68) && eurosat < 6.48, `EuroSAT: ${eurosat.toFixed(1)} s`);
  // Rung 3 reads decoded images back: cats/dogs 50/class (1100 images) took 10.2 s against a 0.4 s probe.
  assert.ok(within30(calibratedStageSeconds('full', 'extract', 0.4, 1100), 10.24));
  // The head's vectors are small: a cached 1200-image set stays under a second.
  assert.ok(calibratedStageSeconds('head', 'extract', 0.4, 1200) < 1);
});

test('extraction that runs the backbone keeps its probe, scaled: greyscale copies, nothing cached', () => {
  // cats/dogs grey-100/class, partial: 19.25 s probed, 12.44 s taken (the probe's few images run slower than batches).
  assert.ok(within30(calibratedStageSeconds('partial', 'extract', 19.25, 1200), 12.44));
});

test('the probe behind a recorded estimate is recovered exactly (bench:auto refits from it)', () => {
  for (const [rung, stage] of [
    ['partial', 'extract'],
    ['full', 'epochs'],
    ['head', 'head-fit'],
  ] as const) {
    const est = calibratedStageSeconds(rung, stage, 12.5, 2000);
    assert.ok(Math.abs(probedStageSeconds(rung, stage, est, 2000, SHIPPED_CALIBRATION) - 12.5) < 1e-9);
  }
});

test('the epoch count: expected, fewest (patience) and most, as early stopping can end the run', () => {
  // auto tries partial from 25 images per class whatever the table expects: all 8 epochs counted, 3..8 possible.
  assert.deepEqual(epochsExpected('partial', -0.1, 'photo', 100), { expected: 8, fewest: 3, most: 8 });
  // Below 25 per class (no try) and not expected to gain: up to early stopping's patience.
  assert.deepEqual(epochsExpected('partial', -0.1, 'photo', 20), { expected: 3, fewest: 3, most: 8 });
  assert.deepEqual(epochsExpected('partial', 2.2, 'far', 100), { expected: 8, fewest: 3, most: 8 });
  // Rung 3 is tried from 25 per class too (all epochs counted); below, unmeasured, up to the patience.
  assert.deepEqual(epochsExpected('full', undefined, 'photo', 300), { expected: 6, fewest: 3, most: 6 });
  assert.deepEqual(epochsExpected('full', undefined, 'photo', 25), { expected: 6, fewest: 3, most: 6 });
  assert.deepEqual(epochsExpected('full', undefined, 'photo', 20), { expected: 3, fewest: 3, most: 6 });
  // A far domain never measured is tried: all epochs counted.
  assert.equal(epochsExpected('partial', undefined, 'far', 100).expected, 8);
});
