// Issue 26: extraction on a Redis-backed queue of `tl worker`s. A real redis-server (started here, free port, temp
// dir, AOF on), two worker processes of the built CLI, and the whole cats/dogs set (train + val, 3,000 photos): the vectors the
// coordinator stores are byte-identical to a local `tl embed` into another store, each image is embedded once, and a
// rerun is answered from the cache.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { cleanup, DATASETS_DIR, linkSubset, runCli, tempDir } from '../helpers.js';
import { imagesEmbeddedBy, RedisServer, sameVectors, storeVectors, WorkerProcess } from '../faults/queue-fixtures.js';

const WHOLE = join(DATASETS_DIR, 'cats_and_dogs_filtered');
const TRAIN = join(WHOLE, 'train');
const LONG = 300_000;

describe('tl embed --queue with two tl workers (cats/dogs, 3,000 photos)', () => {
  let dir: string;
  let redis: RedisServer;
  before(async () => {
    dir = await tempDir('tl-queue-');
    redis = await RedisServer.start(dir);
  });
  after(async () => {
    await WorkerProcess.killAll();
    await redis?.stop();
    await cleanup(dir);
  });

  test(
    'vectors byte-identical to a local tl embed, every image embedded once, a rerun all cached',
    { timeout: 900_000 },
    async () => {
      const local = join(dir, 'local.sqlite');
      const queued = join(dir, 'queued.sqlite');
      const cacheDir = join(dir, 'cache');
      const l = await runCli(['embed', WHOLE, '--json'], {
        cacheDir,
        env: { TL_FEATURE_STORE: local },
        timeoutMs: LONG,
      });
      assert.equal(l.code, 0, l.stderr);
      assert.equal(JSON.parse(l.stdout).embedded, 3000);

      const workers = await Promise.all([0, 1].map(() => WorkerProcess.start(redis.url, { cacheDir })));
      const q = await runCli(['embed', WHOLE, '--queue', redis.url, '--json'], {
        cacheDir,
        env: { TL_FEATURE_STORE: queued },
        timeoutMs: LONG,
      });
      assert.equal(q.code, 0, q.stderr);
      assert.match(q.stderr, /queue: redis:\/\/127\.0\.0\.1:\d+ \(Redis [\d.]+\), 2 workers connected/);
      const summary = JSON.parse(q.stdout);
      assert.equal(summary.embedded, 3000);
      assert.equal(summary.cached, 0);
      assert.equal(summary.queue, redis.url);

      const cmp = sameVectors(storeVectors(queued), storeVectors(local));
      assert.deepEqual(cmp, { same: 3000, differ: 0, missing: 0 });

      // A rerun: every vector from the cache, no job at all.
      const again = await runCli(['embed', WHOLE, '--queue', redis.url, '--json'], {
        cacheDir,
        env: { TL_FEATURE_STORE: queued },
        timeoutMs: LONG,
      });
      assert.equal(again.code, 0, again.stderr);
      assert.deepEqual([JSON.parse(again.stdout).embedded, JSON.parse(again.stdout).cached], [0, 3000]);

      const stopped = await Promise.all(workers.map((w) => w.stop()));
      for (const s of stopped) assert.equal(s.code, 0, s.stderr);
      const perWorker = stopped.map(imagesEmbeddedBy);
      assert.equal(perWorker[0] + perWorker[1], 3000, `each image once: ${perWorker.join(' + ')}`);
      assert.ok(
        perWorker.every((n) => n > 0),
        `both workers took jobs: ${perWorker.join(' + ')}`,
      );
    },
  );

  test('TL_QUEUE and --ship-images: the bytes travel in the jobs, same vectors', { timeout: 300_000 }, async () => {
    const subset = join(dir, 'subset');
    await linkSubset(TRAIN, subset, 40);
    const local = join(dir, 'local.sqlite'); // holds these 80 from the first test
    const shipped = join(dir, 'shipped.sqlite');
    const cacheDir = join(dir, 'cache');
    const worker = await WorkerProcess.start(redis.url, { cacheDir });
    const r = await runCli(['embed', subset, '--ship-images', '--json'], {
      cacheDir,
      env: { TL_FEATURE_STORE: shipped, TL_QUEUE: redis.url },
      timeoutMs: LONG,
    });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).embedded, 80);
    const mine = storeVectors(shipped);
    const ref = new Map([...storeVectors(local)].filter(([h]) => mine.has(h)));
    assert.deepEqual(sameVectors(mine, ref), { same: 80, differ: 0, missing: 0 });
    assert.equal(imagesEmbeddedBy(await worker.stop()), 80);
  });
});
