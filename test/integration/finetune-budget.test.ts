// auto's time budget held while the epochs run (src/training/epoch-budget.ts): a try's epochs are fitted to what is
// left of its time, before the first from the plan's estimate of one epoch and after each from the epoch as measured
// (down, or back up to the planned count). Each change shows as a 'finetune-budget' event and in the epoch counts of
// the progress events, and the run ends on the last count. The
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

test('a budget the plan says holds 2 of 8 epochs cuts the run to 2; epochs measured far faster give the 8 back', async () => {
  const saved = env.trainThreads;
  env.trainThreads = 1; // (one thread: the count is fitted the same way; workers would only add start-up time)
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
    // The plan says an epoch takes 1,000 s and the final stage 100 s; 2,150 s are left: 2 epochs fit. The real
    // epochs take well under a second, so after the first the budget holds all 8 again.
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
    const fitted = events.flatMap((e) => (e.type === 'finetune-budget' ? [e] : []));
    assert.deepEqual(
      fitted.map(({ epochs, of, measured }) => ({ epochs, of, measured })),
      [
        { epochs: 2, of: 8, measured: false },
        { epochs: 8, of: 8, measured: true },
      ],
    );
    assert.ok(fitted[1].epochSeconds < 100, `a measured epoch: ${fitted[1].epochSeconds} s`);
    // Epoch 1 ran as one of 2 (its steps and curve point say so), the rest as of 8.
    const ofs = (epoch: number) =>
      new Set(
        events.flatMap((e) =>
          e.type === 'finetune-step' && e.epoch === epoch
            ? [e.of]
            : e.type === 'progress' && e.of !== undefined && e.point.step === epoch
              ? [e.of]
              : [],
        ),
      );
    assert.deepEqual([...ofs(0)], [2]);
    assert.deepEqual([...ofs(1)], [2]);
    assert.deepEqual([...ofs(2)], [8]);
    assert.deepEqual(
      fit.history.map((p) => p.step),
      [0, 1, 2, 3, 4, 5, 6, 7, 8],
    );
    assert.equal(fit.stopped, undefined, 'the budget sets the run length; it is not an early stop');
  } finally {
    tail.dispose();
    env.trainThreads = saved;
  }
});
