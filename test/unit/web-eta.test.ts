// The Train panel's stage, rate and ETA (web/src/eta.ts) from a job's events: extraction's time left counts the
// validation photos still to come at the measured images/s; fine-tuning's counts the rest of the epoch at the step
// rate plus the epochs to come at the measured seconds per epoch; stages without a measured rate show no ETA.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { etaText, ProgressTracker } from '../../web/src/eta.ts';

test('etaText: seconds under 90, minutes above, nothing for a non-number', () => {
  assert.equal(etaText(0.2), 'about 1 s left');
  assert.equal(etaText(40.4), 'about 40 s left');
  assert.equal(etaText(150), 'about 3 min left');
  assert.equal(etaText(Number.NaN), '');
});

test('extraction: the training split, then the validation split still to come, at the measured rate', () => {
  // 100 photos: 80 train + 20 val (the val count is estimated from the photos until the run reports it).
  const p = new ProgressTracker(100);
  assert.equal(p.extractStart('train', 80).stage, 'extracting');
  assert.equal(p.extract('train', 0, 80, null).etaText, '', 'no rate measured yet: no ETA');
  const t = p.extract('train', 40, 80, 4);
  assert.equal(t.stageText, 'Extracting features (training photos)');
  assert.equal(t.etaText, 'about 15 s left', '(40 left of train + 20 of val) / 4 images/s');
  assert.equal(p.extractDone('train').stage, 'extracting', 'the validation split comes next');
  p.extractStart('val', 20);
  assert.equal(p.extract('val', 10, 20, 5).etaText, 'about 2 s left');
  const h = p.extractDone('val');
  assert.deepEqual([h.stage, h.stageText, h.etaText], ['head', 'Training the head', '']);
});

test('fine-tuning: the rest of this epoch at the step rate, then the epochs to come at the measured epoch time', () => {
  const p = new ProgressTracker(0);
  const first = p.step(1, 4, 16, 64, null);
  assert.deepEqual([first.stage, first.stageText, first.etaText], ['fine-tuning', 'Fine-tuning: epoch 1 of 4', '']);
  // No epoch measured yet: an epoch is 64 images at 8 images/s.
  const s = p.step(1, 4, 32, 64, 8);
  assert.equal(s.etaText, 'about 28 s left', '32/8 + 3 epochs x 8 s');
  assert.equal(s.rateText, '8 images/s');
  // After an epoch of 12 s (scoring included): the epochs to come take that long.
  const e = p.epoch(12);
  assert.equal(e.rateText, '8 images/s · 5.0 epochs/min');
  assert.equal(p.step(2, 4, 32, 64, 8).etaText, 'about 28 s left', '32/8 + 2 epochs x 12 s');
  const saving = p.saving();
  assert.deepEqual([saving.stage, saving.stageText, saving.etaText], ['saving', 'Saving the classifier', '']);
  assert.equal(p.ended('Done').stage, 'done');
});
