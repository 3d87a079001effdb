// docs/settings.md's table of TL_* settings, generated from SETTINGS (`npm run docs:tables` writes it between the
// <!-- settings:start --> and <!-- settings:end --> markers; test/unit/env-settings.test.ts checks it is current).
import { SETTINGS } from './env.js';
import { markdownCell as cell, replaceBetween } from './markdown.js';

export const SETTINGS_START = '<!-- settings:start -->';
export const SETTINGS_END = '<!-- settings:end -->';

export function settingsTable(): string {
  const lines = ['| environment variable | `env` field | default | what |', '| --- | --- | --- | --- |'];
  for (const s of SETTINGS) {
    const field = 'field' in s ? `\`${s.field}\`` : '—';
    lines.push(`| \`${s.name}\` | ${field} | ${cell(s.default)} | ${cell(s.what)} |`);
  }
  return lines.join('\n');
}

/** The text with what lies between the markers replaced; throws when the markers are missing or reversed. */
export function withSettingsTable(text: string, table = settingsTable()): string {
  return replaceBetween(
    text,
    SETTINGS_START,
    SETTINGS_END,
    table,
    `docs/settings.md has no ${SETTINGS_START} ... ${SETTINGS_END} markers (in that order)`,
  );
}
