// The one argument parser of the benchmarks (node:util parseArgs): `--name value` options with string defaults and
// `--flag` booleans; an unknown or malformed argument prints the usage and exits 2; `--help` prints it and exits 0.
// Launch any benchmark with `npm run bench:<name> -- ARGS` (scripts/bench.mjs builds, then runs dist/bench/<name>.js).
import { parseArgs } from 'node:util';

type Values<O, F extends string> = { [K in keyof O]: O[K] extends string ? string : string | undefined } & {
  [K in F]: boolean;
};

/** Parsing stopped: --help (code 0, the usage for stdout) or a mistake (code 2, the message and usage for stderr). */
export class BenchArgsExit extends Error {
  constructor(
    readonly code: 0 | 2,
    readonly output: string,
  ) {
    super(output);
  }
}

/**
 * `options`: each `--name VALUE` with its default (undefined: no default); `flags`: each boolean `--name`.
 * `usage`: one line per argument, shown on --help and on a mistake. Throws BenchArgsExit instead of exiting.
 */
export function parseBenchArgs<O extends Record<string, string | undefined>, F extends string = never>(
  usage: string,
  options: O,
  flags: readonly F[] = [],
  argv: string[] = process.argv.slice(2),
): Values<O, F> {
  const spec: Record<string, { type: 'string' | 'boolean'; default?: string | boolean }> = {
    help: { type: 'boolean' },
  };
  for (const [name, value] of Object.entries(options))
    spec[name] = { type: 'string', ...(value === undefined ? {} : { default: value }) };
  for (const name of flags) spec[name] = { type: 'boolean', default: false };
  let values: Record<string, unknown>;
  try {
    ({ values } = parseArgs({ args: argv, options: spec, strict: true, allowPositionals: false }));
  } catch (e) {
    throw new BenchArgsExit(2, `${(e as Error).message}\n\nusage: ${usage}\n`);
  }
  if (values.help) throw new BenchArgsExit(0, `usage: ${usage}\n`);
  delete values.help;
  return values as Values<O, F>;
}

/** parseBenchArgs for a benchmark's main: --help prints the usage and exits 0, a mistake exits 2. */
export function benchArgs<O extends Record<string, string | undefined>, F extends string = never>(
  usage: string,
  options: O,
  flags: readonly F[] = [],
  argv: string[] = process.argv.slice(2),
): Values<O, F> {
  try {
    return parseBenchArgs(usage, options, flags, argv);
  } catch (e) {
    if (!(e instanceof BenchArgsExit)) throw e;
    (e.code === 0 ? process.stdout : process.stderr).write(e.output);
    process.exit(e.code);
  }
}

/** A comma-separated option as a list, without empty items. */
export function list(value: string): string[] {
  return value.split(',').filter(Boolean);
}
