// Generated markdown tables (the README's flags, docs/settings.md's settings): a cell's escaping, and the splice of a
// table between two markers that `npm run docs:tables` rewrites.

/** Text safe inside a markdown table cell: pipes escaped, angle brackets as entities. */
export const markdownCell = (s: string) => s.replace(/\|/g, '\\|').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** `text` with what lies between the markers replaced by `table`; `missing` is the error when they are absent. */
export function replaceBetween(text: string, start: string, end: string, table: string, missing: string): string {
  const a = text.indexOf(start);
  const b = text.indexOf(end);
  if (a < 0 || b < 0 || b < a) throw new Error(missing);
  return `${text.slice(0, a + start.length)}\n${table}\n${text.slice(b)}`;
}
