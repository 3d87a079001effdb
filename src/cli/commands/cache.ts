import type { Command } from 'commander';
import { FeatureStore, modelKeyFor } from '../../features/store.js';
import { listModels } from '../../backbone/registry.js';
import { weightsHash } from '../../backbone/load.js';
import { table, formatBytes } from '../output.js';
import { positiveNumber } from '../options.js';

export function registerCacheCommands(program: Command): void {
  const cache = program
    .command('cache')
    .description('the on-disk feature cache (TL_CACHE_DIR/features.sqlite)')
    .addHelpText('after', '\nExamples:\n  tl cache stats\n  tl cache prune --older-than 30\n  tl cache clear');

  cache
    .command('stats')
    .description('entries and size per backbone')
    .option('--json', 'print JSON')
    .addHelpText('after', '\nExamples:\n  tl cache stats\n  TL_CACHE_DIR=/data/tl-cache tl cache stats --json')
    .action((opts: { json?: boolean }) => {
      const store = FeatureStore.open();
      const s = store.stats();
      store.close();
      if (opts.json) return void process.stdout.write(JSON.stringify(s, null, 2) + '\n');
      process.stdout.write(`feature store: ${s.path} (${formatBytes(s.bytesOnDisk)} on disk)\n`);
      process.stdout.write(
        table(
          s.models.map((m) => [m.backboneId, m.key.slice(0, 12), m.dim, m.count, formatBytes(m.bytes), m.lastUsed ? new Date(m.lastUsed).toISOString().slice(0, 19) : '-']),
          ['backbone', 'key', 'dim', 'images', 'size', 'last used'],
        ) + `\ntotal: ${s.total} feature vectors\n`,
      );
    });

  cache
    .command('prune')
    .description('drop features of backbones that no longer exist or changed, and (optionally) unused ones')
    .option('--older-than <days>', 'also drop features not used for this many days', positiveNumber('--older-than'))
    .addHelpText('after', '\nExamples:\n  tl cache prune\n  tl cache prune --older-than 30')
    .action((opts: { olderThan?: number }) => {
      const keep = new Set(
        listModels().map((m) => modelKeyFor({ id: m.id, weightsHash: weightsHash(m), input: m.input, featureDim: m.feature.dim, entry: m }).key),
      );
      const store = FeatureStore.open();
      const n = store.prune({ keepKeys: keep, olderThanMs: opts.olderThan !== undefined ? opts.olderThan * 86_400_000 : undefined });
      const after = store.stats();
      store.close();
      process.stdout.write(`pruned ${n} feature vectors; ${after.total} left (${formatBytes(after.bytesOnDisk)})\n`);
    });

  cache
    .command('clear')
    .description('delete every cached feature vector')
    .addHelpText('after', '\nExamples:\n  tl cache clear')
    .action(() => {
      const store = FeatureStore.open();
      const n = store.clear();
      store.close();
      process.stdout.write(`cleared ${n} feature vectors\n`);
    });
}
