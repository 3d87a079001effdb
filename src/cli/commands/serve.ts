import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import { existsSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { env } from '../../util/env.js';
import { nonNegativeInt, positiveInt, positiveNumber } from '../options.js';
import { TlError } from '../../util/errors.js';

interface ServeCliOpts {
  port: number;
  host: string;
  projects?: string;
  bundle?: string[];
  name?: string[];
  maxUploadMb: number;
  batchSize: number;
  batchWaitMs: number;
  verbose?: boolean;
  queue?: string;
}

function port(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535)
    throw new InvalidArgumentError(`--port must be an integer from 0 to 65535, got "${v}"`);
  return n;
}

/** Where projects live when --projects is not given: beside the feature store in the user cache. */
export function defaultProjectsDir(): string {
  return join(env.cacheDir, 'projects');
}

export function registerServeCommand(program: Command): void {
  program
    .command('serve')
    .description('start the local web app and the HTTP prediction API (one server, 127.0.0.1 by default)')
    .option('-p, --port <n>', 'port to listen on (0 picks a free one)', port, 8765)
    .option(
      '--host <addr>',
      'address to bind; 0.0.0.0 exposes it to the network (there is no authentication)',
      '127.0.0.1',
    )
    .option(
      '--projects <dir>',
      `where the web app keeps projects (default: ${join('<cache>', 'projects')}, the cache being TL_CACHE_DIR or ~/.cache/tl)`,
    )
    .option('--bundle <dirs...>', 'trained classifier bundles to serve at /v1/models/<name>/predict')
    .option('--name <names...>', 'names for the --bundle folders, in the same order (default: each folder name)')
    .option('--max-upload-mb <mb>', 'largest image accepted, in MiB', positiveNumber('--max-upload-mb'), 20)
    .option('--batch-size <n>', 'most images per backbone forward pass', positiveInt('--batch-size'), 16)
    .option(
      '--batch-wait-ms <ms>',
      'how long a lone request waits for others to batch with',
      nonNegativeInt('--batch-wait-ms'),
      4,
    )
    .option(
      '--queue <url>',
      'run training jobs on `tl worker`s through this Redis queue (default TL_QUEUE); workers must see the projects folder at the same path',
    )
    .option('-v, --verbose', 'log every request to stderr')
    .addHelpText(
      'after',
      [
        '',
        'Examples:',
        '  tl serve                                   # web app at http://127.0.0.1:8765/',
        '  tl serve --bundle cats-classifier --port 9000',
        '  tl serve --bundle a-classifier b-classifier --name cats dogs --projects ~/tl-projects',
        '  tl serve --projects /shared/tl-projects --queue redis://10.0.0.5:6379   # training on `tl worker`s',
        '  curl -s --data-binary @photo.jpg -H "Content-Type: image/jpeg" "http://127.0.0.1:8765/v1/models/cats-classifier/predict?top=2"',
        '',
        'API: GET /v1/health, GET /v1/models, POST /v1/models/<name>/predict, /v1/projects/... (see /v1/openapi.json)',
      ].join('\n'),
    )
    .action(async (opts: ServeCliOpts) => {
      const dirs = opts.bundle ?? [];
      if (opts.name && opts.name.length !== dirs.length)
        throw new TlError(
          `${opts.name.length} --name value(s) for ${dirs.length} --bundle folder(s)`,
          'Give one name per bundle, in the same order.',
        );
      for (const d of dirs) {
        if (!existsSync(d) || !statSync(d).isDirectory())
          throw new TlError(`bundle folder not found: ${d}`, 'Train one with `tl train DATA --out DIR`.');
      }
      const { modelNameFor, startServer } = await import('../../serve/server.js');
      const bundles = dirs.map((dir, i) => ({ name: opts.name?.[i] ?? modelNameFor(dir), dir: resolve(dir) }));
      const projectsDir = resolve(opts.projects ?? defaultProjectsDir());
      const log = (line: string) => process.stderr.write(`${line}\n`);
      if (opts.queue) env.queue = opts.queue;
      const queueUrl = env.queue;
      const server = await startServer({
        host: opts.host,
        port: opts.port,
        projectsDir,
        bundles,
        maxImageBytes: Math.round(opts.maxUploadMb * 1024 * 1024),
        batch: { maxBatch: opts.batchSize, maxWaitMs: opts.batchWaitMs },
        log,
        verbose: opts.verbose,
        queue: queueUrl ? { url: queueUrl } : undefined,
      });
      process.stdout.write(`tl serve: listening on ${server.url}\n`);
      process.stdout.write(
        `  web app:  ${server.url}/\n  API:      ${server.url}/v1/health  (${server.url}/v1/openapi.json)\n  projects: ${projectsDir}\n`,
      );
      for (const b of bundles) process.stdout.write(`  model:    ${b.name}  ←  ${b.dir}\n`);
      if (server.queue) {
        const { displayUrl } = await import('../../queue/connection.js');
        const workers = await server.queue.workerCount();
        process.stdout.write(
          `  training: on the queue ${displayUrl(queueUrl!)} (Redis ${server.queue.redisVersion}), ${workers} worker${workers === 1 ? '' : 's'} connected${workers ? '' : '; jobs wait until a `tl worker --queue` starts'}\n`,
        );
      }
      if (!['127.0.0.1', 'localhost', '::1'].includes(opts.host))
        process.stderr.write(
          `warning: listening on ${opts.host} without authentication: anyone who can reach this port can use and change your projects\n`,
        );
      await new Promise<void>((done) => {
        const stop = (signal: string) => {
          process.stderr.write(
            `\n${signal}: shutting down (${server.queue ? 'training jobs go on on their workers' : 'cancelling running training jobs'})...\n`,
          );
          process.off('SIGINT', onInt);
          process.off('SIGTERM', onTerm);
          server.close().then(done, (err) => {
            log(`error while closing: ${(err as Error).message}`);
            done();
          });
        };
        const onInt = () => stop('SIGINT');
        const onTerm = () => stop('SIGTERM');
        process.on('SIGINT', onInt);
        process.on('SIGTERM', onTerm);
      });
    });
}
