// docs/settings.md's table of TL_* settings, generated from SETTINGS (`npm run docs:tables` writes it between the
// <!-- settings:start --> and <!-- settings:end --> markers; test/unit/env-settings.test.ts checks it is current).
import { SETTINGS } from './env.js';

export const SETTINGS_START = '<!-- settings:start -->';
export const SETTINGS_END = '<!-- settings:end -->';

const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/</g, '&lt;').replace(/>/g, '&gt;');

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
  const start = text.indexOf(SETTINGS_START);
  const end = text.indexOf(SETTINGS_END);
  if (start < 0 || end < 0 || end < start)
    throw new Error(`docs/settings.md has no ${SETTINGS_START} ... ${SETTINGS_END} markers (in that order)`);
  return `${text.slice(0, start + SETTINGS_START.length)}\n${table}\n${text.slice(end)}`;
}
