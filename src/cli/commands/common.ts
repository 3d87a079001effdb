// Pieces several commands share: backbone options, skip warnings.
import type { Command } from 'commander';
import { DEFAULT_MODEL_ID } from '../../backbone/zoo.js';
import type { Backbone, PretrainedBackbone } from '../../backbone/types.js';
import type { SkippedFile } from '../../data/files.js';
import type { Unit } from '../../finetune/network.js';
import { table, formatBytes } from '../output.js';

export interface BackboneOpts {
  model: string;
  modelPath?: string;
}

export function addBackboneOptions(cmd: Command): Command {
  return cmd
    .option(
      '-m, --model <id>',
      'backbone id (see `tl models list`); a+b fuses the features of several',
      DEFAULT_MODEL_ID,
    )
    .option('--model-path <dir>', "folder holding the backbone's files (skips the models dir, cache and download)");
}

/** A feature extractor: one backbone or a fused `a+b` (embedding, not ImageNet classification). */
export async function openFeatureBackbone(opts: BackboneOpts): Promise<Backbone> {
  const { loadFeatureBackbone } = await import('../../backbone/load.js');
  return loadFeatureBackbone(opts.model, { path: opts.modelPath });
}

export async function openBackbone(opts: BackboneOpts): Promise<PretrainedBackbone> {
  const { loadBackbone } = await import('../../backbone/load.js');
  return loadBackbone(opts.model, { path: opts.modelPath });
}

export function warnSkipped(s: SkippedFile): void {
  process.stderr.write(`warning: skipped ${printableName(s.path)}: ${s.reason}\n`);
}

/** A file name with a newline or other control character is printed JSON-quoted, so each message stays one line. */
export function printableName(path: string): string {
  // eslint-disable-next-line no-control-regex
  return /[\u0000-\u001f\u007f]/.test(path) ? JSON.stringify(path) : path;
}

/** The blocks `--freeze N` / `--train-last K` count: cut tensor, activation shape, parameters, float16 cache per image. */
export function blockTable(units: Unit[]): string {
  return table(
    units.map((u) => [
      u.index + 1,
      u.label,
      u.cut,
      u.shape.join('x'),
      u.params.toLocaleString('en'),
      formatBytes(u.shape[0] * u.shape[1] * u.shape[2] * 2),
    ]),
    ['N', 'block', 'cut after it', 'activation HxWxC', 'params', 'cache/image (f16)'],
  );
}
