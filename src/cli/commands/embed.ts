import type { Command } from 'commander';
import { expandInputs, type SkippedFile } from '../../data/files.js';
import { choice, positiveInt } from '../options.js';
import { DEVICES, type DeviceRequest } from '../../engine/webgpu/device-request.js';
import { env } from '../../util/env.js';
import { progressReporter } from '../progress.js';
import { addBackboneOptions, openFeatureBackbone, warnSkipped, type BackboneOpts } from './common.js';
import { TlError } from '../../util/errors.js';
import { isFusedBackbone } from '../../backbone/fused.js';
import { openQueue } from './queue-open.js';

type EmbedCliOpts = BackboneOpts & {
  batch: number;
  json?: boolean;
  device?: DeviceRequest;
  queue?: string;
  shipImages?: boolean;
  queueWait: number;
};

export function registerEmbedCommand(program: Command): void {
  addBackboneOptions(
    program
      .command('embed')
      .argument('<data...>', 'image folders or files (any layout; all images below are embedded)')
      .description('compute backbone features for every image once and keep them in the disk cache'),
  )
    .option('-b, --batch <n>', 'images per forward pass', positiveInt('--batch'), 32)
    .option('--json', 'print a JSON summary')
    .option(
      '--device <device>',
      'TF.js models: cpu, webgpu (a GPU, or software rendering when none) or auto (a GPU if present); default TL_DEVICE or cpu',
      choice('--device', DEVICES),
    )
    .option(
      '--queue <url>',
      'run the backbone on `tl worker`s behind this Redis queue (redis://HOST:PORT; default TL_QUEUE); the cache stays here',
    )
    .option('--ship-images', "with --queue: send the images' bytes in the jobs (workers that do not see these paths)")
    .option(
      '--queue-wait <seconds>',
      'with --queue: give up (keeping what is stored) when Redis has not answered for this long',
      positiveInt('--queue-wait'),
      30,
    )
    .addHelpText(
      'after',
      '\nExamples:\n  tl embed my-photos/\n  tl embed data/train data/val --model mobilenet-v1-0.75\n  tl embed /shared/photos --queue redis://10.0.0.5:6379',
    )
    .action(async (data: string[], opts: EmbedCliOpts) => {
      if (opts.device) env.device = opts.device;
      if (opts.queue) env.queue = opts.queue;
      if (opts.shipImages && !env.queue)
        throw new TlError('--ship-images sends images to queue workers', 'Give --queue redis://HOST:PORT too.');
      // Before any work: a queue that does not answer is one line, and nothing is embedded here instead.
      const remote = env.queue
        ? await openQueue(env.queue, { shipImages: !!opts.shipImages, lostAfterMs: opts.queueWait * 1000 })
        : undefined;
      const skipped: SkippedFile[] = [];
      const paths = expandInputs(data, skipped);
      skipped.forEach(warnSkipped);
      if (paths.length === 0)
        throw new TlError(
          `no images found in ${data.join(', ')}`,
          'Supported: jpg, jpeg, png, webp, tiff, avif, heic.',
        );
      const [{ extractFeatures }, { FeatureStore }] = await Promise.all([
        import('../../features/extract.js'),
        import('../../features/store.js'),
      ]);
      const backbone = await openFeatureBackbone(opts);
      // The backbone says where it runs when a device other than the CPU was asked for (and why not, if it cannot).
      if (backbone.device) process.stderr.write(`device: ${backbone.device}\n`);
      const store = FeatureStore.open();
      // A fused model embeds each part in turn: the bar counts vectors (images x parts).
      const vectorsPerImage = isFusedBackbone(backbone) ? backbone.parts.length : 1;
      const bar = progressReporter(`embedding (${backbone.id})`, paths.length * vectorsPerImage);
      const ac = new AbortController();
      const onSigint = () => ac.abort();
      process.once('SIGINT', onSigint);
      const r = await extractFeatures(backbone, paths, {
        store,
        remote,
        batchSize: opts.batch,
        signal: ac.signal,
        onSkip: warnSkipped,
        onProgress: (p) => bar.update(p.done, `(${p.cached} cached)`),
      }).finally(() => remote?.close());
      bar.stop();
      process.off('SIGINT', onSigint);
      await backbone.dispose();
      const summary = {
        model: backbone.id,
        images: paths.length,
        embedded: r.embedded,
        cached: r.cached,
        skipped: r.skipped.length + skipped.length,
        seconds: r.elapsedMs / 1000,
        imagesPerSecond: r.embedded / Math.max(0.001, r.elapsedMs / 1000),
        store: store.path,
        ...(remote && { queue: remote.url, reusedJobs: remote.reused, retriedJobs: remote.retried }),
      };
      store.close();
      if (opts.json) process.stdout.write(JSON.stringify(summary, null, 2) + '\n');
      else
        process.stdout.write(
          `${summary.images} images: ${summary.embedded} embedded, ${summary.cached} already cached, ${summary.skipped} skipped ` +
            `in ${summary.seconds.toFixed(1)} s` +
            (summary.embedded ? ` (${summary.imagesPerSecond.toFixed(1)} img/s)` : '') +
            `\nfeature store: ${summary.store}\n`,
        );
      if (ac.signal.aborted) process.exitCode = 130;
    });
}
