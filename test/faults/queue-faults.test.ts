// Issue 26, fault injection on the extraction queue, with a real redis-server (AOF on) and `tl worker` processes:
// a worker SIGKILLed mid-shard, the coordinator SIGKILLed, Redis restarted mid-run, Redis unreachable, and a worker
// whose model file differs. Every run ends with each vector stored once and byte-identical to a local `tl embed`, or
// with one clear line. (At 536c5d4 there is no --queue and no `tl worker`: every test here fails there.)
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import {
  assertCleanError,
  cleanup,
  collect,
  DATASETS_DIR,
  linkSubset,
  MODELS_DIR,
  runCli,
  sleep,
  spawnCli,
  tempDir,
} from '../helpers.js';
import {
  freePort,
  imagesEmbeddedBy,
  RedisServer,
  sameVectors,
  storeRowCount,
  storeVectors,
  waitForRows,
  WorkerProcess,
} from './queue-fixtures.js';

const TRAIN = join(DATASETS_DIR, 'cats_and_dogs_filtered/train');
const N = 400;
const LONG = 300_000;

describe('the extraction queue under faults', { timeout: 900_000 }, () => {
  let dir: string;
  let data: string;
  let cacheDir: string;
  let reference: Map<string, Buffer>;
  let redis: RedisServer;
  let run = 0;
  /** A fresh store for each test, so each starts with nothing cached. */
  const newStore = () => join(dir, `store-${++run}.sqlite`);
  const embedArgs = () => ['embed', data, '--queue', redis.url, '--json'];
  const assertComplete = (store: string) =>
    assert.deepEqual(sameVectors(storeVectors(store), reference), { same: N, differ: 0, missing: 0 });

  before(async () => {
    dir = await tempDir('tl-queue-faults-');
    cacheDir = join(dir, 'cache');
    data = join(dir, 'data');
    await linkSubset(TRAIN, data, N / 2);
    const local = join(dir, 'local.sqlite');
    const r = await runCli(['embed', data, '--json'], { cacheDir, env: { TL_FEATURE_STORE: local }, timeoutMs: LONG });
    assert.equal(r.code, 0, r.stderr);
    reference = storeVectors(local);
    assert.equal(reference.size, N);
    redis = await RedisServer.start(dir);
  });
  after(async () => {
    await WorkerProcess.killAll();
    await redis?.stop();
    await cleanup(dir);
  });

  test('a worker SIGKILLed mid-shard: its job is retried by the other, every vector stored once', async () => {
    const store = newStore();
    // Small forward passes: a shard (32 images) takes several, so the killed worker is inside one.
    const [doomed, survivor] = await Promise.all(
      [0, 1].map(() => WorkerProcess.start(redis.url, { cacheDir }, ['--batch', '4'])),
    );
    const coordinator = collect(spawnCli(embedArgs(), { cacheDir, env: { TL_FEATURE_STORE: store } }), LONG);
    await waitForRows(store, 64);
    await doomed.kill();
    const r = await coordinator;
    assert.equal(r.code, 0, r.stderr);
    const summary = JSON.parse(r.stdout);
    assert.equal(summary.embedded, N);
    assert.ok(summary.retriedJobs >= 1, `the killed worker's shard ran again: ${r.stdout}`);
    assertComplete(store);
    assert.equal(storeRowCount(store), N);
    assert.ok(imagesEmbeddedBy(await survivor.stop()) > 0);
  });

  test('the coordinator SIGKILLed: the rerun takes what is stored from the cache and the rest from the queue, embedding nothing twice', async () => {
    const store = newStore();
    const workers = await Promise.all([0, 1].map(() => WorkerProcess.start(redis.url, { cacheDir }, ['--batch', '8'])));
    const first = spawnCli(embedArgs(), { cacheDir, env: { TL_FEATURE_STORE: store } });
    const killed = collect(first, LONG);
    await waitForRows(store, 64);
    first.kill('SIGKILL');
    await killed;
    const storedAtKill = storeRowCount(store);
    assert.ok(storedAtKill < N, `killed mid-run (${storedAtKill} stored)`);
    const r = await runCli(embedArgs(), { cacheDir, env: { TL_FEATURE_STORE: store }, timeoutMs: LONG });
    assert.equal(r.code, 0, r.stderr);
    const summary = JSON.parse(r.stdout);
    assert.equal(summary.cached, storedAtKill);
    assert.equal(summary.embedded, N - storedAtKill);
    assert.ok(summary.reusedJobs >= 1, `jobs of the killed run were found in the queue: ${r.stdout}`);
    assertComplete(store);
    const perWorker = (await Promise.all(workers.map((w) => w.stop()))).map(imagesEmbeddedBy);
    assert.equal(perWorker[0] + perWorker[1], N, `each image embedded once over both runs: ${perWorker.join(' + ')}`);
  });

  test('Redis restarted mid-run (AOF on): the run completes (or fails in one line and the rerun completes)', async (t) => {
    const store = newStore();
    const workers = await Promise.all([0, 1].map(() => WorkerProcess.start(redis.url, { cacheDir }, ['--batch', '8'])));
    const coordinator = collect(spawnCli(embedArgs(), { cacheDir, env: { TL_FEATURE_STORE: store } }), LONG);
    await waitForRows(store, 64);
    await redis.stop('SIGTERM');
    await sleep(1500);
    await redis.startProcess();
    let r = await coordinator;
    t.diagnostic(r.code === 0 ? 'the run went through the restart' : `the run failed once: ${r.stderr}`);
    if (r.code !== 0) {
      assertCleanError(r, /queue/);
      r = await runCli(embedArgs(), { cacheDir, env: { TL_FEATURE_STORE: store }, timeoutMs: LONG });
    }
    assert.equal(r.code, 0, r.stderr);
    assertComplete(store);
    assert.equal(storeRowCount(store), N);
    const stopped = await Promise.all(workers.map((w) => w.stop()));
    for (const s of stopped) assert.match(s.stderr, /lost Redis .*; reconnecting/);
  });

  test('Redis gone mid-run and not back: one clear line after --queue-wait, what was stored is kept, the rerun completes', async () => {
    const store = newStore();
    const workers = await Promise.all([0, 1].map(() => WorkerProcess.start(redis.url, { cacheDir }, ['--batch', '8'])));
    const coordinator = collect(
      spawnCli([...embedArgs(), '--queue-wait', '3'], { cacheDir, env: { TL_FEATURE_STORE: store } }),
      LONG,
    );
    await waitForRows(store, 64);
    await redis.stop('SIGTERM');
    const r = await coordinator;
    assertCleanError(r, /^error: lost the queue at redis:\/\/127\.0\.0\.1:\d+: Redis has not answered for 3 s$/, {
      emptyStdout: true,
    });
    assert.match(r.stderr, /hint: Vectors returned so far are stored\. Start Redis again/);
    const kept = storeRowCount(store);
    assert.ok(kept >= 64 && kept < N, `stored before Redis went: ${kept}`);
    await redis.startProcess();
    const again = await runCli(embedArgs(), { cacheDir, env: { TL_FEATURE_STORE: store }, timeoutMs: LONG });
    assert.equal(again.code, 0, again.stderr);
    assert.equal(JSON.parse(again.stdout).cached, kept);
    assertComplete(store);
    await Promise.all(workers.map((w) => w.stop()));
  });

  test('Redis unreachable: one clear line, nothing embedded here instead', async () => {
    const store = newStore();
    const url = `redis://127.0.0.1:${await freePort()}`;
    const r = await runCli(['embed', data, '--queue', url], { cacheDir, env: { TL_FEATURE_STORE: store } });
    assertCleanError(r, new RegExp(`^error: cannot reach the queue at ${url}: ECONNREFUSED$`), { emptyStdout: true });
    assert.match(r.stderr, /hint: .*leave --queue out and unset TL_QUEUE/);
    assert.equal(existsSync(store), false, 'no local fallback: not even a store was opened');
    const viaEnv = await runCli(['embed', data], { cacheDir, env: { TL_FEATURE_STORE: store, TL_QUEUE: url } });
    assertCleanError(viaEnv, /cannot reach the queue at .*: ECONNREFUSED/, { emptyStdout: true });
    const worker = await runCli(['worker', '--queue', url], { cacheDir });
    assertCleanError(worker, /cannot reach the queue at .*: ECONNREFUSED/, { emptyStdout: true });
  });

  test('a worker whose model file differs refuses the job and says why; after the fix the rerun completes', async () => {
    // The worker's models dir holds mobilenet-v2 with one byte of its weights changed.
    const models = join(dir, 'bad-models');
    const folder = 'mobilenetv2_int8_onnx';
    await mkdir(join(models, folder), { recursive: true });
    for (const f of await readdir(join(MODELS_DIR, folder)))
      await copyFile(join(MODELS_DIR, folder, f), join(models, folder, f));
    const onnx = (await readdir(join(models, folder))).find((f) => f.endsWith('.onnx'))!;
    const bytes = await readFile(join(models, folder, onnx));
    bytes[bytes.length - 1] ^= 0xff;
    await writeFile(join(models, folder, onnx), bytes);
    const bad = await WorkerProcess.start(redis.url, {
      cacheDir: join(dir, 'bad-cache'),
      env: { TL_MODELS_DIR: models },
    });
    const store = newStore();
    const r = await runCli(embedArgs(), { cacheDir, env: { TL_FEATURE_STORE: store }, timeoutMs: LONG });
    assertCleanError(
      r,
      /failed on the queue: worker \S+ refused it: cannot load model mobilenet-v2 here: checksum mismatch for .*bad-models\/mobilenetv2_int8_onnx\/.* expected sha256 [0-9a-f]{64}, got [0-9a-f]{64}$/,
    );
    assert.equal(storeRowCount(store), 0);
    const badOut = await bad.stop();
    assert.match(
      badOut.stderr,
      /worker: refused job embed-[0-9a-f]+: cannot load model mobilenet-v2 here: checksum mismatch/,
    );
    // A good worker instead: the failed jobs are submitted again and the run completes.
    const good = await WorkerProcess.start(redis.url, { cacheDir });
    const again = await runCli(embedArgs(), { cacheDir, env: { TL_FEATURE_STORE: store }, timeoutMs: LONG });
    assert.equal(again.code, 0, again.stderr);
    assertComplete(store);
    assert.equal(imagesEmbeddedBy(await good.stop()), N);
  });

  test('a worker whose model has other weights under the same id refuses: the job carries the weights hash', async () => {
    // The coordinator's "mine" is MobileNet v1 0.25, the worker's "mine" is MobileNet v1 0.75: both load fine.
    const coordCache = join(dir, 'reg-coordinator');
    const workerCache = join(dir, 'reg-worker');
    for (const [cache, folder] of [
      [coordCache, 'mobilenet_v1_025_tfjs_layers'],
      [workerCache, 'mobilenet_v1_075_tfjs_layers'],
    ]) {
      const add = await runCli(
        ['models', 'add', join(MODELS_DIR, folder, 'model.json'), '--id', 'mine', '--preset', 'inception'],
        {
          cacheDir: cache,
        },
      );
      assert.equal(add.code, 0, add.stderr);
    }
    const other = await WorkerProcess.start(redis.url, { cacheDir: workerCache });
    const store = newStore();
    const r = await runCli([...embedArgs(), '--model', 'mine'], {
      cacheDir: coordCache,
      env: { TL_FEATURE_STORE: store },
      timeoutMs: LONG,
    });
    assertCleanError(
      r,
      /failed on the queue: worker \S+ refused it: model mine here has weights hash [0-9a-f]{16}…, the job's is [0-9a-f]{16}… \(different model files or registration\)$/,
    );
    assert.equal(storeRowCount(store), 0);
    assert.match((await other.stop()).stderr, /worker: refused job embed-[0-9a-f]+: model mine here has weights hash/);
  });
});
