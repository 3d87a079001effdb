// Issue 26: `tl train` with TL_QUEUE set extracts rung 1's features on `tl worker`s (a real redis-server) through the same
// path as `tl embed --queue`; the classifier is the one a local run trains: same vectors, same metrics.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { assertCleanError, cleanup, DATASETS_DIR, linkSubset, runCli, tempDir } from '../helpers.js';
import {
  freePort,
  imagesEmbeddedBy,
  RedisServer,
  sameVectors,
  storeVectors,
  WorkerProcess,
} from '../faults/queue-fixtures.js';

const CATS_DOGS = join(DATASETS_DIR, 'cats_and_dogs_filtered');

describe('TL_QUEUE=redis://... tl train', () => {
  let dir: string;
  let redis: RedisServer;
  before(async () => {
    dir = await tempDir('tl-queue-train-');
    redis = await RedisServer.start(dir);
  });
  after(async () => {
    await WorkerProcess.killAll();
    await redis?.stop();
    await cleanup(dir);
  });

  test(
    'rung 1 on queue-extracted features: byte-identical vectors and the same metrics as a local run',
    { timeout: 600_000 },
    async () => {
      const data = join(dir, 'data');
      await linkSubset(join(CATS_DOGS, 'train'), join(data, 'train'), 40);
      await linkSubset(join(CATS_DOGS, 'val'), join(data, 'val'), 20);
      const cacheDir = join(dir, 'cache');
      const args = (out: string) => [
        'train',
        data,
        '--strategy',
        'head',
        '--seed',
        '1',
        '--json',
        '--out',
        join(dir, out),
      ];
      const local = await runCli(args('local-clf'), {
        cacheDir,
        env: { TL_FEATURE_STORE: join(dir, 'local.sqlite') },
        timeoutMs: 300_000,
      });
      assert.equal(local.code, 0, local.stderr);
      const worker = await WorkerProcess.start(redis.url, { cacheDir });
      const queued = await runCli(args('queued-clf'), {
        cacheDir,
        env: { TL_FEATURE_STORE: join(dir, 'queued.sqlite'), TL_QUEUE: redis.url },
        timeoutMs: 300_000,
      });
      assert.equal(queued.code, 0, queued.stderr);
      assert.match(queued.stderr, /queue: redis:\/\/127\.0\.0\.1:\d+ \(Redis [\d.]+\), 1 worker connected/);
      assert.equal(imagesEmbeddedBy(await worker.stop()), 120);
      assert.deepEqual(sameVectors(storeVectors(join(dir, 'queued.sqlite')), storeVectors(join(dir, 'local.sqlite'))), {
        same: 120,
        differ: 0,
        missing: 0,
      });
      const [l, q] = [local, queued].map((r) => JSON.parse(r.stdout.slice(r.stdout.indexOf('{'))));
      assert.equal(l.count, 40);
      for (const k of ['accuracy', 'macroF1', 'logLoss', 'confusion']) assert.deepEqual(q[k], l[k], k);
    },
  );

  test('Redis unreachable: one clear line before any training', async () => {
    const url = `redis://127.0.0.1:${await freePort()}`;
    const r = await runCli(['train', join(dir, 'data'), '--out', join(dir, 'never')], {
      cacheDir: join(dir, 'cache'),
      env: { TL_QUEUE: url },
    });
    assertCleanError(r, /cannot reach the queue at .*: ECONNREFUSED/, { emptyStdout: true });
  });
});
