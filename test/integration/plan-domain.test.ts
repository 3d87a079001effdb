// The ImageNet-likeness check on every shared set: satellite patches (eurosat) and blood-cell micrographs
// (pbc_bloodcells8) read as far, the five photo sets as photo-like; and the threshold is not fitted to the sets it is
// judged on: refitted leave-one-dataset-out (the midpoint between the far and photo sets left in), each set left out
// is still classified right.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { loadDataset } from '../../src/data/dataset.js';
import { checkDomain, FAR_CLASSES_PER_CLASS } from '../../src/plan/domain.js';
import { DATASETS_DIR } from '../helpers.ts';

const FAR = ['eurosat', 'pbc_bloodcells8'];
const PHOTO = ['cats_and_dogs_filtered', 'hymenoptera_data', 'imagenette', 'imagewoof', 'tf_flowers5'];

test('far: eurosat and pbc_bloodcells8; photo-like: the five photo sets; the rule holds leave-one-dataset-out', async () => {
  const score = new Map<string, number>();
  for (const set of [...FAR, ...PHOTO]) {
    const d = await checkDomain(loadDataset(join(DATASETS_DIR, set)));
    assert.ok(d, set);
    assert.equal(d.far, FAR.includes(set), `${set}: ${JSON.stringify(d)}`);
    assert.equal(d.images, 64);
    score.set(set, d.classesPerClass);
  }
  for (const left of score.keys()) {
    const rest = [...score].filter(([s]) => s !== left);
    const farMax = Math.max(...rest.filter(([s]) => FAR.includes(s)).map(([, v]) => v));
    const photoMin = Math.min(...rest.filter(([s]) => !FAR.includes(s)).map(([, v]) => v));
    assert.ok(farMax < photoMin, `without ${left} the sets still separate`);
    const threshold = (farMax + photoMin) / 2;
    assert.equal(
      score.get(left)! < threshold,
      FAR.includes(left),
      `${left} left out: ${score.get(left)} vs ${threshold}`,
    );
  }
  // The shipped threshold sits between the two groups with a margin of a factor 1.3 on both sides.
  const farMax = Math.max(...FAR.map((s) => score.get(s)!));
  const photoMin = Math.min(...PHOTO.map((s) => score.get(s)!));
  assert.ok(farMax * 1.3 < FAR_CLASSES_PER_CLASS && FAR_CLASSES_PER_CLASS * 1.3 < photoMin, JSON.stringify([...score]));
});
