// The ImageNet-likeness rule on hand-made probability rows: a sample the head sorts into as many confident classes as
// the dataset has is photo-like, one it sorts into fewer (however confident) is far.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  DOMAIN_CLASS_CAP,
  FAR_CLASSES_PER_CLASS,
  domainSummary,
  effectiveImagenetClasses,
  judgeDomain,
} from '../../src/plan/domain-rule.js';

/** A 1000-way row with `p` on class c and the rest spread evenly. */
const row = (c: number, p: number) => {
  const r = new Float32Array(1000).fill((1 - p) / 999);
  r[c] = p;
  return r;
};

test('effective ImageNet classes: exp(mutual information) counts the classes a sample is confidently sorted into', () => {
  // Certain predictions over 4 classes, equally often: exactly 4.
  const four = Array.from({ length: 64 }, (_, i) => row(i % 4, 1));
  assert.ok(Math.abs(effectiveImagenetClasses(four) - 4) < 1e-9);
  // The same class for every image, however confident: 1 (nothing told apart).
  assert.ok(Math.abs(effectiveImagenetClasses(Array.from({ length: 64 }, () => row(7, 0.9))) - 1) < 1e-9);
  // Unconfident predictions tell less than confident ones over the same classes.
  const vague = Array.from({ length: 64 }, (_, i) => row(i % 4, 0.3));
  assert.ok(effectiveImagenetClasses(vague) < 2, String(effectiveImagenetClasses(vague)));
  assert.equal(effectiveImagenetClasses([]), 0);
});

test('judgeDomain: far below FAR_CLASSES_PER_CLASS classes per dataset class; the class count is capped', () => {
  // 8 dataset classes, the head confident (0.45) but sorting everything into 2 classes: far, as blood cells read.
  const micro = judgeDomain(
    Array.from({ length: 64 }, (_, i) => row(i % 2, 0.45)),
    8,
  );
  assert.ok(micro.far && micro.meanTop1 > 0.44 && micro.classesPerClass < FAR_CLASSES_PER_CLASS, JSON.stringify(micro));
  // 5 classes sorted into 10 confident ImageNet classes: photo-like.
  const photo = judgeDomain(
    Array.from({ length: 64 }, (_, i) => row(i % 10, 0.9)),
    5,
  );
  assert.ok(!photo.far && photo.classesPerClass > 1, JSON.stringify(photo));
  // 100 classes: 64 images cannot show 100 distinct classes; the divisor is capped, so 20 confident classes read as photos.
  const many = judgeDomain(
    Array.from({ length: 64 }, (_, i) => row(i % 20, 0.9)),
    100,
  );
  assert.ok(!many.far, JSON.stringify(many));
  assert.ok(
    Math.abs(
      many.classesPerClass -
        effectiveImagenetClasses(Array.from({ length: 64 }, (_, i) => row(i % 20, 0.9))) / DOMAIN_CLASS_CAP,
    ) < 1e-9,
  );
  assert.match(
    domainSummary(micro),
    /^the ImageNet head sorts 64 training images into 0\.\d\d distinct ImageNet classes per class \(mean confidence 0\.45\): far from ImageNet \(below 0\.75 counts as far\)$/,
  );
});
