#!/usr/bin/env node
// `tl`: a thin command line over the library. Every command lives in src/cli/commands/.
import { Command, CommanderError } from 'commander';
import { TlError } from '../util/errors.js';
import { env } from '../util/env.js';
import { registerModelsCommands } from './commands/models.js';
import { registerClassifyCommand } from './commands/classify.js';
import { registerEmbedCommand } from './commands/embed.js';
import { registerCacheCommands } from './commands/cache.js';
import { registerTrainCommands } from './commands/train.js';
import { registerEvalCommand } from './commands/eval.js';
import { registerPredictCommand } from './commands/predict.js';
import { registerPlanCommand } from './commands/plan.js';
import { registerServeCommand } from './commands/serve.js';
import { registerExportCommand } from './commands/export.js';
import { registerWorkerCommand } from './commands/worker.js';
import { VERSION } from '../util/version.js';

const program = new Command('tl')
  .description(
    'Transfer learning for image classification: pretrained ImageNet backbones, a disk feature cache, a new softmax.',
  )
  .version(VERSION)
  .showHelpAfterError('(run with --help for usage)')
  .addHelpText(
    'after',
    '\nExamples:\n  tl demo                                  # ants vs bees on MobileNetV2, end to end\n  tl train my-photos/ --out cats-classifier\n  tl predict cats-classifier new-photos/\n  tl plan my-photos/                       # which rung (head, partial, full) and what it costs\n  tl serve --bundle cats-classifier        # web app + HTTP API on 127.0.0.1:8765\n  tl export cats-classifier --format onnx --out cats-onnx',
  )
  .exitOverride();

registerModelsCommands(program);
registerClassifyCommand(program);
registerEmbedCommand(program);
registerCacheCommands(program);
registerTrainCommands(program);
registerEvalCommand(program);
registerPredictCommand(program);
registerPlanCommand(program);
registerServeCommand(program);
registerExportCommand(program);
registerWorkerCommand(program);

function fail(err: unknown): never {
  if (err instanceof CommanderError) process.exit(err.exitCode);
  if (err instanceof TlError) {
    process.stderr.write(`error: ${err.message}\n`);
    if (err.hint) process.stderr.write(`hint: ${err.hint}\n`);
  } else {
    const e = err as Error;
    process.stderr.write(`error: ${e?.message ?? String(err)}\n`);
    // Unexpected errors keep their stack for bug reports, but only on request.
    if (env.debug) process.stderr.write(`${e?.stack}\n`);
    else process.stderr.write('hint: set TL_DEBUG=1 to see where it happened, and please report it.\n');
  }
  process.exit(1);
}

process.on('unhandledRejection', fail);
try {
  await program.parseAsync(process.argv);
} catch (err) {
  fail(err);
}
