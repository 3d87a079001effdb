// The unknown flag's `calibratedOn` text (config.splits.unknown, metrics.json, --json, the CLI's summary line and
// report.html) says the rule the detector really applies, with the k it really used; the older bundles' wording is
// still shown as it was written.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fitUnknownDetector, fitUnknownDetectorCounted } from '../../src/classifier/unknown.js';
import { unknownCalibration } from '../../src/classifier/splits-used.js';
import type { SplitsUsed } from '../../src/training/types.js';
import { splitsSummary } from '../../src/cli/commands/metrics-output.js';
import { evaluate } from '../../src/eval/metrics.js';
import { renderHtmlReport } from '../../src/eval/report.js';

/** `n` distinct unit-ish feature vectors in two classes. */
function features(n: number): { x: Float32Array[]; y: Int32Array } {
  const x = Array.from({ length: n }, (_, i) => Float32Array.from({ length: 8 }, (_, d) => Math.sin(i * 7 + d * 3)));
  return { x, y: Int32Array.from({ length: n }, (_, i) => i % 2) };
}

test('calibratedOn names the k-NN rule with the k the fitted detector uses', () => {
  const big = features(40);
  const det = fitUnknownDetector(big.x, big.y, 2);
  assert.equal(det.method, 'knn-cosine');
  assert.equal(det.k, 5);
  assert.equal(
    unknownCalibration(det),
    'train, leave-one-out (mean cosine distance to the 5 nearest training features)',
  );
  // Three training images leave two neighbours per image scored leave-one-out: the text says 2, not 5.
  const tiny = features(3);
  assert.equal(
    unknownCalibration(fitUnknownDetector(tiny.x, tiny.y, 2)),
    'train, leave-one-out (mean cosine distance to the 2 nearest training features)',
  );
  assert.equal(unknownCalibration({ k: 1 }), 'train, leave-one-out (cosine distance to the nearest training feature)');
  // More training images than kept references: the others count for the threshold too (issue 24), and the text says so.
  const many = features(30);
  const counted = fitUnknownDetectorCounted(many.x, many.y, 2, undefined, { maxReferences: 10 });
  assert.deepEqual(counted.calibrated, { leaveOneOut: 10, heldOut: 20 });
  assert.equal(
    unknownCalibration(counted.detector, counted.calibrated),
    'train, leave-one-out + 20 held out of the references (mean cosine distance to the 5 nearest training features)',
  );
});

test("an older bundle's wording is still displayed as written (CLI summary line and report.html)", () => {
  const old = 'train (leave-one-out nearest-neighbour distances)';
  const splits: SplitsUsed = {
    reported: { split: 'val', images: 4, accuracy: 0.75 },
    decisions: { split: 'cv-on-train', decided: ['L2 strength'], images: 12, accuracy: 0.9 },
    unknown: { calibratedOn: old, targetFlagRate: 0.05, flagRateOnVal: 0.25 },
  };
  assert.match(
    splitsSummary(splits),
    /unknown flag: threshold from train \(leave-one-out nearest-neighbour distances\); flags 25\.0% of val \(target 5\.0%\)/,
  );
  const html = renderHtmlReport({
    title: 'old bundle',
    metrics: evaluate(
      Int32Array.from([0, 1, 0, 1]),
      [
        [0.9, 0.1],
        [0.2, 0.8],
        [0.6, 0.4],
        [0.7, 0.3],
      ],
      ['a', 'b'],
    ),
    history: [],
    config: { splits },
  });
  assert.ok(html.includes(`Unknown flag: threshold from ${old};`), 'the old text in report.html');
});
