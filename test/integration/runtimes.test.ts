// The backbone runtime registry: every model resolves to the runtime that runs it, "which models can be fine-tuned" is
// what the runtimes declare, an unknown format is a clear error, and no model-format switch is left outside the runtimes.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { ZOO } from '../../src/backbone/zoo.js';
import {
  canFineTune,
  isRuntimeFormat,
  listRuntimes,
  runtimeFor,
  tailRuns,
} from '../../src/backbone/runtimes/registry.js';
import { loadBackbone } from '../../src/backbone/load.js';
import { describeLayers } from '../../src/backbone/layers.js';
import { canClassifyImagenet, type ModelEntry } from '../../src/backbone/types.js';
import { buildTrainableTail, loadNetwork, openCutBackbone, trainingTf } from '../../src/finetune/network.js';
import { TlError } from '../../src/util/errors.js';
import { MODELS_DIR, ROOT } from '../helpers.js';

const unknownFormat = (e: unknown) =>
  e instanceof TlError &&
  /no backbone runtime for model format "pytorch"/.test(e.message) &&
  /onnx, tfjs-layers/.test(e.hint ?? '');

describe('backbone runtime registry', () => {
  test('each runtime is registered once, under its own format', () => {
    const formats = listRuntimes().map((r) => r.format);
    assert.deepEqual([...formats].sort(), ['onnx', 'tfjs-layers']);
    assert.equal(new Set(formats).size, formats.length);
    for (const f of formats) assert.equal(runtimeFor(f).format, f);
  });

  test('every zoo entry resolves to a runtime', () => {
    for (const m of ZOO) {
      assert.ok(isRuntimeFormat(m.format), `${m.id}: ${m.format}`);
      assert.equal(runtimeFor(m.format).format, m.format);
    }
  });

  test('"which models can be fine-tuned" answers what the runtimes declare', () => {
    for (const m of ZOO) assert.equal(canFineTune(m), runtimeFor(m.format).fineTuning !== undefined, m.id);
    // Both runtimes shipped today train their layers after a cut: every zoo model can be fine-tuned.
    assert.deepEqual(
      ZOO.filter(canFineTune).map((m) => m.id),
      ZOO.map((m) => m.id),
    );
    assert.equal(canFineTune({ ...ZOO[0], format: 'pytorch' }), false);
  });

  test('tails are of the kind their runtime declares, and bundles say how each kind runs', async () => {
    const { tf } = await trainingTf();
    for (const id of ['mobilenet-v2', 'mobilenet-v1-0.25']) {
      const net = await loadNetwork(ZOO.find((m) => m.id === id)!);
      const last = net.units[net.units.length - 2];
      const tail = await buildTrainableTail(tf, net, last.cut, last.shape);
      try {
        assert.equal(tail.kind, runtimeFor(net.entry.format).fineTuning!.tailKind, id);
        assert.match(tailRuns(tail.kind)!, /^frozen part: /);
      } finally {
        tail.dispose();
      }
    }
    assert.match(tailRuns('replace')!, /1x1 conv/);
    assert.equal(tailRuns('pytorch-tail'), undefined);
  });

  test('an unknown format is a clear error before any file is touched', async () => {
    const bogus: ModelEntry = { ...ZOO[0], id: 'bogus', format: 'pytorch', folder: '/nonexistent/bogus' };
    assert.throws(() => runtimeFor('pytorch'), unknownFormat);
    await assert.rejects(loadBackbone(bogus), unknownFormat);
    await assert.rejects(describeLayers(bogus), unknownFormat);
    await assert.rejects(loadNetwork(bogus), unknownFormat);
  });

  test('files of a user model: the entry alone (ONNX) or model.json with its weight shards (TF.js)', async () => {
    const v2 = ZOO.find((m) => m.id === 'mobilenet-v2')!;
    assert.deepEqual(await runtimeFor('onnx').modelFiles(join(MODELS_DIR, v2.folder, v2.entry)), [v2.entry]);
    const v1 = ZOO.find((m) => m.id === 'mobilenet-v1-0.25')!;
    const files = await runtimeFor('tfjs-layers').modelFiles(join(MODELS_DIR, v1.folder, v1.entry));
    // The zoo lists exactly these files (with their sha256): the same set, the entry first.
    assert.equal(files[0], 'model.json');
    assert.deepEqual([...files].sort(), v1.files.map((f) => f.name).sort());
    assert.equal(runtimeFor('onnx').registerByUrl, true);
    assert.equal(runtimeFor('tfjs-layers').registerByUrl, false);
  });

  test('the ImageNet head is a capability: a whole backbone has it, a cut does not', async () => {
    const entry = ZOO.find((m) => m.id === 'mobilenet-v1-0.25')!;
    const whole = await loadBackbone(entry);
    const net = await loadNetwork(entry);
    const cut = await openCutBackbone(net, net.units[3].cut);
    try {
      assert.equal(canClassifyImagenet(whole), true);
      assert.equal(canClassifyImagenet(cut), false);
      assert.equal('embedAndClassify' in cut, false);
    } finally {
      await cut.dispose();
      await whole.dispose();
    }
  });

  test('no model-format switch outside src/backbone/runtimes/', async () => {
    const src = join(ROOT, 'src');
    const files = (await readdir(src, { recursive: true, withFileTypes: true }))
      .filter((e) => e.isFile() && e.name.endsWith('.ts'))
      .map((e) => join(e.parentPath, e.name))
      .filter((f) => !relative(src, f).startsWith('backbone/runtimes/'));
    // Any receiver: `x.format === 'onnx'`, `'tfjs-layers' !== y.format`, `TABLE[z.format]`, `case 'tfjs-layers':`,
    // `switch (w.format)`: what the registry replaces. The model formats are the registered runtimes' own.
    const formats = listRuntimes()
      .map((r) => r.format.replace(/[-]/g, '[-]'))
      .join('|');
    const patterns = [
      new RegExp(`([\\w$]+)\\.format\\s*[!=]==?\\s*['"\`](?:${formats})['"\`]`),
      new RegExp(`['"\`](?:${formats})['"\`]\\s*[!=]==?\\s*([\\w$]+)\\.format\\b`),
      /\[\s*[\w$.]+\.format\s*\]/,
      new RegExp(`\\bcase\\s+['"\`](?:${formats})['"\`]\\s*:`),
      /\bswitch\s*\(\s*[\w$.]+\.format\s*\)/,
    ];
    // `tl export --format onnx|tfjs` is the OUTPUT format of an export (ExportOptions.format, always named `opts`
    // there), not a model's format: those comparisons are allowed in the export command and module only.
    const exportFormat = (file: string, receiver: string | undefined) =>
      receiver === 'opts' && /^src\/(export\/export|cli\/commands\/export)\.ts$/.test(file);
    const found: string[] = [];
    for (const f of files) {
      const file = relative(ROOT, f);
      (await readFile(f, 'utf8')).split('\n').forEach((line, i) => {
        for (const p of patterns) {
          const m = p.exec(line);
          if (m && !exportFormat(file, m[1])) found.push(`${file}:${i + 1}: ${line.trim()}`);
        }
      });
    }
    assert.deepEqual(found, []);
    // The check has teeth: it catches a switch written with any variable name.
    const planted = ["if (spec.format === 'onnx') run();", 'const f = KIND[backbone.entry.format];'];
    for (const line of planted)
      assert.ok(
        patterns.some((p) => p.test(line)),
        line,
      );
  });
});
