import type { Command } from 'commander';
import { positiveInt } from '../options.js';
import { env } from '../../util/env.js';
import { TlError } from '../../util/errors.js';
import { listenForStop } from '../signals.js';

interface WorkerCliOpts {
  queue?: string;
  batch: number;
  concurrency: number;
  lockMs: number;
}

export function registerWorkerCommand(program: Command): void {
  program
    .command('worker')
    .description(
      "take extraction jobs (`tl embed --queue`) and training jobs (`tl serve --queue`) from a Redis queue until stopped; workers must see the same image paths unless the coordinator ships the bytes, and the server's projects folder at the same path to train",
    )
    .option('--queue <url>', 'the queue: redis://HOST:PORT (default TL_QUEUE)')
    .option('-b, --batch <n>', 'images per forward pass', positiveInt('--batch'), 32)
    .option('--concurrency <n>', 'jobs in hand at once', positiveInt('--concurrency'), 1)
    .option(
      '--lock-ms <ms>',
      'a job is handed to another worker when this one has not renewed its lock for this long (it died)',
      positiveInt('--lock-ms'),
      30_000,
    )
    .addHelpText(
      'after',
      "\nExamples:\n  tl worker --queue redis://10.0.0.5:6379\n  TL_QUEUE=redis://queue:6379 TL_MODELS_DIR=/models tl worker\n\nSIGTERM or Ctrl-C finishes the job in hand, then exits; a killed worker's job is retried by another.",
    )
    .action(async (opts: WorkerCliOpts) => {
      if (opts.queue) env.queue = opts.queue;
      const url = env.queue;
      if (!url) throw new TlError('tl worker needs a queue', 'Give --queue redis://HOST:PORT (or set TL_QUEUE).');
      const [{ probeRedis, displayUrl }, { EmbedWorker }, { TrainWorker }, { runTrainChild }] = await Promise.all([
        import('../../queue/connection.js'),
        import('../../queue/worker.js'),
        import('../../queue/train-worker.js'),
        import('../../serve/train-process.js'),
      ]);
      const { version } = await probeRedis(url);
      const say = (line: string) => process.stderr.write(`worker: ${line}\n`);
      const worker = new EmbedWorker({
        url,
        batchSize: opts.batch,
        concurrency: opts.concurrency,
        lockDurationMs: opts.lockMs,
        log: say,
      });
      // Training jobs run in the training child process `tl serve` itself uses (serve/train-process.ts).
      const trainer = new TrainWorker({
        url,
        lockDurationMs: opts.lockMs,
        log: say,
        run: (data, report, signal) =>
          runTrainChild(data, report, signal, (line) => say(`training ${data.project}: ${line}`)),
      });
      await Promise.all([worker.start(), trainer.start()]);
      say(`${worker.name} takes jobs from ${displayUrl(url)} (Redis ${version}); SIGTERM finishes the job in hand`);
      // The first SIGTERM/SIGINT finishes the job in hand; a second one ends the process at once (cli/signals.ts).
      const stop = listenForStop();
      await new Promise<void>((resolve) => stop.signal.addEventListener('abort', () => resolve(), { once: true }));
      say('stopping after the job in hand');
      const [s] = await Promise.all([worker.stop(), trainer.stop()]);
      say(
        `stopped: ${s.images} images embedded in ${s.jobs} jobs, ${s.refused} refused; ${trainer.jobs} training jobs run`,
      );
    });
}
