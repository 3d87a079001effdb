// The README's table of `tl train` flags, generated from the option table (`npm run docs:flags` writes it between
// the <!-- flags:start --> and <!-- flags:end --> markers; test/unit/options-table.test.ts checks it is current).
import { optionRows, type OptionRow } from './train-options.js';
import { markdownCell as cell, replaceBetween } from '../util/markdown.js';

export const FLAGS_START = '<!-- flags:start -->';
export const FLAGS_END = '<!-- flags:end -->';

const code = (s: string) => `\`${s}\``;

function defaultCell(row: OptionRow): string {
  if (row.default !== undefined) return code(String(row.default));
  return row.defaultNote ? cell(row.defaultNote) : '';
}

/** One row per flag of `tl train` (a --no-FLAG form is its own row), in the order `tl train --help` lists them. */
export function flagsTable(): string {
  const lines = ['| flag | applies to | default | meaning | JSON key (API) |', '| --- | --- | --- | --- | --- |'];
  for (const { name, row } of optionRows()) {
    if (!row.cli) continue;
    const { flag, short, value, negate } = row.cli;
    const term = `${short ? `${short}, ` : ''}${flag}${value ? ` ${value}` : ''}`;
    const rungs = row.rungs.join(', ');
    lines.push(`| ${code(term)} | ${rungs} | ${defaultCell(row)} | ${cell(row.help)} | ${row.api ? code(name) : ''} |`);
    if (negate)
      lines.push(
        `| ${code(`--no-${flag.slice(2)}`)} | ${rungs} | | ${cell(negate)} | ${row.api ? `${code(name)}: false` : ''} |`,
      );
  }
  return lines.join('\n');
}

/** The text with what lies between the markers replaced by the table; throws when the markers are missing or reversed. */
export function withFlagsTable(text: string, table = flagsTable()): string {
  return replaceBetween(
    text,
    FLAGS_START,
    FLAGS_END,
    table,
    `README.md has no ${FLAGS_START} ... ${FLAGS_END} markers (in that order): add them around the flags table, then run npm run docs:flags again`,
  );
}

/** The table between the markers, or undefined when the text has none. */
export function currentFlagsTable(text: string): string | undefined {
  const start = text.indexOf(FLAGS_START);
  const end = text.indexOf(FLAGS_END);
  if (start < 0 || end < start) return undefined;
  return text.slice(start + FLAGS_START.length, end).trim();
}
