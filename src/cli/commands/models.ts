import type { Command } from 'commander';
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import type { Unit } from '../../finetune/network.js';
import { DEFAULT_MODEL_ID } from '../../backbone/zoo.js';
import { table, formatBytes, pct } from '../output.js';
import { blockTable } from './common.js';
import { TlError } from '../../util/errors.js';
import type { ModelEntry } from '../../backbone/types.js';

// A user model's top-1 and parameter count are NaN, which models.json stores as null.
const known = (x: number | null): x is number => typeof x === 'number' && Number.isFinite(x);

function preprocessing(m: ModelEntry): string {
  const i = m.input;
  const norm =
    i.std.every((s) => s === 0.5) && i.mean.every((v) => v === 0.5)
      ? '[-1,1]'
      : i.std.every((s) => s === 1) && i.mean.every((v) => v === 0)
        ? '[0,1]'
        : `mean ${i.mean.join('/')} std ${i.std.join('/')}`;
  const crop =
    i.cropFraction && i.cropFraction !== 1
      ? `resize ${Math.round(i.size / i.cropFraction)} + centre crop ${i.size}`
      : i.resize === 'cover'
        ? `resize shorter side + centre crop ${i.size}`
        : `stretch to ${i.size}`;
  return `${i.layout} RGB ${norm}, ${crop}`;
}

export function registerModelsCommands(program: Command): void {
  const models = program
    .command('models')
    .description('the backbone zoo: list, inspect, download, register your own')
    .addHelpText(
      'after',
      '\nExamples:\n  tl models list\n  tl models info mobilenet-v2 --layers\n  tl models pull darknet-tiny\n  tl models add my-model.json',
    );

  models
    .command('list')
    .description('list available backbones')
    .option('--json', 'print JSON (an array of model objects)')
    .addHelpText('after', '\nExamples:\n  tl models list\n  tl models list --json')
    .action(async (opts: { json?: boolean }) => {
      // The registry (zod) and the runtimes load per command, not when `tl` starts.
      const [{ listModels }, { weightsHash }, { locateModel }] = await Promise.all([
        import('../../backbone/registry.js'),
        import('../../backbone/load.js'),
        import('../../backbone/resolve.js'),
      ]);
      const all = listModels();
      const onDisk = (m: ModelEntry) => locateModel(m)?.where;
      if (opts.json) {
        process.stdout.write(
          JSON.stringify(
            all.map((m) => ({
              ...m,
              default: m.id === DEFAULT_MODEL_ID,
              weightsHash: weightsHash(m),
              onDisk: onDisk(m) ?? null,
            })),
            null,
            2,
          ) + '\n',
        );
        return;
      }
      const rows = all.map((m) => [
        m.id + (m.id === DEFAULT_MODEL_ID ? ' (default)' : ''),
        m.format,
        `${m.input.size}px`,
        m.feature.dim,
        imagenet(m),
        modelSize(m),
        m.license.split(' ')[0],
        m.goodFor ?? (m.custom ? 'your own model' : '-'),
        // Entries whose download was never run here say so: their size and sha256 come from the publisher.
        (onDisk(m) ? 'yes' : 'no') + (m.unverified ? ' (not verified offline)' : ''),
      ]);
      process.stdout.write(
        table(rows, ['id', 'format', 'input', 'feature dim', 'ImageNet', 'size', 'licence', 'good for', 'on disk']) +
          '\n',
      );
    });

  models
    .command('info')
    .argument('<id>', 'model id (see `tl models list`)')
    .description('show one backbone: files, preprocessing, feature tensor, licence')
    .option(
      '--layers',
      'list the blocks one can cut at (what --freeze N / --train-last K count), then every layer/node, with activation shape and parameter count',
    )
    .option('--json', 'print JSON')
    .addHelpText('after', '\nExamples:\n  tl models info mobilenet-v2\n  tl models info mobilenet-v1-0.75 --layers')
    .action(async (id: string, opts: { layers?: boolean; json?: boolean }) => {
      const [{ findModel }, { weightsHash }] = await Promise.all([
        import('../../backbone/registry.js'),
        import('../../backbone/load.js'),
      ]);
      const m = findModel(id);
      if (opts.layers) {
        const { describeLayers } = await import('../../backbone/layers.js');
        const layers = await describeLayers(m);
        const blocks = await describeBlocks(m);
        if (opts.json)
          return void process.stdout.write(JSON.stringify({ blocks: blocks.units ?? null, layers }, null, 2) + '\n');
        if (blocks.units) {
          process.stdout.write(
            `Blocks (--freeze N freezes rows 1..N and caches the activation after row N; --train-last K trains the last K rows):\n`,
          );
          process.stdout.write(blockTable(blocks.units) + '\n\n');
        } else
          process.stdout.write(
            `No block structure (${blocks.reason}); --freeze and --train-last are not available for this model.\n\n`,
          );
        process.stdout.write('Layers:\n');
        process.stdout.write(
          table(
            layers.map((l) => [l.index, l.name, l.type, l.outputShape, l.params]),
            ['#', 'name', 'type', 'output shape', 'params'],
          ) + '\n',
        );
        return;
      }
      if (opts.json)
        return void process.stdout.write(JSON.stringify({ ...m, weightsHash: weightsHash(m) }, null, 2) + '\n');
      const rows: [string, string][] = [
        ['id', m.id],
        ['title', m.title],
        ['format', m.format],
        ['input', preprocessing(m)],
        ['feature', `${m.feature.tensor}${poolNote(m.feature.pool)} → ${m.feature.dim}-d`],
        ...(m.detected ? ([['detected', m.detected]] as [string, string][]) : []),
        ...(m.unverified ? ([['not verified offline', m.unverified]] as [string, string][]) : []),
        [
          'original head',
          m.head.output
            ? `${m.head.output} (${m.head.activation}, ${m.head.synsets === 'darknet-synsets' ? 'darknet class order' : 'standard ImageNet order'})`
            : 'none (a feature extractor)',
        ],
        ['ImageNet', imagenet(m) + (m.imagenetSource ? ` (${m.imagenetSource})` : '')],
        ...(m.linearProbes?.results.length
          ? ([
              [
                'linear probes',
                `${m.linearProbes.results.map((r) => `${r.dataset} ${pct(r.top1)}`).join(', ')} (${m.linearProbes.source})`,
              ],
            ] as [string, string][])
          : []),
        ...(m.goodFor ? ([['good for', m.goodFor]] as [string, string][]) : []),
        ['parameters', known(m.params) ? m.params.toLocaleString('en') : '-'],
        ['licence', m.license],
        ['source', m.source],
        ['weights hash', weightsHash(m)],
        [
          'files',
          `${m.files.length} (${formatBytes(m.files.reduce((s, f) => s + f.size, 0))}), first ${m.files[0].url}`,
        ],
      ];
      process.stdout.write(table(rows) + '\n');
    });

  models
    .command('pull')
    .argument('<id>', 'model id')
    .description('make sure a backbone is on disk (models dir, cache, or download with sha256 check)')
    .addHelpText(
      'after',
      '\nExamples:\n  tl models pull mobilenet-v2\n  TL_MODELS_DIR=../shared/models tl models pull darknet-tiny',
    )
    .action(async (id: string) => {
      const [{ findModel }, { resolveModel }] = await Promise.all([
        import('../../backbone/registry.js'),
        import('../../backbone/resolve.js'),
      ]);
      const m = findModel(id);
      let last = 0;
      let progress = false;
      const r = await resolveModel(m, {
        verify: true,
        onProgress: (p) => {
          if (Date.now() - last > 500 || p.receivedBytes === p.totalBytes) {
            last = Date.now();
            progress = true;
            process.stderr.write(
              `\rdownloading ${p.file}: ${formatBytes(p.receivedBytes)} / ${formatBytes(p.totalBytes)}   `,
            );
          }
        },
      }).catch((err: unknown) => {
        // The error starts on its own line, not after the progress line's carriage return.
        if (progress) process.stderr.write('\n');
        throw err;
      });
      if (progress) process.stderr.write('\n');
      process.stdout.write(`${m.id}: ${m.files.length} files verified in ${r.dir} (${r.where})\n`);
    });

  models
    .command('add')
    .argument(
      '<model>',
      'an ImageNet classifier: .onnx file, https URL or TF.js layers model.json (feature tensor, input size and layout are read from it), or a JSON description (docs/backbones.md, "Bring your own backbone")',
    )
    .description('register your own ONNX or TF.js image model as a backbone')
    .option('--preset <name>', `its normalisation: ${presetHelp()}`)
    .option('--mean <r,g,b>', 'per-channel mean on [0,1] pixels (with --std, instead of --preset)', triple)
    .option('--std <r,g,b>', 'per-channel std on [0,1] pixels', triple)
    .option('--id <id>', 'model id (default: the file name without .onnx)')
    .option('--sha256 <hex>', 'sha256 of the file at the URL (required for a URL)')
    .option('--size <px>', 'input side, only when the graph does not fix it', (v: string) => Number.parseInt(v, 10))
    .option(
      '--pool <rule>',
      "a transformer's token output as one vector: cls (class token), mean (of the patch tokens), cls+mean (both, DINOv2's linear evaluation); default: image_embeds or pooler_output when the file has one, else cls+mean",
    )
    .option('--dry-run', 'show what was detected, register nothing')
    .option('--replace', 'replace a model already registered under this id (classifiers trained on it stop loading)')
    .addHelpText(
      'after',
      '\nExamples:\n  tl models add resnet50.onnx --preset imagenet-torch\n  tl models add https://example.org/m.onnx --sha256 HEX --preset inception --id my-net\n  tl models add my-model.json\n\n  where my-model.json holds:\n  {"id":"resnet18","format":"onnx","path":"./resnet18.onnx",\n   "input":{"size":224,"layout":"NCHW","mean":[0.485,0.456,0.406],"std":[0.229,0.224,0.225]},\n   "feature":{"tensor":"resnetv15_pool1_fwd","dim":512,"pool":"none"},\n   "head":{"output":"resnetv15_dense0_fwd","activation":"logits"}}',
    )
    .action(async (file: string, opts: AddOptions) => {
      if (/^https?:\/\//i.test(file) || /\.onnx$/i.test(file)) return addDetected(file, opts);
      const { isTfjsLayersModel } = await import('../../backbone/add-model.js');
      if (await isTfjsLayersModel(file)) return addDetected(file, opts);
      let json: unknown;
      try {
        json = JSON.parse(await readFile(file, 'utf8'));
      } catch (err) {
        throw new TlError(`cannot read ${file}: ${(err as Error).message}`);
      }
      const { registerModel } = await import('../../backbone/registry.js');
      // A relative "path" is relative to the description file, wherever tl runs from.
      const m = await registerModel(json as never, { replace: opts.replace, baseDir: dirname(resolve(file)) });
      process.stdout.write(
        `registered ${m.id} (${m.format}, ${m.files.length} file(s), feature ${m.feature.tensor} ${m.feature.dim}-d)\n`,
      );
    });

  models
    .command('remove')
    .argument('<id>', 'id of a model you registered')
    .description('unregister one of your own models')
    .addHelpText('after', '\nExamples:\n  tl models remove resnet18')
    .action(async (id: string) => {
      const { unregisterModel } = await import('../../backbone/registry.js');
      if (!(await unregisterModel(id))) throw new TlError(`no user-registered model "${id}"`);
      process.stdout.write(`removed ${id}\n`);
    });
}

/** ImageNet accuracy and what it measures: the model's own head (top-1), a linear probe, or zero-shot. */
function imagenet(m: ModelEntry): string {
  if (!known(m.imagenetTop1)) return '-';
  const metric = m.imagenetMetric ?? 'top-1';
  return `${pct(m.imagenetTop1)} ${metric}`;
}

/** The download size; a model registered by URL without a size says so. */
function modelSize(m: ModelEntry): string {
  const bytes = m.files.reduce((s, f) => s + f.size, 0);
  return bytes > 0 ? formatBytes(bytes) : '?';
}

/** How the feature tensor is pooled, in words (empty when it is used as it is). */
function poolNote(pool: string | undefined): string {
  const notes: Record<string, string> = {
    gap: ' (global average pooled)',
    cls: ' (class token)',
    mean: ' (mean of the patch tokens)',
    'cls+mean': ' (class token + mean of the patch tokens)',
  };
  return notes[pool ?? ''] ?? '';
}

interface AddOptions {
  preset?: string;
  mean?: [number, number, number];
  std?: [number, number, number];
  id?: string;
  sha256?: string;
  size?: number;
  pool?: string;
  dryRun?: boolean;
  replace?: boolean;
}

function triple(v: string): [number, number, number] {
  const xs = v.split(',').map(Number);
  if (xs.length !== 3 || xs.some((x) => !Number.isFinite(x)))
    throw new TlError(`expected three numbers like 0.5,0.5,0.5, got "${v}"`);
  return xs as [number, number, number];
}

function presetHelp(): string {
  return 'imagenet-torch (torchvision, timm, ONNX Model Zoo), imagenet-tf ([0,1], TF Hub), inception ([-1,1]: Inception, Keras MobileNet, EfficientNet-Lite), dinov2 (224 px, resize 256 + crop, ImageNet mean/std), clip (224 px, resize 224 + crop, CLIP mean/std)';
}

/** `tl models add model.onnx|URL`: detect the feature tensor, input and head from the graph, then register. */
async function addDetected(source: string, opts: AddOptions): Promise<void> {
  const { addModelFile } = await import('../../backbone/add-model.js');
  const r = await addModelFile({ source, ...opts });
  const d = r.description;
  const lines = [
    `input: ${d.input.layout} ${d.input.size}px${r.detected.input.size === undefined ? ' (from --size)' : ''}, batch ${r.detected.input.batch}`,
    `feature: ${d.feature.tensor}${poolNote(d.feature.pool)} -> ${d.feature.dim}-d`,
    r.detected.head
      ? `head: ${r.detected.head.output} (${r.detected.head.classes} classes, ${r.detected.head.activation})`
      : 'head: none (a feature extractor)',
    `how: ${r.detected.how}`,
  ];
  process.stdout.write(lines.join('\n') + '\n');
  process.stdout.write(
    r.model
      ? `registered ${r.model.id} (${r.model.format}, feature ${r.model.feature.dim}-d)\n`
      : `dry run: nothing registered (id would be ${d.id})\n`,
  );
}

/** The fine-tuning blocks of a model, or why it has none (e.g. an ONNX graph that is not a quantized CNN). */
async function describeBlocks(m: ModelEntry): Promise<{ units?: Unit[]; reason?: string }> {
  try {
    const { loadNetwork } = await import('../../finetune/network.js');
    return { units: (await loadNetwork(m)).units };
  } catch (err) {
    return { reason: err instanceof Error ? err.message.split('\n')[0] : String(err) };
  }
}
