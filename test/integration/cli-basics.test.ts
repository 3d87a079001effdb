// The built CLI (dist/src/cli/main.js) as a user runs it: models, classify, embed errors, cache, and --help.
// Every run gets a temp TL_CACHE_DIR; models come from TL_MODELS_DIR (../shared/models) with TL_OFFLINE=1.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import {
  cleanup,
  DOG,
  FIXTURES,
  MODELS_DIR,
  runCli,
  stackLines,
  tempDir,
  ZOO_IDS,
  assertCleanError,
} from '../helpers.js';

let cacheDir: string;
before(async () => {
  cacheDir = await tempDir('tl-cli-');
});
after(async () => {
  await cleanup(cacheDir);
});

const tl = (args: string[], env?: Record<string, string | undefined>) => runCli(args, { cacheDir, env });

describe('tl models', () => {
  test('list --json is an array holding the zoo ids', async () => {
    const r = await tl(['models', 'list', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const list = JSON.parse(r.stdout) as {
      id: string;
      feature: { dim: number };
      default: boolean;
      weightsHash: string;
    }[];
    assert.ok(Array.isArray(list));
    const ids = list.map((m) => m.id);
    for (const id of ZOO_IDS) assert.ok(ids.includes(id), `${id} listed`);
    assert.deepEqual(
      list.filter((m) => m.default).map((m) => m.id),
      ['mobilenet-v2'],
    );
    assert.equal(list.find((m) => m.id === 'darknet-tiny')!.feature.dim, 128);
    for (const m of list) assert.match(m.weightsHash, /^[0-9a-f]{64}$/);
    const text = await tl(['models', 'list']);
    assert.equal(text.code, 0);
    for (const id of ZOO_IDS) assert.match(text.stdout, new RegExp(`^${id.replace(/\./g, '\\.')}\\b`, 'm'));
  });

  test('info mobilenet-v2 shows feature dim 1280; --layers of darknet-tiny lists leaky_re_lu_15', async () => {
    const info = await tl(['models', 'info', 'mobilenet-v2']);
    assert.equal(info.code, 0, info.stderr);
    assert.match(info.stdout, /^feature\s+472_quantized .*1280-d$/m);
    assert.match(info.stdout, /^format\s+onnx$/m);
    const json = JSON.parse((await tl(['models', 'info', 'mobilenet-v2', '--json'])).stdout);
    assert.equal(json.feature.dim, 1280);

    const layers = await tl(['models', 'info', 'darknet-tiny', '--layers']);
    assert.equal(layers.code, 0, layers.stderr);
    assert.match(layers.stdout, /^\s*\d+\s+leaky_re_lu_15\s+LeakyReLU\s+\[N,14,14,128\]/m);
    const onnxLayers = await tl(['models', 'info', 'mobilenet-v2', '--layers']);
    assert.equal(onnxLayers.code, 0, onnxLayers.stderr);
    assert.match(onnxLayers.stdout, /\b472_quantized\b/);
    // The block table: what --freeze N counts, with the cut's activation shape, parameters and cache cost.
    assert.match(
      onnxLayers.stdout,
      /^\s*15\s+block 14 \(96→160, s2\)\s+597_quantized\s+7x7x160\s+153,952\s+15\.3 KiB$/m,
    );
    assert.match(layers.stdout, /^\s*15\s+Conv2D conv2d_15\s+leaky_re_lu_15\s+14x14x128\s+66,048\s+49 KiB$/m);

    assertCleanError(await tl(['models', 'info', 'no-such-model']), /unknown model "no-such-model"/);
  });

  test('pull finds the model in TL_MODELS_DIR without network', async () => {
    const r = await tl(['models', 'pull', 'mobilenet-v2']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /mobilenet-v2: 1 files verified in .*mobilenetv2_int8_onnx \(models-dir\)/);
    assert.ok(r.stdout.includes(MODELS_DIR));
  });

  test('pull offline with no models dir and an empty cache fails cleanly, naming the URL and TL_MODELS_DIR', async () => {
    const empty = await tempDir('tl-cli-empty-');
    try {
      const r = await runCli(['models', 'pull', 'mobilenet-v2'], {
        cacheDir: empty,
        env: { TL_MODELS_DIR: undefined, TL_OFFLINE: '1' },
      });
      assert.equal(r.code, 1, r.stderr);
      assert.deepEqual(stackLines(r.stderr), [], `no stack trace: ${r.stderr}`);
      assert.match(r.stderr, /^error: .*mobilenet-v2.*TL_OFFLINE/m);
      assert.ok(
        r.stderr.includes(
          'https://github.com/onnx/models/raw/main/validated/vision/classification/mobilenet/model/mobilenetv2-12-int8.onnx',
        ),
        r.stderr,
      );
      assert.match(r.stderr, /TL_MODELS_DIR/);
      assert.equal(r.stdout, '');
      assert.ok(
        !existsSync(join(empty, 'models/mobilenetv2_int8_onnx/mobilenetv2-12-int8.onnx')),
        'nothing half-written',
      );
    } finally {
      await cleanup(empty);
    }
  });

  test('add and remove a custom backbone from a JSON description', async () => {
    const own = await tempDir('tl-cli-add-');
    try {
      const desc = join(own, 'mine.json');
      await writeFile(
        desc,
        JSON.stringify({
          id: 'my-net',
          format: 'onnx',
          path: join(MODELS_DIR, 'mobilenetv2_int8_onnx/mobilenetv2-12-int8.onnx'),
          input: { size: 224, layout: 'NCHW', mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] },
          feature: { tensor: '472_quantized', dim: 1280 },
        }),
      );
      const added = await runCli(['models', 'add', desc], { cacheDir: own });
      assert.equal(added.code, 0, added.stderr);
      assert.match(added.stdout, /registered my-net/);
      const list = JSON.parse((await runCli(['models', 'list', '--json'], { cacheDir: own })).stdout) as {
        id: string;
      }[];
      assert.ok(list.some((m) => m.id === 'my-net'));
      const removed = await runCli(['models', 'remove', 'my-net'], { cacheDir: own });
      assert.equal(removed.code, 0, removed.stderr);
      assertCleanError(
        await runCli(['models', 'remove', 'my-net'], { cacheDir: own }),
        /no user-registered model "my-net"/,
      );

      await writeFile(desc, JSON.stringify({ id: 'bad', format: 'onnx' }));
      assertCleanError(await runCli(['models', 'add', desc], { cacheDir: own }), /invalid model description: .*input/);
      assertCleanError(
        await runCli(['models', 'add', join(own, 'missing.json')], { cacheDir: own }),
        /cannot read .*missing\.json/,
      );
    } finally {
      await cleanup(own);
    }
  });
});

describe('tl classify', () => {
  test('--json: one entry per file with its path and predictions in order', async () => {
    const eagle = join(FIXTURES, 'eagle.jpg');
    const r = await tl(['classify', DOG, eagle, '--json', '--top', '3']);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as {
      path: string;
      predictions: { label: string; synset: string; index: number; probability: number }[];
    }[];
    assert.equal(out.length, 2);
    assert.deepEqual(
      out.map((e) => e.path),
      [DOG, eagle],
    );
    for (const e of out) {
      assert.equal(e.predictions.length, 3);
      for (let i = 1; i < e.predictions.length; i++)
        assert.ok(e.predictions[i - 1].probability >= e.predictions[i].probability);
      for (const p of e.predictions) {
        assert.match(p.synset, /^n\d{8}$/);
        assert.ok(p.probability > 0 && p.probability <= 1);
        assert.ok(p.label.length > 0);
      }
    }
    assert.equal(out[0].predictions[0].label, 'malamute');
    assert.equal(out[1].predictions[0].label, 'bald eagle');

    const text = await tl(['classify', DOG, '--model', 'darknet-tiny', '-k', '2']);
    assert.equal(text.code, 0, text.stderr);
    const lines = text.stdout.trim().split('\n');
    assert.equal(lines.length, 3);
    assert.equal(lines[0], DOG);
    assert.match(lines[1], /^\s*\d+\.\d%\s+\S/);
  });

  test('bad flags, wrong paths and unknown models give one clear error line', async () => {
    assertCleanError(await tl(['classify', 'x.jpg', '--top', 'abc']), /--top must be a positive integer, got "abc"/);
    assertCleanError(await tl(['classify', DOG, '--top', '0']), /--top must be a positive integer/);
    assertCleanError(await tl(['embed', '/nope']), /^error: no such file or folder: \/nope$/);
    assertCleanError(await tl(['classify', '/nope/dog.jpg']), /no such file or folder: \/nope\/dog\.jpg/);
    assertCleanError(await tl(['embed', DOG, '--batch', '-2']), /--batch must be a positive integer/);
    assertCleanError(await tl(['classify', DOG, '--model', 'resnet-9000']), /unknown model "resnet-9000"/);
    assertCleanError(await tl(['classify', DOG, '--no-such-flag']), /unknown option '--no-such-flag'/);
    const noArgs = await tl(['classify']);
    assert.equal(noArgs.code, 1);
    assert.match(noArgs.stderr, /^error: missing required argument 'images'/m);
  });
});

/** Sub-command names from a commander help text ("Commands:" section), without `help`. */
function commandsIn(help: string): string[] {
  const after = help.split(/^Commands:$/m)[1];
  if (!after) return [];
  // The section ends at the first blank line (an Examples section may follow).
  const section = after.replace(/^\n/, '').split(/\n\s*\n/)[0];
  return section
    .split('\n')
    .map((l) => /^ {2}([a-z][\w-]*)/.exec(l)?.[1])
    .filter((n): n is string => !!n && n !== 'help');
}

describe('help', () => {
  test("every command's --help works and shows Examples", async () => {
    const top = await tl(['--help']);
    assert.equal(top.code, 0, top.stderr);
    const groups = commandsIn(top.stdout);
    for (const c of ['models', 'classify', 'embed', 'cache']) assert.ok(groups.includes(c), `tl --help lists ${c}`);
    // Each group's help is read once (at the same time, as the subcommands' are): for its subcommands and its checks.
    const help = (p: string[]) => tl([...p, '--help']).then((r) => ({ p, r }));
    const groupHelp = await Promise.all(groups.map((g) => help([g])));
    const subcommands: string[][] = [];
    for (const { p, r } of groupHelp) {
      assert.equal(r.code, 0, `tl ${p[0]} --help: ${r.stderr}`);
      for (const sub of commandsIn(r.stdout)) subcommands.push([p[0], sub]);
    }
    const paths = [...groupHelp.map((h) => h.p), ...subcommands];
    assert.ok(paths.length >= 12, `commands found: ${paths.map((p) => p.join(' ')).join(', ')}`);
    const results = [...groupHelp, ...(await Promise.all(subcommands.map(help)))];
    const missing: string[] = [];
    for (const { p, r } of results) {
      assert.equal(r.code, 0, `tl ${p.join(' ')} --help exits 0: ${r.stderr}`);
      assert.match(r.stdout, new RegExp(`^Usage: tl ${p.join(' ')}\\b`, 'm'));
      // An "Examples:" section that shows the command itself being run.
      const examples = r.stdout.split(/^Examples?:$/m)[1];
      if (!examples || !examples.includes(`tl ${p[0]}`)) missing.push(p.join(' '));
    }
    assert.deepEqual(missing, [], 'commands whose --help has no Examples section');
  });
});

describe('tl cache', () => {
  test('stats and clear on a temp store', async () => {
    const store = await tempDir('tl-cli-cache-');
    try {
      const run = (args: string[]) => runCli(args, { cacheDir: store });
      const empty = JSON.parse((await run(['cache', 'stats', '--json'])).stdout);
      assert.equal(empty.total, 0);
      assert.equal(empty.path, join(store, 'features.sqlite'));

      const photos = ['dog.jpg', 'eagle.jpg', 'giraffe.jpg'].map((f) => join(FIXTURES, f));
      const e = await run(['embed', ...photos, '--json']);
      assert.equal(e.code, 0, e.stderr);
      assert.equal(JSON.parse(e.stdout).embedded, 3);
      await run(['embed', DOG, '--model', 'darknet-tiny']);

      const s = await run(['cache', 'stats', '--json']);
      assert.equal(s.code, 0, s.stderr);
      const stats = JSON.parse(s.stdout) as {
        total: number;
        bytesOnDisk: number;
        models: { backboneId: string; dim: number; count: number; bytes: number }[];
      };
      assert.equal(stats.total, 4);
      assert.ok(stats.bytesOnDisk > 0);
      const byId = Object.fromEntries(stats.models.map((m) => [m.backboneId, m]));
      assert.deepEqual(
        { dim: byId['mobilenet-v2'].dim, count: byId['mobilenet-v2'].count, bytes: byId['mobilenet-v2'].bytes },
        { dim: 1280, count: 3, bytes: 3 * 1280 * 4 },
      );
      assert.deepEqual({ dim: byId['darknet-tiny'].dim, count: byId['darknet-tiny'].count }, { dim: 128, count: 1 });

      const text = await run(['cache', 'stats']);
      assert.equal(text.code, 0);
      assert.match(text.stdout, /^mobilenet-v2\s+[0-9a-f]{12}\s+1280\s+3\s/m);
      assert.match(text.stdout, /^total: 4 feature vectors$/m);

      const pruned = await run(['cache', 'prune']);
      assert.equal(pruned.code, 0, pruned.stderr);
      assert.match(pruned.stdout, /^pruned 0 feature vectors; 4 left/);

      const cleared = await run(['cache', 'clear']);
      assert.equal(cleared.code, 0, cleared.stderr);
      assert.match(cleared.stdout, /^cleared 4 feature vectors$/m);
      assert.equal(JSON.parse((await run(['cache', 'stats', '--json'])).stdout).total, 0);
      assertCleanError(await run(['cache', 'prune', '--older-than', 'soon']), /--older-than must be a positive number/);
    } finally {
      await cleanup(store);
    }
  });
});
