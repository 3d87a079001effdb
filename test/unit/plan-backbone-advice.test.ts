// tl plan's backbone advice (plan/backbone-advice.ts, issue 27): a stronger backbone is suggested, with its published
// linear probes and the commands, only when the images look far from ImageNet to the backbone's own head, and only a
// model that leads the one in use.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { backboneAdvice } from '../../src/plan/backbone-advice.js';
import { ZOO } from '../../src/backbone/zoo.js';

const mobilenet = ZOO.find((m) => m.id === 'mobilenet-v2')!;
const dinoSmall = ZOO.find((m) => m.id === 'dinov2-small')!;

test('far from ImageNet: the smallest stronger feature extractor, its probes and the commands', () => {
  const a = backboneAdvice(mobilenet, ZOO, { meanTop1: 0.14, classesPerClass: 0.38, images: 64, far: true })!;
  assert.equal(a.model, 'dinov2-small', 'the smaller of the two DINOv2 downloads');
  assert.match(a.line, /far from ImageNet: its own head sorts them into 0\.38 ImageNet classes per class/);
  assert.match(a.line, /81\.1 % ImageNet linear vs 68\.3 % top-1/);
  assert.match(a.line, /Food-101 89\.1 %.*Flowers-102 99\.6 %/);
  assert.match(a.line, /tl models pull dinov2-small, then tl train DATA --model dinov2-small/);
});

test('photo-like (even at a low confidence: cats/dogs score 0.47), no domain check, or already strong: no advice', () => {
  assert.equal(
    backboneAdvice(mobilenet, ZOO, { meanTop1: 0.47, classesPerClass: 1.2, images: 64, far: false }),
    undefined,
  );
  assert.equal(backboneAdvice(mobilenet, ZOO, undefined), undefined);
  const dinoBase = ZOO.find((m) => m.id === 'dinov2-base')!;
  assert.equal(
    backboneAdvice(dinoBase, ZOO, { meanTop1: 0.1, classesPerClass: 0.3, images: 64, far: true }),
    undefined,
  );
  // dinov2-small in use: base leads it by 3.4 points, under the 5-point bar.
  assert.equal(
    backboneAdvice(dinoSmall, ZOO, { meanTop1: 0.1, classesPerClass: 0.3, images: 64, far: true }),
    undefined,
  );
});
