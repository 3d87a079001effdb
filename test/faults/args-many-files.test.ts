// Issue 10 item 11: `tl classify|embed|predict` with a shell glob's worth of file arguments. onnxruntime-node 1.30's
// telemetry start-up matched /proc/self/cmdline with a recursive std::regex, overflowing the session thread's stack
// once the command line passed ~14 KB (exit 139 at ~190 photo paths). 1,000 real photo paths (repeats of 40) here.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { cleanup, DATASETS_DIR, filesIn, linkSubset, runCli, tempDir } from '../helpers.ts';

const HYM = join(DATASETS_DIR, 'hymenoptera_data');
const N = 1000;

let tmp: string;
let cacheDir: string;
let paths: string[];
before(async () => {
  tmp = await tempDir('tl-faults-args-');
  cacheDir = join(tmp, 'cache');
  const photos = [
    ...(await filesIn(join(HYM, 'val/ants'))).slice(0, 20),
    ...(await filesIn(join(HYM, 'val/bees'))).slice(0, 20),
  ];
  paths = Array.from({ length: N }, (_, i) => photos[i % photos.length]);
});
after(async () => {
  await cleanup(tmp);
});

// The fix sets ORT_DISABLE_TELEMETRY inside the toolkit: make sure the test does not inherit it from outside.
const tl = (args: string[]) =>
  runCli(args, { cacheDir, cwd: tmp, env: { ORT_DISABLE_TELEMETRY: undefined }, timeoutMs: 300_000 });

describe('1,000 file arguments (ONNX backbone in its worker thread)', () => {
  test('the command line really is long (well past the ~14 KB that crashed)', () => {
    assert.equal(paths.length, N);
    assert.ok(paths.join(' ').length > 50_000, `${paths.join(' ').length} bytes`);
  });

  test('tl embed: exit 0, every argument counted', async () => {
    const r = await tl(['embed', '--json', ...paths]);
    assert.equal(r.code, 0, `exit ${r.code} signal ${r.signal}\n${r.stderr.slice(-2000)}`);
    const s = JSON.parse(r.stdout) as { images: number; embedded: number; cached: number; skipped: number };
    assert.equal(s.images, N);
    assert.equal(s.skipped, 0);
    assert.equal(s.embedded + s.cached, N);
  });

  test('tl predict: exit 0, one prediction per argument', async () => {
    const data = join(tmp, 'data');
    await linkSubset(join(HYM, 'train'), data, 8);
    const bundle = join(tmp, 'bundle');
    const t = await tl(['train', data, '--out', bundle, '--strategy', 'head']); // no auto plan: predict is tested
    assert.equal(t.code, 0, t.stderr.slice(-2000));
    const r = await tl(['predict', bundle, '--json', ...paths]);
    assert.equal(r.code, 0, `exit ${r.code} signal ${r.signal}\n${r.stderr.slice(-2000)}`);
    const preds = JSON.parse(r.stdout) as { path: string; label: string }[];
    assert.equal(preds.length, N);
    assert.deepEqual(
      preds.map((p) => p.path),
      paths,
    );
    for (const p of preds) assert.ok(['ants', 'bees'].includes(p.label), JSON.stringify(p));
  });

  test('tl classify: exit 0, ImageNet top-k for every argument', async () => {
    const r = await tl(['classify', '--json', '--top', '1', ...paths]);
    assert.equal(r.code, 0, `exit ${r.code} signal ${r.signal}\n${r.stderr.slice(-2000)}`);
    const results = JSON.parse(r.stdout) as { path: string; predictions: { label: string }[] }[];
    assert.equal(results.length, N);
    assert.deepEqual(
      results.map((x) => x.path),
      paths,
    );
    for (const x of results) assert.equal(x.predictions.length, 1);
  });
});
