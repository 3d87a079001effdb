// auto's time budget held while the epochs run (src/training/epoch-budget.ts): a try's epochs are cut to what is left
// of its time, before the first from the plan's estimate of one epoch and after each from the epoch as measured. The
// cut shows as a 'finetune-budget' event and in the epoch counts of the progress events, and the run ends on it. The
// tail is the real last block of MobileNetV1 0.25; its inputs are seeded random activations: this checks the clock
// and the loop, not what is learned (bench:auto measures that on the shared sets).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ZOO } from '../../src/backbone/zoo.js';
import { buildTrainableTail, loadNetwork, trainingTf } from '../../src/finetune/network.js';
import { finetune, type ActSet } from '../../src/training/finetune-epochs.js';
import { finetuneDefaults } from '../../src/training/finetune-recipe.js';
import type { TrainEvent } from '../../src/training/types.js';
import { env } from '../../src/util/env.js';
import { Rng } from '../../src/util/random.js';

test('a try whose budget holds 2 of its 8 epochs runs 2, says so, and counts its epochs of 2', async () => {
  const saved = env.trainThreads;
  env.trainThreads = 1; // (one thread: the cut is decided the same way; workers would only add start-up time)
  const { tf } = await trainingTf();
  const net = await loadNetwork(ZOO.find((m) => m.id === 'mobilenet-v1-0.25')!);
  const last = net.units[net.units.length - 2];
  const tail = await buildTrainableTail(tf, net, last.cut, last.shape);
  try {
    const per = last.shape.reduce((a, x) => a * x, 1);
    const rng = new Rng(7);
    const set = (n: number): ActSet => ({
      acts: Array.from({ length: n }, () => Float32Array.from({ length: per }, () => rng.next())),
      labels: Int32Array.from({ length: n }, (_, i) => i % 2),
      paths: Array.from({ length: n }, (_, i) => `row-${i}`),
    });
    const events: TrainEvent[] = [];
    const opts = { strategy: 'partial' as const, trainLast: 1, model: 'mobilenet-v1-0.25', seed: 0 };
    // The plan says an epoch takes 1,000 s and the final stage 100 s; 2,150 s are left: 2 epochs fit.
    const fit = await finetune({
      tf,
      tail,
      train: set(24),
      check: set(12),
      K: 2,
      settings: { ...finetuneDefaults(opts), epochs: 8, patience: 8, batchSize: 8 },
      opts: { ...opts, restoreBest: false },
      emit: (e) => events.push(e),
      budget: { endsAt: Date.now() + 2_150_000, epochSeconds: 1000, finalSeconds: 100 },
    });
    const cuts = events.filter((e) => e.type === 'finetune-budget');
    assert.deepEqual(cuts, [{ type: 'finetune-budget', epochs: 2, of: 8, epochSeconds: 1000, measured: false }]);
    // Epoch 0 (the head) and the two that fit; the measured epochs (well under a second) never cut it further.
    assert.deepEqual(
      fit.history.map((p) => p.step),
      [0, 1, 2],
    );
    const counts = new Set(events.flatMap((e) => (e.type === 'finetune-step' || e.type === 'progress' ? [e.of] : [])));
    assert.deepEqual([...counts], [2]);
    assert.equal(fit.stopped, undefined, 'the budget is the run length, not an early stop');
  } finally {
    tail.dispose();
    env.trainThreads = saved;
  }
});
