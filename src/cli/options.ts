// Option parsers shared by commands: bad values fail with a clear message, never NaN further down.
import { InvalidArgumentError, Option, type Command } from 'commander';
import { numberProblem, parseUnits, UNITS_SYNTAX } from '../options/check.js';
import {
  DEVICE_CHOICES,
  STRATEGIES,
  TRAIN_OPTIONS,
  optionRows,
  type CliOptionName,
  type LibraryOptionName,
  type OptionRow,
  type RungOptionName,
} from '../options/train-options.js';
import type { FinetuneTrainOptions, HeadTrainOptions, TrainOptions } from '../training/types.js';
import type { DeviceRequest } from '../engine/webgpu/device-request.js';

export function positiveInt(name: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n <= 0)
      throw new InvalidArgumentError(`${name} must be a positive integer, got "${v}"`);
    return n;
  };
}

export function fraction(name: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!(n > 0 && n < 1)) throw new InvalidArgumentError(`${name} must be a number between 0 and 1, got "${v}"`);
    return n;
  };
}

export function nonNegativeInt(name: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0)
      throw new InvalidArgumentError(`${name} must be a non-negative integer, got "${v}"`);
    return n;
  };
}

/** One of a fixed set of words (e.g. --strategy head | partial | full | auto). */
export function choice<T extends string>(name: string, values: readonly T[]) {
  return (v: string): T => {
    if (!values.includes(v as T))
      throw new InvalidArgumentError(`${name} must be one of ${values.join(', ')}, got "${v}"`);
    return v as T;
  };
}

export function positiveNumber(name: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!(n > 0) || !Number.isFinite(n))
      throw new InvalidArgumentError(`${name} must be a positive number, got "${v}"`);
    return n;
  };
}

// ---- Options generated from the option table (src/options/train-options.ts): `tl train`, `tl demo`, `tl plan`.

/** Flags, help and parser of table options; `defaults` and `help` override the table's for one command. */
export interface TableOptionsSpec {
  /** Parser of --head (classifier/head-spec.ts: above this table's layer, so the command hands it in). */
  head?: (v: string) => unknown;
  defaults?: Partial<Record<CliOptionName, { value: unknown; description?: string }>>;
  help?: Partial<Record<CliOptionName, string>>;
}

/** The parser of a flag's text by the option's type: one clear message, never NaN further down. */
export function tableParser(name: CliOptionName, spec: TableOptionsSpec = {}): ((v: string) => unknown) | undefined {
  const row: OptionRow = TRAIN_OPTIONS[name];
  const flag = TRAIN_OPTIONS[name].cli.flag;
  const type = row.type;
  switch (type.kind) {
    case 'int':
    case 'positive':
    case 'fraction':
      return (v: string) => {
        const n = Number(v);
        const problem = numberProblem(type, n);
        if (problem) throw new InvalidArgumentError(`${flag} ${problem}, got "${v}"`);
        return n;
      };
    case 'enum':
      return choice(flag, type.values);
    case 'units':
      return (v: string) => {
        const units = parseUnits(v);
        if (!units) throw new InvalidArgumentError(`${flag} must be ${UNITS_SYNTAX.cli}, got "${v}"`);
        return units;
      };
    case 'head':
      if (!spec.head) throw new Error(`${flag}: no parser handed in`);
      return spec.head;
    case 'boolean':
    case 'string':
      return undefined;
  }
}

/** The default a flag's help shows: the command's, the table's value, or its note when the default depends. */
function defaultText(name: CliOptionName, spec: TableOptionsSpec): string | undefined {
  const own = spec.defaults?.[name];
  if (own) return own.description ?? String(own.value);
  const row: OptionRow = TRAIN_OPTIONS[name];
  return row.default !== undefined ? String(row.default) : row.defaultNote;
}

/**
 * Add these table options to a command. Commander fills in a default only for options every rung reads (and the
 * command's own defaults); a rung's own default (e.g. --time-budget's) stays the library's to apply, so a flag
 * nobody typed never reaches the library as if it had been.
 */
export function addTableOptions(cmd: Command, names: readonly CliOptionName[], spec: TableOptionsSpec = {}): Command {
  for (const name of names) {
    const row: OptionRow = TRAIN_OPTIONS[name];
    const cli = TRAIN_OPTIONS[name].cli;
    const value = 'value' in cli ? ` ${cli.value}` : '';
    const short = 'short' in cli ? `${cli.short}, ` : '';
    const help = spec.help?.[name] ?? row.help;
    const dflt = defaultText(name, spec);
    const everyRung = STRATEGIES.every((r) => row.rungs.includes(r));
    const own = spec.defaults?.[name];
    const commanderDefault = own ? own.value : everyRung ? row.default : undefined;
    const option = new Option(
      `${short}${cli.flag}${value}`,
      commanderDefault === undefined && dflt ? `${help} (default: ${dflt})` : help,
    );
    const parse = tableParser(name, spec);
    if (parse) option.argParser(parse);
    if (commanderDefault !== undefined) option.default(commanderDefault, dflt);
    cmd.addOption(option);
    if ('negate' in cli) cmd.addOption(new Option(`--no-${cli.flag.slice(2)}`, cli.negate));
  }
  return cmd;
}

/** Commander's name for a flag's value: --finetune-batch → finetuneBatch. */
export function flagAttribute(name: CliOptionName): string {
  return TRAIN_OPTIONS[name].cli.flag.slice(2).replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}

/** The library's options from what commander parsed: each table option with a flag, under its TrainOptions key. */
export function libraryOptions(parsed: Record<string, unknown>): Partial<Record<LibraryOptionName, unknown>> {
  const out: Partial<Record<LibraryOptionName, unknown>> = {};
  for (const { name, row } of optionRows()) {
    if (!row.library || !row.cli) continue;
    const v = parsed[flagAttribute(name as CliOptionName)];
    if (v !== undefined) out[name as LibraryOptionName] = v;
  }
  return out;
}

// The table and the library's TrainOptions name the same options (a type error here fails the build and the tests).
type Assert<T extends true> = T;
type Equal<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
type KeysOfUnion<T> = T extends unknown ? keyof T : never;
/** Fields of TrainOptions that are not options: the run's plumbing. */
type RuntimeOnly = 'store' | 'onEvent' | 'signal' | 'remote';
export type TableIsTrainOptions = Assert<Equal<LibraryOptionName, Exclude<KeysOfUnion<TrainOptions>, RuntimeOnly>>>;
export type TableIsFinetuneOptions = Assert<
  Equal<RungOptionName<'partial'> | RungOptionName<'full'>, Exclude<keyof FinetuneTrainOptions, RuntimeOnly>>
>;
export type TableHeadOptionsExist = Assert<
  Equal<RungOptionName<'head'> & keyof HeadTrainOptions, RungOptionName<'head'>>
>;
export type TableDevicesAreDevices = Assert<Equal<(typeof DEVICE_CHOICES)[number], DeviceRequest>>;
