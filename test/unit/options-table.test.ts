// Issue 23: one option table (src/options/train-options.ts) behind `tl train`'s flags, the library's TrainOptions (a
// type-level check in src/cli/options.ts fails tsc), the server's request schema, the web app's request type and the
// README's flags table. Each front end is compared with the table here; the strategy rule is tested once, for all.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Command } from 'commander';
import {
  API_OPTION_NAMES,
  DEFAULT_TIME_BUDGET,
  FULL_EPOCHS,
  MAX_EPOCHS,
  PARTIAL_EPOCHS,
  TRAIN_OPTIONS,
  optionRows,
} from '../../src/options/train-options.js';
import { normaliseStrategy } from '../../src/options/normalise.js';
import { parseTrainRequestBody, trainRequestSchema } from '../../src/options/train-schema.js';
import {
  FLAGS_END,
  FLAGS_START,
  currentFlagsTable,
  flagsTable,
  withFlagsTable,
} from '../../src/options/flags-markdown.js';
import { registerTrainCommands } from '../../src/cli/commands/train.js';
import { registerPlanCommand } from '../../src/cli/commands/plan.js';
import { tableParser } from '../../src/cli/options.js';
import { DEFAULT_TIME_BUDGET as PLAN_TIME_BUDGET, RUN_SHAPE } from '../../src/plan/plan.js';
import { DEFAULT_MODEL_ID } from '../../src/backbone/zoo.js';
import { DEVICES } from '../../src/engine/webgpu/device-request.js';

const root = resolve(import.meta.dirname, '../..');

function trainCommand(): Command {
  const program = new Command();
  registerTrainCommands(program);
  return program.commands.find((c) => c.name() === 'train')!;
}

/** Every flag of `tl train` before the table (names, short forms): they must all keep working. */
const FLAGS_BEFORE = [
  '-m, --model <id>',
  '--model-path <dir>',
  '-o, --out <dir>',
  '--val <fraction>',
  '--seed <n>',
  '--l2 <strength>',
  '--head <spec>',
  '--class-weights <mode>',
  '--epochs <n>',
  '-b, --batch <n>',
  '--json',
  '--strategy <rung>',
  '--freeze <n>',
  '--train-last <k>',
  '--reuse',
  '--replace <spec>',
  '--lr <rate>',
  '--tail-lr <rate>',
  '--weight-decay <w>',
  '--time-budget <seconds>',
  '--size <px>',
  '--finetune-batch <n>',
  '--device <device>',
  '--allow-outside',
  '--augment',
  '--no-augment',
  '--augment-copies <k>',
];

test("tl train's flags are the table's, the same as before, with the same defaults", () => {
  const cmd = trainCommand();
  const flags = cmd.options.map((o) => o.flags);
  const fromTable = optionRows().flatMap(({ row }) =>
    row.cli
      ? [
          `${row.cli.short ? `${row.cli.short}, ` : ''}${row.cli.flag}${row.cli.value ? ` ${row.cli.value}` : ''}`,
          ...(row.cli.negate ? [`--no-${row.cli.flag.slice(2)}`] : []),
        ]
      : [],
  );
  assert.deepEqual(flags, fromTable);
  assert.deepEqual([...flags].sort(), [...FLAGS_BEFORE].sort());
  const parsed = cmd.opts();
  cmd.parseOptions([]);
  const defaults = Object.fromEntries(cmd.options.map((o) => [o.attributeName(), o.defaultValue]));
  assert.deepEqual(
    { model: defaults.model, val: defaults.val, seed: defaults.seed, batch: defaults.batch },
    { model: DEFAULT_MODEL_ID, val: 0.2, seed: 0, batch: 32 },
  );
  assert.equal(defaults.strategy, 'auto');
  assert.equal(defaults.classWeights, 'auto');
  assert.equal(defaults.timeBudget, undefined, "a rung's own default stays the library's to apply");
  assert.ok(parsed);
  const help = cmd.helpInformation();
  assert.match(help, new RegExp(`--time-budget <seconds>[^]*default: ${DEFAULT_TIME_BUDGET}\\)`));
  assert.doesNotMatch(help, /default 900/, 'no hard-coded default in help text');
});

test("tl plan's shared flags come from the table too", () => {
  const program = new Command();
  registerPlanCommand(program);
  const plan = program.commands.find((c) => c.name() === 'plan')!;
  for (const name of ['val', 'seed', 'timeBudget', 'freeze', 'trainLast'] as const) {
    const o = plan.options.find((x) => x.long === TRAIN_OPTIONS[name].cli.flag);
    assert.ok(o, name);
  }
  assert.match(plan.helpInformation(), new RegExp(`default: ${DEFAULT_TIME_BUDGET}\\)`));
});

test('flag values are checked by the table type, and ranges are said as ranges', () => {
  const epochs = tableParser('epochs')!;
  assert.equal(epochs('12'), 12);
  assert.throws(
    () => epochs(String(MAX_EPOCHS + 1)),
    new RegExp(`^InvalidArgumentError: --epochs must be at most ${MAX_EPOCHS}, got "${MAX_EPOCHS + 1}"$`),
  );
  assert.throws(() => epochs('0'), /--epochs must be a positive integer, got "0"/);
  assert.throws(() => tableParser('val')!('1'), /--val must be a number between 0 and 1, got "1"/);
  assert.throws(() => tableParser('seed')!('-1'), /--seed must be a non-negative integer, got "-1"/);
  assert.throws(() => tableParser('device')!('tpu'), /--device must be one of cpu, webgpu, auto, got "tpu"/);
  assert.deepEqual(tableParser('replace')!('hidden:256,128'), [256, 128]);
  assert.throws(() => tableParser('replace')!('hidden:0'), /--replace must be "hidden:UNITS/);
  assert.deepEqual([...TRAIN_OPTIONS.device.type.values], [...DEVICES]);
});

test("the server's request schema is the table's API keys: every rung's options, unknown keys refused", () => {
  const schema = trainRequestSchema();
  assert.deepEqual(Object.keys(schema.shape), API_OPTION_NAMES);
  // Every library option the CLI has is accepted by the server, but the server's own file paths (a project's photos
  // are its own folder: no model folder, no CSV reaching outside it).
  const cliLibrary = optionRows()
    .filter((r) => r.row.cli && r.row.library)
    .map((r) => r.name);
  assert.deepEqual(
    cliLibrary.filter((n) => !(API_OPTION_NAMES as string[]).includes(n)),
    ['modelPath', 'allowOutside'],
  );
  for (const k of ['strategy', 'freeze', 'trainLast', 'replace', 'timeBudget', 'device', 'augment', 'epochs', 'lr'])
    assert.ok((API_OPTION_NAMES as string[]).includes(k), k);
  assert.deepEqual(
    parseTrainRequestBody({ strategy: 'partial', trainLast: 3, replace: [256], lr: 1e-4, augment: false, l2: null }),
    { strategy: 'partial', trainLast: 3, replace: [256], lr: 1e-4, augment: false },
  );
  assert.throws(
    () => parseTrainRequestBody({ epochs: 20_000 }),
    (e: Error) => {
      assert.equal(e.message, `epochs must be at most ${MAX_EPOCHS}, got 20000`);
      return true;
    },
  );
  assert.throws(
    () => parseTrainRequestBody({ seed: 1, colour: 'red', size2: 3 }),
    /^TlError: unknown options "colour", "size2"; known: model, /,
  );
  assert.throws(() => parseTrainRequestBody({ replace: [0] }), /replace must be an array of positive integers/);
  assert.throws(() => parseTrainRequestBody({ timeBudget: -5 }), /timeBudget must be a positive number, got -5/);
});

test('--freeze/--train-last/--replace/--augment-copies imply partial: one rule for CLI, server and library', () => {
  assert.equal(normaliseStrategy({ strategy: 'auto' as const, freeze: 3 }).strategy, 'partial');
  assert.equal(normaliseStrategy({ trainLast: 1 } as { strategy?: 'auto'; trainLast: number }).strategy, 'partial');
  assert.equal(normaliseStrategy({ strategy: 'auto' as const, augmentCopies: 2 }).strategy, 'partial');
  assert.equal(normaliseStrategy({ strategy: 'auto' as const, reuse: true }).strategy, 'partial');
  assert.equal(normaliseStrategy({ strategy: 'auto' as const, reuse: false }).strategy, 'auto');
  assert.equal(normaliseStrategy({ strategy: 'full' as const, epochs: 2 }).strategy, 'full');
  assert.equal(normaliseStrategy({}).strategy, undefined);
  assert.throws(
    () => normaliseStrategy({ strategy: 'head' as const, freeze: 2, replace: [8] }, 'flag'),
    /^TlError: --freeze, --replace apply to --strategy partial, not head$/,
  );
  assert.throws(
    () => normaliseStrategy({ strategy: 'full' as const, trainLast: 2 }),
    /trainLast applies to strategy partial, not full/,
  );
  assert.throws(
    () => normaliseStrategy({ reuse: true, replace: [8] }, 'flag'),
    /--reuse and --replace exclude each other/,
  );
});

test('the library applies the rule: trainClassifier refuses head + --freeze before reading anything', async () => {
  const { trainClassifier } = await import('../../src/training/train.js');
  await assert.rejects(
    trainClassifier('/nonexistent/data', { strategy: 'head', freeze: 2 } as never),
    /freeze applies to strategy partial, not head/,
  );
});

test("the library's defaults are the table's constants (plan, JSDoc)", () => {
  assert.equal(PLAN_TIME_BUDGET, DEFAULT_TIME_BUDGET);
  assert.equal(RUN_SHAPE.partialEpochs, PARTIAL_EPOCHS);
  assert.equal(RUN_SHAPE.fullEpochs, FULL_EPOCHS);
  const types = readFileSync(resolve(root, 'src/training/types.ts'), 'utf8');
  const stated = [...types.matchAll(/default (\d+)\b/g)].map((m) => Number(m[1]));
  assert.ok(stated.includes(DEFAULT_TIME_BUDGET), 'the time budget JSDoc says the default');
  assert.match(types, new RegExp(`default ${PARTIAL_EPOCHS} partial, ${FULL_EPOCHS} full`));
  assert.doesNotMatch(types, /default 600|5 full/);
});

test("the web app's train request type is the table's (web/src/api.ts, checked by tsc -p web)", () => {
  const api = readFileSync(resolve(root, 'web/src/api.ts'), 'utf8');
  assert.match(api, /import type \{ TrainRequestBody \} from '\.\.\/\.\.\/src\/options\/train-options\.js'/);
  assert.match(api, /train: \(project: string, options: TrainRequestBody\)/);
  const tsc = spawnSync(process.execPath, [resolve(root, 'node_modules/typescript/bin/tsc'), '-p', 'web', '--noEmit'], {
    cwd: root,
    encoding: 'utf8',
  });
  assert.equal(tsc.status, 0, tsc.stdout + tsc.stderr);
});

test("the README's flags table is the generated one (when README.md has the markers), one row per flag", () => {
  const table = flagsTable();
  const lines = table.split('\n');
  const cells = (l: string) => l.split(/(?<!\\)\|/).slice(1, -1);
  assert.equal(cells(lines[0]).length, 5);
  assert.match(lines[1], /^\| --- \| --- \| --- \| --- \| --- \|$/);
  const rows = lines.slice(2);
  assert.equal(rows.length, trainCommand().options.length, 'one row per flag of tl train');
  for (const r of rows) assert.equal(cells(r).length, 5, r);
  for (const f of FLAGS_BEFORE)
    assert.ok(
      rows.some((r) => r.startsWith(`| \`${f}\``)),
      f,
    );
  assert.ok(rows.some((r) => r.includes(`\`${DEFAULT_TIME_BUDGET}\``)));
  // The generator replaces only what is between the markers, and refuses a text without them.
  const text = `intro\n${FLAGS_START}\nold\n${FLAGS_END}\noutro\n`;
  assert.equal(withFlagsTable(text), `intro\n${FLAGS_START}\n${table}\n${FLAGS_END}\noutro\n`);
  assert.throws(() => withFlagsTable('no markers'), /has no <!-- flags:start --> \.\.\. <!-- flags:end --> markers/);
  const readme = readFileSync(resolve(root, 'README.md'), 'utf8');
  const current = currentFlagsTable(readme);
  if (current !== undefined) assert.equal(current, table, 'README.md is stale: run `npm run docs:flags`');
});
