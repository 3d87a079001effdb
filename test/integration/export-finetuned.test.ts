// `tl export` of fine-tuned (rung 2-3) bundles: the frozen part up to the cut, the trained tail with the bundle's
// weights, then the head, checked against the bundle itself (what `tl predict` gives) on its validation images: the
// int8 ONNX MobileNetV2 with a partial tail, a --replace tail and a whole-network tail at a non-native size; TF.js
// mobilenet-v1-0.25 with a whole-network tail at a non-native size and a --replace tail, as ONNX and as TF.js.
// Small subsets (8 train / 6 val images per class), one epoch each: the numbers checked are agreement, not accuracy.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { env } from '../../src/util/env.js';
import { trainClassifier } from '../../src/training/train.js';
import type { TrainOptions } from '../../src/training/types.js';
import { Classifier } from '../../src/classifier/classifier.js';
import { exportLoaded, type ExportFormat } from '../../src/export/export.js';
import { checkExport } from '../../src/export/run-export.js';
import { decodeModel } from '../../src/backbone/runtimes/onnx/graph.js';
import { cleanup, DATASETS_DIR, linkSubset, runCli, tempDir } from '../helpers.js';

let cacheDir: string;
let hym: string;
let work: string;
before(async () => {
  cacheDir = await tempDir('tl-exft-cache-');
  env.cacheDir = cacheDir;
  hym = await tempDir('tl-exft-hym-');
  work = await tempDir('tl-exft-out-');
  await linkSubset(join(DATASETS_DIR, 'hymenoptera_data/train'), join(hym, 'train'), 8);
  await linkSubset(join(DATASETS_DIR, 'hymenoptera_data/val'), join(hym, 'val'), 6);
});
after(() => cleanup(cacheDir, hym, work));

/** Trains a small fine-tuned bundle and saves it; returns its folder. */
async function trainBundle(name: string, opts: TrainOptions): Promise<string> {
  const r = await trainClassifier(hym, {
    epochs: 1,
    patience: 100,
    restoreBest: false,
    finetuneBatchSize: 8,
    l2: 1,
    seed: 0,
    ...opts,
  });
  const dir = join(work, name);
  try {
    assert.ok(r.classifier.data.tail, `${name} is a fine-tuned bundle`);
    await r.classifier.save(dir);
  } finally {
    await r.classifier.dispose();
  }
  return dir;
}

/** Exports the saved bundle (as `tl export` does: loaded from disk) and compares it with the bundle on its val images. */
async function exportAndCheck(bundle: string, format: ExportFormat) {
  const clf = await Classifier.load(bundle);
  try {
    const out = join(bundle, `export-${format}`);
    const r = await exportLoaded(clf, { format, out });
    const check = await checkExport(clf, out);
    assert.ok(!('reason' in check), 'the check ran');
    return { r, check, tail: clf.data.tail! };
  } finally {
    await clf.dispose();
  }
}

function assertAgrees(check: { images: number; top1Agreement: number; maxProbDiff: number }, what: string): void {
  assert.equal(check.images, 12, `${what}: all 12 validation images compared`);
  assert.ok(check.top1Agreement >= 0.995, `${what}: top-1 agreement ${check.top1Agreement}`);
  assert.ok(check.maxProbDiff < 1e-4, `${what}: max |prob diff| ${check.maxProbDiff}`);
}

describe('export of fine-tuned bundles, int8 ONNX MobileNetV2', () => {
  test('partial tail (last 2 blocks): the int8 graph up to the cut, then the trained blocks as float Conv/Clip/Add', async () => {
    const bundle = await trainBundle('onnx-partial', { model: 'mobilenet-v2', strategy: 'partial', trainLast: 2 });
    const { r, check, tail } = await exportAndCheck(bundle, 'onnx');
    assertAgrees(check, 'onnx partial');
    assert.equal(r.metadata.input.size, 224);
    assert.equal(r.metadata.outputs.features?.shape[1], 1280);
    // The trained weights are in the graph (not the pretrained int8 ones): every tail variable as a float initializer.
    const g = decodeModel(await readFile(join(r.dir, 'model.onnx'))).graph!;
    const inits = new Map((g.initializer ?? []).map((t) => [t.name!, t]));
    for (const v of tail.variables) assert.ok(inits.has(`tl_ft/${v.name}`), `initializer for ${v.name}`);
    const ops = new Set((g.node ?? []).map((n) => n.opType));
    for (const op of ['DequantizeLinear', 'Conv', 'Clip', 'GlobalAveragePool', 'Gemm', 'Softmax'])
      assert.ok(ops.has(op), `graph has ${op}`);
    // TF.js cannot hold the int8 ONNX backbone: a clear refusal.
    const clf = await Classifier.load(bundle);
    try {
      await assert.rejects(
        exportLoaded(clf, { format: 'tfjs', out: join(bundle, 'x') }),
        (e: Error) => e.name === 'TlError' && /needs a TF\.js backbone/.test(e.message),
      );
    } finally {
      await clf.dispose();
    }
  });

  test('--replace hidden:16: the new units as 1x1 Conv + Relu on the dequantized cut', async () => {
    const bundle = await trainBundle('onnx-replace', {
      model: 'mobilenet-v2',
      strategy: 'partial',
      trainLast: 2,
      replace: [16],
    });
    const { r, check } = await exportAndCheck(bundle, 'onnx');
    assertAgrees(check, 'onnx replace');
    assert.equal(r.metadata.outputs.features?.shape[1], 16);
  });

  test('whole network at 96 px (cut at the input): float ops only, input declared at the trained size; via the CLI', async () => {
    const bundle = await trainBundle('onnx-full96', {
      model: 'mobilenet-v2',
      strategy: 'full',
      size: 96,
      finetuneBatchSize: 4,
    });
    const out = join(work, 'onnx-full96-cli');
    const res = await runCli(['export', bundle, '--out', out, '--json'], { cacheDir, timeoutMs: 180_000 });
    assert.equal(res.code, 0, res.stderr);
    const j = JSON.parse(res.stdout);
    assertAgrees(j.check, 'onnx full 96');
    assert.deepEqual(j.metadata.input.shape, [null, 3, 96, 96]);
    assert.equal(j.metadata.source.tail.kind, 'onnx-tail');
    assert.equal(j.metadata.source.tail.imageSize, 96);
    assert.match(res.stderr, /tail {5}fine-tuned onnx-tail after \S+: \d+ trained tensors/);
    const g = decodeModel(await readFile(join(out, 'model.onnx'))).graph!;
    assert.ok(
      !(g.node ?? []).some((n) => n.opType!.startsWith('QLinear') || n.opType === 'QuantizeLinear'),
      'no int8 op left',
    );
  });
});

describe('export of fine-tuned bundles, TF.js mobilenet-v1-0.25', () => {
  test('whole network at 96 px: ONNX and TF.js exports at 96 px with the trained weights', async () => {
    const bundle = await trainBundle('v1-full96', { model: 'mobilenet-v1-0.25', strategy: 'full', size: 96 });
    for (const format of ['onnx', 'tfjs'] as const) {
      const { r, check } = await exportAndCheck(bundle, format);
      assertAgrees(check, `v1 full 96 ${format}`);
      assert.equal(r.metadata.input.size, 96);
      assert.equal(r.metadata.outputs.features?.shape[1], 256);
    }
  });

  test('--replace hidden:8 after the last 2 blocks: ONNX and TF.js', async () => {
    const bundle = await trainBundle('v1-replace', {
      model: 'mobilenet-v1-0.25',
      strategy: 'partial',
      trainLast: 2,
      replace: [8],
    });
    for (const format of ['onnx', 'tfjs'] as const) {
      const { r, check } = await exportAndCheck(bundle, format);
      assertAgrees(check, `v1 replace ${format}`);
      assert.equal(r.metadata.outputs.features?.shape[1], 8);
      assert.ok(existsSync(join(r.dir, r.metadata.model)));
    }
  });
});
