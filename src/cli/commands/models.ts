import type { Command } from 'commander';
import { readFile } from 'node:fs/promises';
import type { Unit } from '../../finetune/network.js';
import { DEFAULT_MODEL_ID } from '../../backbone/zoo.js';
import { table, formatBytes, pct } from '../output.js';
import { blockTable } from './common.js';
import { TlError } from '../../util/errors.js';
import type { ModelEntry } from '../../backbone/types.js';

function preprocessing(m: ModelEntry): string {
  const i = m.input;
  const norm = i.std.every((s) => s === 0.5) && i.mean.every((v) => v === 0.5) ? '[-1,1]' : i.std.every((s) => s === 1) && i.mean.every((v) => v === 0) ? '[0,1]' : `mean ${i.mean.join('/')} std ${i.std.join('/')}`;
  const crop = i.cropFraction && i.cropFraction !== 1 ? `resize ${Math.round(i.size / i.cropFraction)} + centre crop ${i.size}` : i.resize === 'cover' ? `resize shorter side + centre crop ${i.size}` : `stretch to ${i.size}`;
  return `${i.layout} RGB ${norm}, ${crop}`;
}

export function registerModelsCommands(program: Command): void {
  const models = program
    .command('models')
    .description('the backbone zoo: list, inspect, download, register your own')
    .addHelpText('after', '\nExamples:\n  tl models list\n  tl models info mobilenet-v2 --layers\n  tl models pull darknet-tiny\n  tl models add my-model.json');

  models
    .command('list')
    .description('list available backbones')
    .option('--json', 'print JSON (an array of model objects)')
    .addHelpText('after', '\nExamples:\n  tl models list\n  tl models list --json')
    .action(async (opts: { json?: boolean }) => {
      // The registry (zod) and the runtimes load per command, not when `tl` starts.
      const [{ listModels }, { weightsHash }] = await Promise.all([import('../../backbone/registry.js'), import('../../backbone/load.js')]);
      const all = listModels();
      if (opts.json) {
        process.stdout.write(JSON.stringify(all.map((m) => ({ ...m, default: m.id === DEFAULT_MODEL_ID, weightsHash: weightsHash(m) })), null, 2) + '\n');
        return;
      }
      const rows = all.map((m) => [
        m.id + (m.id === DEFAULT_MODEL_ID ? ' (default)' : ''),
        m.format,
        `${m.input.size}px`,
        m.feature.dim,
        Number.isNaN(m.imagenetTop1) ? '-' : pct(m.imagenetTop1),
        formatBytes(m.files.reduce((s, f) => s + f.size, 0)),
        m.license.split(' ')[0],
      ]);
      process.stdout.write(table(rows, ['id', 'format', 'input', 'feature dim', 'ImageNet top-1', 'size', 'licence']) + '\n');
    });

  models
    .command('info')
    .argument('<id>', 'model id (see `tl models list`)')
    .description('show one backbone: files, preprocessing, feature tensor, licence')
    .option('--layers', 'list the blocks one can cut at (what --freeze N / --train-last K count), then every layer/node, with activation shape and parameter count')
    .option('--json', 'print JSON')
    .addHelpText('after', '\nExamples:\n  tl models info mobilenet-v2\n  tl models info mobilenet-v1-0.75 --layers')
    .action(async (id: string, opts: { layers?: boolean; json?: boolean }) => {
      const [{ findModel }, { weightsHash }] = await Promise.all([import('../../backbone/registry.js'), import('../../backbone/load.js')]);
      const m = findModel(id);
      if (opts.layers) {
        const { describeLayers } = await import('../../backbone/layers.js');
        const layers = await describeLayers(m);
        const blocks = await describeBlocks(m);
        if (opts.json) return void process.stdout.write(JSON.stringify({ blocks: blocks.units ?? null, layers }, null, 2) + '\n');
        if (blocks.units) {
          process.stdout.write(`Blocks (--freeze N freezes rows 1..N and caches the activation after row N; --train-last K trains the last K rows):\n`);
          process.stdout.write(blockTable(blocks.units) + '\n\n');
        } else process.stdout.write(`No block structure (${blocks.reason}); --freeze and --train-last are not available for this model.\n\n`);
        process.stdout.write('Layers:\n');
        process.stdout.write(table(layers.map((l) => [l.index, l.name, l.type, l.outputShape, l.params]), ['#', 'name', 'type', 'output shape', 'params']) + '\n');
        return;
      }
      if (opts.json) return void process.stdout.write(JSON.stringify({ ...m, weightsHash: weightsHash(m) }, null, 2) + '\n');
      const rows: [string, string][] = [
        ['id', m.id],
        ['title', m.title],
        ['format', m.format],
        ['input', preprocessing(m)],
        ['feature', `${m.feature.tensor} ${m.feature.pool === 'gap' ? '(global average pooled) ' : ''}→ ${m.feature.dim}-d`],
        ['original head', `${m.head.output} (${m.head.activation}, ${m.head.synsets === 'darknet-synsets' ? 'darknet class order' : 'standard ImageNet order'})`],
        ['ImageNet top-1', Number.isNaN(m.imagenetTop1) ? '-' : pct(m.imagenetTop1)],
        ['parameters', Number.isNaN(m.params) ? '-' : m.params.toLocaleString('en')],
        ['licence', m.license],
        ['source', m.source],
        ['weights hash', weightsHash(m)],
        ['files', `${m.files.length} (${formatBytes(m.files.reduce((s, f) => s + f.size, 0))}), first ${m.files[0].url}`],
      ];
      process.stdout.write(table(rows) + '\n');
    });

  models
    .command('pull')
    .argument('<id>', 'model id')
    .description('make sure a backbone is on disk (models dir, cache, or download with sha256 check)')
    .addHelpText('after', '\nExamples:\n  tl models pull mobilenet-v2\n  TL_MODELS_DIR=../shared/models tl models pull darknet-tiny')
    .action(async (id: string) => {
      const [{ findModel }, { resolveModel }] = await Promise.all([import('../../backbone/registry.js'), import('../../backbone/resolve.js')]);
      const m = findModel(id);
      let last = 0;
      const r = await resolveModel(m, {
        verify: true,
        onProgress: (p) => {
          if (Date.now() - last > 500 || p.receivedBytes === p.totalBytes) {
            last = Date.now();
            process.stderr.write(`\rdownloading ${p.file}: ${formatBytes(p.receivedBytes)} / ${formatBytes(p.totalBytes)}   `);
          }
        },
      });
      if (r.where === 'download') process.stderr.write('\n');
      process.stdout.write(`${m.id}: ${m.files.length} files verified in ${r.dir} (${r.where})\n`);
    });

  models
    .command('add')
    .argument('<file>', 'JSON description of the model (see README: "Bring your own backbone")')
    .description('register your own ONNX or TF.js image model as a backbone')
    .addHelpText(
      'after',
      '\nExamples:\n  tl models add resnet18.json\n\n  where resnet18.json holds:\n  {"id":"resnet18","format":"onnx","path":"./resnet18.onnx",\n   "input":{"size":224,"layout":"NCHW","mean":[0.485,0.456,0.406],"std":[0.229,0.224,0.225]},\n   "feature":{"tensor":"resnetv15_pool1_fwd","dim":512,"pool":"none"},\n   "head":{"output":"resnetv15_dense0_fwd","activation":"logits"}}',
    )
    .action(async (file: string) => {
      let json: unknown;
      try {
        json = JSON.parse(await readFile(file, 'utf8'));
      } catch (err) {
        throw new TlError(`cannot read ${file}: ${(err as Error).message}`);
      }
      const { registerModel } = await import('../../backbone/registry.js');
      const m = await registerModel(json as never);
      process.stdout.write(`registered ${m.id} (${m.format}, ${m.files.length} file(s), feature ${m.feature.tensor} ${m.feature.dim}-d)\n`);
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

/** The fine-tuning blocks of a model, or why it has none (e.g. an ONNX graph that is not a quantized CNN). */
async function describeBlocks(m: ModelEntry): Promise<{ units?: Unit[]; reason?: string }> {
  try {
    const { loadNetwork } = await import('../../finetune/network.js');
    return { units: (await loadNetwork(m)).units };
  } catch (err) {
    return { reason: err instanceof Error ? err.message.split('\n')[0] : String(err) };
  }
}
