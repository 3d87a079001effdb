// Fault injection on user-registered backbones (issue 22, items 4, 5 and 7): a model description with a wrong
// feature.dim, a relative path, or a path to a file that is no model; registering an id twice; a bundle whose model
// registration was replaced; a registered local model file that changed on disk.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { appendFile, copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { assertCleanError, cleanup, DATASETS_DIR, DOG, linkSubset, MODELS_DIR, runCli, tempDir } from '../helpers.js';
import onnxProto from 'onnx-proto';
import { storeRows } from './cache-fixtures.js';

const ZOO_ONNX = join(MODELS_DIR, 'mobilenetv2_int8_onnx/mobilenetv2-12-int8.onnx');

let tmp: string;
let photos: string;
before(async () => {
  tmp = await tempDir('tl-fault-models-');
  photos = join(tmp, 'photos');
  await linkSubset(join(DATASETS_DIR, 'hymenoptera_data/train'), photos, 5);
});
after(() => cleanup(tmp));

/** A fresh cache (and so a fresh models.json) per test. */
async function world(name: string) {
  const dir = join(tmp, name);
  const cacheDir = join(dir, 'cache');
  await mkdir(dir, { recursive: true });
  const tl = (args: string[], env?: Record<string, string | undefined>) =>
    runCli(args, { cacheDir, cwd: tmp, timeoutMs: 180_000, env });
  const registered = async () => {
    const p = join(cacheDir, 'models.json');
    return existsSync(p) ? (JSON.parse(await readFile(p, 'utf8')) as { id: string; source: string }[]) : [];
  };
  return { dir, cacheDir, tl, registered };
}

const INPUT = { size: 224, layout: 'NCHW', mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] };

describe('tl models add FILE.json: the description is checked against the file', () => {
  test('feature.dim 512 on a 150,528-wide tensor is refused at add, naming both numbers; nothing registered', async () => {
    const w = await world('dim-small');
    const desc = join(w.dir, 'desc.json');
    await writeFile(
      desc,
      JSON.stringify({
        id: 'wide',
        format: 'onnx',
        path: ZOO_ONNX,
        input: INPUT,
        feature: { tensor: 'input', dim: 512 },
      }),
    );
    const r = await w.tl(['models', 'add', desc]);
    assertCleanError(r, /model wide: feature tensor "input" gives 150528 values per image, but feature\.dim says 512/);
    assert.deepEqual(await w.registered(), []);
  });

  test('a registration with a wrong dim (an older tl, or models.json edited) fails on the first batch: nothing cached', async () => {
    const w = await world('dim-large');
    const desc = join(w.dir, 'desc.json');
    await writeFile(
      desc,
      JSON.stringify({
        id: 'wide',
        format: 'onnx',
        path: ZOO_ONNX,
        input: INPUT,
        feature: { tensor: 'input', dim: 150528 },
      }),
    );
    assert.equal((await w.tl(['models', 'add', desc])).code, 0);
    // As an older tl would have stored it: dim 200000, unchecked.
    const reg = JSON.parse(await readFile(join(w.cacheDir, 'models.json'), 'utf8'));
    reg[0].feature.dim = 200000;
    await writeFile(join(w.cacheDir, 'models.json'), JSON.stringify(reg));
    const r = await w.tl(['embed', photos, '--model', 'wide']);
    assertCleanError(r, /feature tensor "input" gives 150528 values per image, but feature\.dim says 200000/);
    assert.match(r.stderr, /^hint: Set "dim": 150528 in the model description .*--replace.*nothing was cached/m);
    const store = join(w.cacheDir, 'features.sqlite');
    assert.equal(existsSync(store) ? storeRows(store) : 0, 0, 'no vector stored');
  });

  test('a relative "path" resolves against the description file, not the current folder', async () => {
    const w = await world('relative');
    const models = join(w.dir, 'models');
    await mkdir(models);
    await copyFile(ZOO_ONNX, join(models, 'net.onnx'));
    await writeFile(
      join(models, 'desc.json'),
      JSON.stringify({
        id: 'rel',
        format: 'onnx',
        path: './net.onnx',
        input: INPUT,
        feature: { tensor: '472_quantized', dim: 1280 },
      }),
    );
    const r = await w.tl(['models', 'add', join(models, 'desc.json')]); // cwd: tmp, not models/
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(
      (await w.registered()).map((m) => [m.id, m.source]),
      [['rel', join(models, 'net.onnx')]],
    );
  });

  test('a "path" to a file that is not a model (/etc/passwd) is refused at add in one line; nothing registered', async () => {
    const w = await world('passwd');
    const desc = join(w.dir, 'desc.json');
    await writeFile(
      desc,
      JSON.stringify({ id: 'pw', format: 'onnx', path: '/etc/passwd', input: INPUT, feature: { tensor: 'x', dim: 8 } }),
    );
    const r = await w.tl(['models', 'add', desc]);
    assertCleanError(r, /\/etc\/passwd is not an ONNX model/);
    assert.doesNotMatch(r.stderr, /please report/);
    const tj = join(w.dir, 'tj.json');
    await writeFile(
      tj,
      JSON.stringify({
        id: 'pw2',
        format: 'tfjs-layers',
        path: '/etc/passwd',
        input: { ...INPUT, layout: 'NHWC' },
        feature: { tensor: 'x', dim: 8 },
      }),
    );
    assertCleanError(await w.tl(['models', 'add', tj]), /\/etc\/passwd is not a TF\.js layers model\.json/);
    assert.deepEqual(await w.registered(), []);
  });
});

describe('registering an id twice; a bundle whose model registration was replaced', () => {
  test('--id mine twice is refused without --replace (even with another --preset); the first registration stays', async () => {
    const w = await world('twice');
    const add = (...more: string[]) => w.tl(['models', 'add', ZOO_ONNX, '--id', 'mine', ...more]);
    assert.equal((await add('--preset', 'imagenet-torch')).code, 0);
    const before = await readFile(join(w.cacheDir, 'models.json'), 'utf8');
    const r = await add('--preset', 'inception');
    assertCleanError(r, /a model "mine" is registered already/);
    assert.match(r.stderr, /^hint: .*--replace/m);
    assert.equal(await readFile(join(w.cacheDir, 'models.json'), 'utf8'), before, 'registry unchanged');
    const desc = join(w.dir, 'desc.json');
    await writeFile(
      desc,
      JSON.stringify({
        id: 'mine',
        format: 'onnx',
        path: ZOO_ONNX,
        input: INPUT,
        feature: { tensor: '472_quantized', dim: 1280 },
      }),
    );
    assertCleanError(await w.tl(['models', 'add', desc]), /a model "mine" is registered already/);
    assert.equal(await readFile(join(w.cacheDir, 'models.json'), 'utf8'), before, 'registry unchanged');
  });

  test('after --replace (other preset, then other weights) a bundle trained on the old one names the replaced registration and both hashes', async () => {
    const w = await world('replaced');
    assert.equal((await w.tl(['models', 'add', ZOO_ONNX, '--id', 'mine', '--preset', 'imagenet-torch'])).code, 0);
    const bundle = join(w.dir, 'clf');
    const trained = await w.tl([
      'train',
      photos,
      '--model',
      'mine',
      '--out',
      bundle,
      '--strategy',
      'head',
      '--l2',
      '1',
    ]);
    assert.equal(trained.code, 0, trained.stderr);
    const hash = JSON.parse(await readFile(join(bundle, 'classifier.json'), 'utf8')).backbone.weightsHash as string;

    const again = await w.tl(['models', 'add', ZOO_ONNX, '--id', 'mine', '--preset', 'inception', '--replace']);
    assert.equal(again.code, 0, again.stderr);
    const p = await w.tl(['predict', bundle, DOG]);
    assertCleanError(p, /the registration of model "mine" was replaced on .*, after this classifier was trained/);
    assert.match(
      p.stderr,
      /same weights \(hash [0-9a-f]{16}\.\.\.\); input\.mean \[0\.485,0\.456,0\.406\] -> \[0\.5,0\.5,0\.5\]/,
    );
    assert.doesNotMatch(p.stderr, /Retrain with this version of tl/);

    // The same network re-saved with another doc string: another file, so another weights hash.
    const model = onnxProto.onnx.ModelProto.decode(await readFile(ZOO_ONNX));
    model.docString = 'resaved';
    const otherFile = join(w.dir, 'other.onnx');
    await writeFile(otherFile, onnxProto.onnx.ModelProto.encode(model).finish());
    const other = await w.tl(['models', 'add', otherFile, '--id', 'mine', '--preset', 'imagenet-torch', '--replace']);
    assert.equal(other.code, 0, other.stderr);
    const q = await w.tl(['predict', bundle, DOG]);
    assertCleanError(q, /the registration of model "mine" was replaced/);
    assert.match(
      q.stderr,
      new RegExp(`weights hash ${hash.slice(0, 16)}\\.\\.\\. when trained, [0-9a-f]{16}\\.\\.\\. registered now`),
    );
    assert.doesNotMatch(q.stderr, /Retrain with this version of tl/);
  });
});

describe('a registered local model file that changed on disk', () => {
  test('the checksum error says the file is not the one registered and never advises deleting it', async () => {
    const w = await world('changed');
    const copy = join(w.dir, 'only-copy.onnx');
    await copyFile(ZOO_ONNX, copy);
    assert.equal((await w.tl(['models', 'add', copy, '--id', 'local', '--preset', 'imagenet-torch'])).code, 0);
    await appendFile(copy, Buffer.from([0]));
    const r = await w.tl(['classify', DOG, '--model', 'local']);
    assertCleanError(
      r,
      /only-copy\.onnx \(model local\) is not the file that was registered: its sha256 is [0-9a-f]{64}, registered [0-9a-f]{64}/,
    );
    assert.doesNotMatch(r.stderr, /[Dd]elete|tl models pull/);
    assert.match(r.stderr, /^hint: Copy the original file back .*--replace/m);
    assert.ok(existsSync(copy));
  });
});
