// What is wrong with a value of an option, in the words every front end uses: the CLI prefixes its flag and the raw
// text ("--epochs must be at most 10000, got "20000""), the server its JSON key and the JSON value.
import type { OptionType } from './train-options.js';

/** The problem with a number for an int/positive/fraction option, or undefined when it is fine. */
export function numberProblem(type: OptionType, n: number): string | undefined {
  switch (type.kind) {
    case 'int':
      if (!Number.isSafeInteger(n) || n < type.min)
        return `must be a ${type.min === 1 ? 'positive' : 'non-negative'} integer`;
      if (type.max !== undefined && n > type.max) return `must be at most ${type.max}`;
      return undefined;
    case 'positive':
      return n > 0 && Number.isFinite(n) ? undefined : 'must be a positive number';
    case 'fraction':
      return n > 0 && n < 1 ? undefined : 'must be a number between 0 and 1';
    default:
      return undefined;
  }
}

export const enumProblem = (values: readonly string[]) => `must be one of ${values.join(', ')}`;

/** How to write new units: the CLI's syntax and the JSON form. */
export const UNITS_SYNTAX = {
  cli: '"hidden:UNITS[,UNITS...]" (e.g. hidden:256)',
  json: 'an array of positive integers (e.g. [256])',
};

/** `--replace hidden:256,128` → [256, 128]; undefined when the text is not of that form. */
export function parseUnits(v: string): number[] | undefined {
  const m = /^hidden:(\d+(?:,\d+)*)$/.exec(v);
  const sizes = m ? m[1].split(',').map(Number) : [];
  return m && sizes.every((n) => Number.isSafeInteger(n) && n >= 1) ? sizes : undefined;
}
