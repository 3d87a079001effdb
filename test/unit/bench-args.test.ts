// The benchmarks' one argument parser (bench/args.ts): defaults, flags, and a mistake refused with the usage
// instead of being ignored (the hand-written parsers it replaced took `--bogus 3` silently).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BenchArgsExit, list, parseBenchArgs } from '../../bench/args.js';

const USAGE = 'npm run bench:x -- [--runs 3] [--models a,b] [--no-torch]';
const parse = (argv: string[]) => parseBenchArgs(USAGE, { runs: '3', models: undefined }, ['no-torch'], argv);

test('defaults apply, given values and flags win, lists split on commas', () => {
  assert.deepEqual({ ...parse([]) }, { runs: '3', 'no-torch': false });
  const a = parse(['--runs', '5', '--models=mobilenet-v2,darknet-tiny', '--no-torch']);
  assert.equal(a.runs, '5');
  assert.equal(a['no-torch'], true);
  assert.deepEqual(list(a.models!), ['mobilenet-v2', 'darknet-tiny']);
  assert.deepEqual(list('a,,b,'), ['a', 'b']);
});

test('an unknown option, a missing value or a stray word stops with code 2 and the usage', () => {
  for (const argv of [['--bogus', '3'], ['--runs'], ['extra']]) {
    assert.throws(
      () => parse(argv),
      (e: unknown) =>
        e instanceof BenchArgsExit &&
        e.code === 2 &&
        e.output.includes(`usage: ${USAGE}`) &&
        e.output.length > USAGE.length + 9,
      argv.join(' '),
    );
  }
});

test('--help stops with code 0 and exactly the usage', () => {
  assert.throws(
    () => parse(['--runs', '5', '--help']),
    (e: unknown) => e instanceof BenchArgsExit && e.code === 0 && e.output === `usage: ${USAGE}\n`,
  );
});
