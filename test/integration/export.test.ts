// `tl export`: the exported ONNX / TF.js models compute what the bundle computes (`tl predict`), the ONNX graph is
// well formed, and the browser example classifies a photo in headless Chromium with onnxruntime-web.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import ort from 'onnxruntime-node';
import { chromium } from 'playwright-core';
import { trainClassifier } from '../../src/index.js';
import { Classifier } from '../../src/classifier/classifier.js';
import { preprocess } from '../../src/data/image.js';
import { tfWasm } from '../../src/backbone/runtimes/tfjs/tfjs.js';
import { checkOnnxModel } from '../../src/export/onnx/check.js';
import { exportClassifier, inputSpecOf, readExportMetadata } from '../../src/export/export.js';
import { tfjsArtifactsFromFiles } from '../../src/export/tfjs-export.js';
import { preprocessAsDocumented } from '../../src/export/outside-preprocess.js';
import { decodeModel } from '../../src/backbone/runtimes/onnx/graph.js';
import { cleanup, DATASETS_DIR, filesIn, ROOT, runCli, stackLines, tempDir } from '../helpers.js';

const DATA = join(DATASETS_DIR, 'hymenoptera_data');
const VAL = [...['ants', 'bees'].map((c) => join(DATA, 'val', c))];
let work: string;
let cacheDir: string;
let valImages: string[];
const prevCache = process.env.TL_CACHE_DIR;

before(async () => {
  work = await tempDir('tl-export-');
  cacheDir = join(work, 'cache');
  process.env.TL_CACHE_DIR = cacheDir;
  valImages = (await Promise.all(VAL.map(filesIn))).flat();
});
after(async () => {
  if (prevCache === undefined) delete process.env.TL_CACHE_DIR;
  else process.env.TL_CACHE_DIR = prevCache;
  await cleanup(work);
});

/** Probabilities in label order for each file, as `tl predict` computes them (cache-backed batch path). */
async function bundleProbabilities(bundle: string, paths: string[]): Promise<Map<string, Float32Array>> {
  const clf = await Classifier.load(bundle);
  try {
    const { predictions } = await clf.predictFiles(paths, { top: clf.labels.length });
    assert.equal(predictions.length, paths.length);
    return new Map(
      predictions.map((p) => [
        p.path,
        Float32Array.from(clf.labels, (l) => p.top.find((t) => t.label === l)!.probability),
      ]),
    );
  } finally {
    await clf.dispose();
  }
}

const argmax = (p: ArrayLike<number>) =>
  Array.prototype.reduce.call(
    p,
    (b: number, v: number, k: number, a: ArrayLike<number>) => (v > a[b] ? k : b),
    0,
  ) as number;

function compare(ref: Map<string, Float32Array>, got: Map<string, Float32Array>) {
  let agree = 0;
  let maxDiff = 0;
  for (const [path, p] of got) {
    const r = ref.get(path)!;
    if (argmax(p) === argmax(r)) agree++;
    for (let k = 0; k < p.length; k++) maxDiff = Math.max(maxDiff, Math.abs(p[k] - r[k]));
  }
  return { agree, n: got.size, maxDiff };
}

describe('tl export (mobilenet-v2, ONNX)', () => {
  let bundle: string;
  let onnxDir: string;
  let ref: Map<string, Float32Array>;

  before(async () => {
    bundle = join(work, 'v2-bundle');
    // Rung 1 named: what auto picks here, without its plan's fine-tuning probes (export is what this file tests).
    const r = await trainClassifier(DATA, { seed: 1, strategy: 'head' });
    await r.classifier.save(bundle);
    await r.classifier.dispose();
    ref = await bundleProbabilities(bundle, valImages);
  });

  test('the ONNX export gives the same top-1 as the bundle on all 153 val images, probabilities within 1e-4', async () => {
    onnxDir = join(work, 'v2-onnx');
    const cli = await runCli(['export', bundle, '--format', 'onnx', '--out', onnxDir], {
      cacheDir,
      timeoutMs: 300_000,
    });
    assert.equal(cli.code, 0, cli.stderr);
    assert.match(cli.stdout, /top-1 agreement with the bundle 100\.0%/);
    const meta = await readExportMetadata(onnxDir);
    assert.deepEqual(meta.labels, ['ants', 'bees']);
    assert.equal(meta.input.layout, 'NCHW');
    assert.deepEqual(meta.input.shape, [null, 3, 224, 224]);
    assert.equal(meta.source.backbone, 'mobilenet-v2');
    assert.ok(meta.unknown.threshold > 0 && meta.unknown.threshold < 1);

    const session = await ort.InferenceSession.create(join(onnxDir, 'model.onnx'));
    assert.deepEqual(session.inputNames, ['input']);
    assert.deepEqual(session.outputNames, ['probabilities', 'features']);
    const got = new Map<string, Float32Array>();
    for (let i = 0; i < valImages.length; i += 32) {
      const batch = valImages.slice(i, i + 32);
      const x = new Float32Array(batch.length * 3 * 224 * 224);
      // As an outside user would: from metadata.json alone, not with the toolkit's decoder (issue 10 item 12).
      (await Promise.all(batch.map((p) => preprocessAsDocumented(p, meta.input)))).forEach((t, j) =>
        x.set(t, j * t.length),
      );
      const out = await session.run({ input: new ort.Tensor('float32', x, [batch.length, 3, 224, 224]) });
      const probs = out.probabilities.data as Float32Array;
      assert.deepEqual(out.probabilities.dims, [batch.length, 2]);
      assert.deepEqual(out.features.dims, [batch.length, 1280]);
      batch.forEach((p, j) => got.set(p, probs.slice(j * 2, j * 2 + 2)));
    }
    await session.release();
    const c = compare(ref, got);
    console.log(`ONNX export vs bundle: top-1 ${c.agree}/${c.n}, max |dp| ${c.maxDiff.toExponential(2)}`);
    assert.equal(c.n, 153);
    assert.equal(c.agree, 153);
    assert.ok(c.maxDiff < 1e-4, `max probability difference ${c.maxDiff}`);
  });

  test('the exported ONNX graph is well formed: inputs defined before use, opset declared, only the new outputs', async () => {
    const bytes = await readFile(join(onnxDir, 'model.onnx'));
    assert.deepEqual(checkOnnxModel(bytes), []);
    const model = decodeModel(bytes);
    const g = model.graph!;
    assert.deepEqual(
      g.output!.map((o) => o.name),
      ['probabilities', 'features'],
    );
    assert.ok(!(g.node ?? []).some((n) => n.output!.includes('output')), 'the 1000-way output is gone');
    assert.ok(!(g.node ?? []).some((n) => n.opType === 'QLinearMatMul'), 'the ImageNet classifier is pruned');
    assert.ok(!(g.initializer ?? []).some((t) => t.name!.startsWith('classifier.')), 'its weights are pruned');
    assert.equal(g.node!.at(-1)!.opType, 'Softmax');
    // The checker catches what it should.
    const broken = decodeModel(bytes);
    broken.graph!.node!.reverse();
    assert.ok(
      checkOnnxModel(broken).some((p) => /is not a graph input, an initializer or an earlier node's output/.test(p)),
    );
    const noOpset = decodeModel(bytes);
    noOpset.opsetImport = [];
    assert.ok(checkOnnxModel(noOpset).some((p) => /opset_import/.test(p)));
    const dangling = decodeModel(bytes);
    dangling.graph!.output![0].name = 'nowhere';
    assert.ok(checkOnnxModel(dangling).some((p) => /graph output "nowhere" is not produced/.test(p)));
  });

  test('--quantize float16 and int8 shrink the head and report their accuracy cost; bad flags give one error line', async () => {
    const q = await runCli(
      ['export', bundle, '--quantize', 'int8', '--out', join(work, 'v2-int8'), '--limit', '40', '--json'],
      { cacheDir, timeoutMs: 300_000 },
    );
    assert.equal(q.code, 0, q.stderr);
    const j = JSON.parse(q.stdout);
    assert.equal(j.metadata.quantize, 'int8');
    assert.equal(j.check.images, 40);
    assert.ok(j.check.top1Agreement >= 0.95, JSON.stringify(j.check));
    assert.match(q.stderr, /int8 accuracy cost: -?\d+\.\d points/);

    const refusals = [
      [['export', bundle, '--format', 'coreml'], /--format must be one of onnx, tfjs, got "coreml"/],
      [['export', bundle, '--quantize', 'int4'], /--quantize must be one of none, float16, int8, got "int4"/],
      [
        ['export', bundle, '--format', 'tfjs', '--out', join(work, 'x')],
        /--format tfjs needs a TF\.js backbone; this classifier uses mobilenet-v2/,
      ],
      [['export', join(work, 'nope')], /is not a classifier bundle/],
      [['export', bundle, '--limit', '0'], /--limit must be a positive integer/],
    ] as const;
    // Independent refusals (each a CLI start-up) and the help: run at once, checked in order.
    const [help, ...refused] = await Promise.all([
      runCli(['export', '--help'], { cacheDir }),
      ...refusals.map(([args]) => runCli([...args], { cacheDir })),
    ]);
    for (const [i, [args, pattern]] of refusals.entries()) {
      const r = refused[i];
      assert.equal(r.code, 1, `${args.join(' ')}: ${r.stderr}`);
      assert.deepEqual(stackLines(r.stderr), []);
      const errors = r.stderr.split('\n').filter((l) => l.startsWith('error:'));
      assert.equal(errors.length, 1, r.stderr);
      assert.match(errors[0], pattern);
    }
    assert.equal(help.code, 0);
    assert.match(help.stdout, /^Examples:$/m);
    assert.match(help.stdout, /tl export cats-classifier --format onnx --out cats-onnx/);
  });

  test(
    'the browser example classifies a val image in headless Chromium like tl predict',
    { skip: !existsSync('/usr/bin/chromium') && 'no /usr/bin/chromium' },
    async () => {
      const photo = join(DATA, 'val', 'bees', '1032546534_06907fe3b3.jpg');
      const cli = await runCli(['predict', bundle, photo, '--json'], { cacheDir });
      assert.equal(cli.code, 0, cli.stderr);
      const expected = JSON.parse(cli.stdout)[0] as { label: string; top: { label: string; probability: number }[] };
      const server: ChildProcess = spawn(process.execPath, [join(ROOT, 'examples/browser/serve.mjs'), onnxDir, '0'], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      const browser = await chromium.launch({
        executablePath: '/usr/bin/chromium',
        args: [
          '--no-sandbox',
          '--disable-gpu',
          '--disable-background-networking',
          '--disable-component-update',
          '--disable-sync',
          '--no-first-run',
        ],
      });
      try {
        const url = await new Promise<string>((resolvePromise, reject) => {
          server.stdout!.on('data', (d) => {
            const m = /serving (\S+)/.exec(String(d));
            if (m) resolvePromise(m[1]);
          });
          server.on('exit', (code) => reject(new Error(`server exited ${code}`)));
        });
        const page = await browser.newPage();
        const errors: string[] = [];
        page.on('pageerror', (e) => errors.push(e.message));
        await page.goto(url);
        await page.waitForFunction(() => ['ready', 'error'].includes(document.body.dataset.state ?? ''), null, {
          timeout: 60_000,
        });
        assert.equal(
          await page.evaluate(() => document.body.dataset.state),
          'ready',
          `${await page.textContent('#status')} ${errors.join('; ')}`,
        );
        await page.setInputFiles('#file', photo);
        await page.waitForFunction(() => ['done', 'error'].includes(document.body.dataset.state ?? ''), null, {
          timeout: 60_000,
        });
        const result = await page.evaluate(
          () =>
            (
              window as unknown as {
                tlResult: { label: string; probabilities: Record<string, number>; unknown: boolean };
              }
            ).tlResult,
        );
        await page.screenshot({ path: join(work, 'browser-example.png') });
        console.log(
          `browser: ${result.label} ${JSON.stringify(result.probabilities)}; tl predict: ${expected.label} ${expected.top.map((t) => `${t.label} ${t.probability.toFixed(4)}`).join(', ')}`,
        );
        assert.equal(result.label, expected.label);
        assert.equal(await page.getAttribute('#top', 'data-label'), expected.label);
        // Canvas resampling differs a little from sharp's; the probabilities stay close.
        assert.ok(Math.abs(result.probabilities[expected.label] - expected.top[0].probability) < 0.05);
        assert.equal(result.unknown, false);
        assert.ok(existsSync(join(work, 'browser-example.png')));
      } finally {
        await browser.close();
        server.kill();
      }
    },
  );
});

describe('tl export (mobilenet-v1-0.25, TF.js layers and ONNX)', () => {
  let bundle: string;
  let ref: Map<string, Float32Array>;
  let subset: string[];

  before(async () => {
    bundle = join(work, 'v1-bundle');
    const r = await trainClassifier(DATA, { seed: 1, model: 'mobilenet-v1-0.25', strategy: 'head' });
    await r.classifier.save(bundle);
    await r.classifier.dispose();
    // 40 val images spread over both classes.
    subset = Array.from({ length: 40 }, (_, i) => valImages[Math.floor((i * valImages.length) / 40)]);
    ref = await bundleProbabilities(bundle, subset);
  });

  test('the TF.js export loads with tf.loadLayersModel and agrees with the bundle on 40 val images', async () => {
    const dir = join(work, 'v1-tfjs');
    const r = await exportClassifier(bundle, { format: 'tfjs', out: dir });
    assert.deepEqual(r.files.map((f) => f.name).sort(), [
      'metadata.json',
      'model.json',
      'unknown-references.bin',
      'weights.bin',
    ]);
    const tf = await tfWasm();
    const json = JSON.parse(await readFile(join(dir, 'model.json'), 'utf8'));
    assert.equal(json.format, 'layers-model');
    assert.deepEqual(json.weightsManifest[0].paths, ['weights.bin']);
    const model = await tf.loadLayersModel(
      tf.io.fromMemory(tfjsArtifactsFromFiles(json, await readFile(join(dir, 'weights.bin')))),
    );
    const meta = await readExportMetadata(dir);
    assert.equal(meta.input.layout, 'NHWC');
    const spec = inputSpecOf(meta);
    const got = new Map<string, Float32Array>();
    for (const p of subset) {
      const x = await preprocess(p, spec);
      const y = tf.tidy(
        () =>
          (
            model.predict(tf.tensor4d(x, [1, 224, 224, 3])) as import('@tensorflow/tfjs').Tensor
          ).dataSync() as Float32Array,
      );
      got.set(p, y.slice());
    }
    model.dispose();
    const c = compare(ref, got);
    console.log(`TF.js export vs bundle: top-1 ${c.agree}/${c.n}, max |dp| ${c.maxDiff.toExponential(2)}`);
    assert.equal(c.agree, 40);
    assert.ok(c.maxDiff < 1e-4, `max probability difference ${c.maxDiff}`);
  });

  test('a TF.js backbone also exports to ONNX (layers converted to NCHW ops) with the same predictions', async () => {
    const dir = join(work, 'v1-onnx');
    const r = await exportClassifier(bundle, { format: 'onnx', out: dir });
    assert.deepEqual(r.problems, []);
    assert.deepEqual(checkOnnxModel(await readFile(join(dir, 'model.onnx'))), []);
    const session = await ort.InferenceSession.create(join(dir, 'model.onnx'));
    const spec = inputSpecOf(r.metadata);
    assert.equal(spec.layout, 'NCHW');
    const got = new Map<string, Float32Array>();
    for (const p of subset) {
      const out = await session.run({ input: new ort.Tensor('float32', await preprocess(p, spec), [1, 3, 224, 224]) });
      got.set(p, (out.probabilities.data as Float32Array).slice());
    }
    await session.release();
    const c = compare(ref, got);
    console.log(
      `ONNX export of a TF.js backbone vs bundle: top-1 ${c.agree}/${c.n}, max |dp| ${c.maxDiff.toExponential(2)}`,
    );
    assert.equal(c.agree, 40);
    assert.ok(c.maxDiff < 1e-4, `max probability difference ${c.maxDiff}`);
  });
});
