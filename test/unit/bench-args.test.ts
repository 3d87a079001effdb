// The benchmarks' one argument parser (bench/args.ts): defaults, flags, and a mistake refused with the usage
// instead of being ignored (the hand-written parsers it replaced took `--bogus 3` silently).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { benchArgs, list } from '../../bench/args.js';
import { ROOT } from '../helpers.js';

const USAGE = 'npm run bench:x -- [--runs 3] [--models a,b] [--no-torch]';
const parse = (argv: string[]) => benchArgs(USAGE, { runs: '3', models: undefined }, ['no-torch'], argv);

test('defaults apply, given values and flags win, lists split on commas', () => {
  assert.deepEqual({ ...parse([]) }, { runs: '3', 'no-torch': false });
  const a = parse(['--runs', '5', '--models=mobilenet-v2,darknet-tiny', '--no-torch']);
  assert.equal(a.runs, '5');
  assert.equal(a['no-torch'], true);
  assert.deepEqual(list(a.models!), ['mobilenet-v2', 'darknet-tiny']);
  assert.deepEqual(list('a,,b,'), ['a', 'b']);
});

/** Run benchArgs in a child process (it exits on --help and on a mistake). */
function child(argv: string[]) {
  const code = `import { benchArgs } from ${JSON.stringify(join(ROOT, 'bench/args.ts'))};
benchArgs(${JSON.stringify(USAGE)}, { runs: '3' }, ['no-torch'], ${JSON.stringify(argv)}); console.log('parsed');`;
  return spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
    cwd: ROOT,
    encoding: 'utf8',
  });
}

test('an unknown option, a missing value or a stray word exits 2 with the usage', () => {
  for (const argv of [['--bogus', '3'], ['--runs'], ['extra']]) {
    const r = child(argv);
    assert.equal(r.status, 2, `${argv.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, /usage: npm run bench:x -- \[--runs 3\]/);
    assert.doesNotMatch(r.stdout, /parsed/);
  }
});

test('--help prints the usage and exits 0 without running the benchmark', () => {
  const r = child(['--help']);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, `usage: ${USAGE}\n`);
});
