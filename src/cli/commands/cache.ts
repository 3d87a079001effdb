import type { Command } from 'commander';
import { table, formatBytes } from '../output.js';
import { positiveNumber } from '../options.js';
import { featureStorePath } from '../../util/env.js';
import { TlError } from '../../util/errors.js';

export function registerCacheCommands(program: Command): void {
  const cache = program
    .command('cache')
    .description('the on-disk feature cache (TL_CACHE_DIR/features.sqlite)')
    .addHelpText(
      'after',
      '\nExamples:\n  tl cache stats\n  tl cache prune --older-than 30\n  tl cache check\n  tl cache clear',
    );

  cache
    .command('stats')
    .description('entries and size per backbone')
    .option('--json', 'print JSON')
    .addHelpText('after', '\nExamples:\n  tl cache stats\n  TL_CACHE_DIR=/data/tl-cache tl cache stats --json')
    .action(async (opts: { json?: boolean }) => {
      // SQLite and the model registry load per command, not when `tl` starts.
      const { FeatureStore } = await import('../../features/store.js');
      const store = FeatureStore.open();
      const s = store.stats();
      store.close();
      if (opts.json) return void process.stdout.write(JSON.stringify(s, null, 2) + '\n');
      const access = s.access === 'read-write' ? '' : `, ${s.access}: ${s.problem}`;
      process.stdout.write(`feature store: ${s.path} (${formatBytes(s.bytesOnDisk)} on disk${access})\n`);
      process.stdout.write(
        table(
          s.models.map((m) => [
            m.backboneId,
            m.key.slice(0, 12),
            m.dim,
            m.count,
            formatBytes(m.bytes),
            m.lastUsed ? new Date(m.lastUsed).toISOString().slice(0, 19) : '-',
          ]),
          ['backbone', 'key', 'dim', 'images', 'size', 'last used'],
        ) + `\ntotal: ${s.total} feature vectors\n`,
      );
    });

  cache
    .command('prune')
    .description('drop features of backbones that no longer exist or changed, and (optionally) unused ones')
    .option('--older-than <days>', 'also drop features not used for this many days', positiveNumber('--older-than'))
    .addHelpText('after', '\nExamples:\n  tl cache prune\n  tl cache prune --older-than 30')
    .action(async (opts: { olderThan?: number }) => {
      const [{ FeatureStore, modelKeyFor }, { listModels }, { weightsHash }] = await Promise.all([
        import('../../features/store.js'),
        import('../../backbone/registry.js'),
        import('../../backbone/load.js'),
      ]);
      const keep = new Set(
        listModels().map(
          (m) =>
            modelKeyFor({ id: m.id, weightsHash: weightsHash(m), input: m.input, featureDim: m.feature.dim, entry: m })
              .key,
        ),
      );
      const store = FeatureStore.open();
      const n = store.prune({
        keepKeys: keep,
        olderThanMs: opts.olderThan !== undefined ? opts.olderThan * 86_400_000 : undefined,
      });
      const after = store.stats();
      store.close();
      process.stdout.write(`pruned ${n} feature vectors; ${after.total} left (${formatBytes(after.bytesOnDisk)})\n`);
    });

  cache
    .command('clear')
    .description('delete every cached feature vector (a damaged cache file is deleted)')
    .addHelpText('after', '\nExamples:\n  tl cache clear')
    .action(async () => {
      const { clearFeatureStore } = await import('../../features/store-maintenance.js');
      const path = featureStorePath();
      const r = clearFeatureStore(path);
      if (r.removedBytes !== undefined)
        process.stdout.write(
          `deleted the feature cache ${path} (${formatBytes(r.removedBytes)}; it could not be emptied: ${r.reason})\n`,
        );
      else process.stdout.write(`cleared ${r.cleared} feature vectors\n`);
      noteQuarantined(r.quarantined);
    });

  cache
    .command('check')
    .description('check that the cache file is sound (SQLite integrity check); --repair moves a damaged one aside')
    .option('--quick', 'the faster, less thorough check (quick_check)')
    .option('--repair', 'move a damaged cache aside (kept as features.sqlite.corrupt-<time>) so a new one is built')
    .addHelpText('after', '\nExamples:\n  tl cache check\n  tl cache check --repair')
    .action(async (opts: { quick?: boolean; repair?: boolean }) => {
      const { checkFeatureStore, repairFeatureStore } = await import('../../features/store-maintenance.js');
      const c = checkFeatureStore(featureStorePath(), { quick: opts.quick });
      if (c.ok) {
        const what = c.exists
          ? `sound (${c.vectors} feature vectors, ${formatBytes(c.bytesOnDisk)})`
          : 'not created yet';
        process.stdout.write(`feature cache ${c.path}: ${what}\n`);
        return noteQuarantined(c.quarantined);
      }
      const found = c.problems.slice(0, 3).join('; ');
      if (!opts.repair)
        throw new TlError(
          `the feature cache ${c.path} is damaged: ${found}`,
          'Run `tl cache check --repair` to move it aside and start a new one, or `tl cache clear` to delete it.',
        );
      const aside = repairFeatureStore(c.path);
      process.stdout.write(
        `the feature cache ${c.path} was damaged (${found}): moved it to ${aside}; the next command builds a new one\n`,
      );
    });
}

/** Damaged caches moved aside earlier are the user's to delete: say where they are. */
function noteQuarantined(paths: string[]): void {
  if (paths.length)
    process.stdout.write(
      `damaged caches moved aside earlier (delete them when no longer needed):\n${paths.map((p) => `  ${p}\n`).join('')}`,
    );
}
