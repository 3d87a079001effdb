// Issue 23: README.md is a short landing page and the details live in docs/. These checks keep it that way: the README's
// length, its table of contents and set-up commands, links that resolve, no path of one machine, and a reproducing
// command beside every measured table in docs/.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

const ROOT = resolve(import.meta.dirname, '../..');
const README = join(ROOT, 'README.md');
const DOCS = join(ROOT, 'docs');
const MAX_README_LINES = 250;

const docFiles = (): string[] =>
  existsSync(DOCS)
    ? readdirSync(DOCS)
        .filter((f) => f.endsWith('.md'))
        .sort()
        .map((f) => join(DOCS, f))
    : [];
const allFiles = (): string[] => [README, ...docFiles()];
const read = (file: string): string => readFileSync(file, 'utf8');
const rel = (file: string): string => relative(ROOT, file);

interface Line {
  text: string;
  /** Inside a fenced code block (the fence lines included). */
  code: boolean;
}

function lines(text: string): Line[] {
  let fence: string | null = null;
  return text.split('\n').map((t) => {
    const m = /^\s*(```+|~~~+)/.exec(t);
    if (m) {
      if (fence === null) fence = m[1];
      else if (m[1].startsWith(fence)) fence = null;
      return { text: t, code: true };
    }
    return { text: t, code: fence !== null };
  });
}

/** The text outside fenced code blocks and inline code spans (blank lines keep the line numbers). */
const prose = (text: string): string =>
  lines(text)
    .map((l) => (l.code ? '' : l.text.replace(/`[^`\n]*`/g, '')))
    .join('\n');

/** The headings of a file with GitHub's anchor for each: lower case, punctuation dropped, spaces to hyphens; repeats
 * get -1, -2, ... */
function headings(text: string): { level: number; anchor: string }[] {
  const seen = new Map<string, number>();
  const out: { level: number; anchor: string }[] = [];
  for (const l of lines(text)) {
    const m = !l.code && /^(#{1,6})\s+(.*?)\s*#*\s*$/.exec(l.text);
    if (!m) continue;
    const base = m[2]
      .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, '')
      .replace(/\s/g, '-');
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.push({ level: m[1].length, anchor: n === 0 ? base : `${base}-${n}` });
  }
  return out;
}
const anchors = (text: string): Set<string> => new Set(headings(text).map((h) => h.anchor));

/** Markdown links [text](target) outside code. */
function links(text: string): string[] {
  return [...prose(text).matchAll(/\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)].map((m) => m[1]);
}

const isExternal = (target: string): boolean => /^[a-z][a-z0-9+.-]*:/i.test(target);

test(`README.md has at most ${MAX_README_LINES} lines`, () => {
  const n = read(README).trimEnd().split('\n').length;
  assert.ok(n <= MAX_README_LINES, `README.md has ${n} lines; move details to docs/`);
});

test("README.md starts with the set-up commands: the first code block holds 'npx tl demo' and 'npm test'", () => {
  const ls = lines(read(README));
  const start = ls.findIndex((l) => l.code);
  assert.ok(start >= 0, 'README.md has no code block');
  const firstSection = ls.findIndex((l) => !l.code && /^##\s/.test(l.text));
  assert.ok(firstSection === -1 || start < firstSection, 'the set-up code block comes before the first ## section');
  const block: string[] = [];
  for (let i = start + 1; i < ls.length && ls[i].code && !/^\s*(```|~~~)/.test(ls[i].text); i++) block.push(ls[i].text);
  assert.ok(
    block.some((l) => l.includes('npx tl demo')),
    `first code block lacks 'npx tl demo':\n${block.join('\n')}`,
  );
  assert.ok(
    block.some((l) => /^npm test\b/.test(l.trim())),
    `first code block lacks 'npm test':\n${block.join('\n')}`,
  );
});

test("README.md has a table of contents: a 'Contents' heading linking to each of its ## sections", () => {
  const text = read(README);
  const ls = lines(text);
  const at = ls.findIndex((l) => !l.code && /^#{2,3}\s+(table of )?contents\s*$/i.test(l.text));
  assert.ok(at >= 0, "README.md has no 'Contents' heading");
  const toc: string[] = [];
  for (let i = at + 1; i < ls.length && !(!ls[i].code && /^#/.test(ls[i].text)); i++)
    for (const m of ls[i].text.matchAll(/\]\(#([^)\s]+)\)/g)) toc.push(m[1]);
  assert.ok(toc.length >= 3, `the contents list links ${toc.length} sections`);
  const h2 = headings(text)
    .filter((h) => h.level === 2 && !/^(table-of-)?contents$/.test(h.anchor))
    .map((h) => h.anchor);
  for (const target of toc) assert.ok(h2.includes(target), `contents link #${target} matches no heading`);
  for (const section of h2) assert.ok(toc.includes(section), `section #${section} is missing from the contents`);
});

test('the tl train flags table sits between the flags:start and flags:end markers', () => {
  const text = read(README);
  const m = /^<!-- flags:start -->\n([\s\S]*?)\n<!-- flags:end -->$/m.exec(text);
  assert.ok(m, 'README.md lacks <!-- flags:start --> ... <!-- flags:end --> on lines of their own');
  const rows = m[1].split('\n').filter((l) => l.trim() !== '');
  assert.ok(rows.length >= 3, 'no table between the markers');
  for (const row of rows) assert.match(row, /^\|.*\|$/, 'only a markdown table goes between the markers');
  assert.match(rows[0], /flag/);
});

test('no absolute path of one machine (/work/, /root/, /tmp/, /home/, /Users/) in README.md or docs/', () => {
  const bad: string[] = [];
  for (const file of allFiles())
    read(file)
      .split('\n')
      .forEach((l, i) => {
        const withoutUrls = l.replace(/\b[a-z][a-z0-9+.-]*:\/\/\S+/gi, '');
        if (/\/(work|root|tmp|home|Users)\//.test(withoutUrls)) bad.push(`${rel(file)}:${i + 1}: ${l.trim()}`);
      });
  assert.deepEqual(bad, [], 'use relative paths (../shared/datasets/..., my-classifier)');
});

test('every relative link in README.md and docs/ points at a file that exists (and a heading that exists)', () => {
  const broken: string[] = [];
  for (const file of allFiles()) {
    for (const target of links(read(file))) {
      if (isExternal(target)) continue;
      const [path, fragment] = target.split('#', 2);
      const dest = path === '' ? file : resolve(dirname(file), decodeURIComponent(path));
      if (!existsSync(dest)) {
        broken.push(`${rel(file)}: ${target} (no such file)`);
        continue;
      }
      if (fragment !== undefined && dest.endsWith('.md') && !anchors(read(dest)).has(fragment))
        broken.push(`${rel(file)}: ${target} (no such heading)`);
    }
  }
  assert.deepEqual(broken, []);
});

test('README.md links every page in docs/', () => {
  const linked = new Set(
    links(read(README))
      .filter((t) => !isExternal(t))
      .map((t) => resolve(ROOT, t.split('#')[0])),
  );
  const docs = docFiles();
  assert.ok(docs.length > 0, 'docs/ has no pages');
  for (const page of docs) assert.ok(linked.has(page), `README.md does not link ${rel(page)}`);
});

test('every table in docs/ with a decimal number names the command that produced it in its section', () => {
  const command = /`(tl|npm|npx|node|python3) [^`]*`/;
  const missing: string[] = [];
  for (const file of docFiles()) {
    const ls = lines(read(file));
    let sectionStart = 0;
    const isRow = (x: Line | undefined): boolean => x !== undefined && !x.code && x.text.trimStart().startsWith('|');
    for (let i = 0; i < ls.length; i++) {
      if (!ls[i].code && /^#{1,6}\s/.test(ls[i].text)) sectionStart = i;
      if (!isRow(ls[i])) continue;
      let end = i;
      while (isRow(ls[end])) end++;
      const table = ls.slice(i, end).map((x) => x.text);
      const before = ls
        .slice(sectionStart, i)
        .filter((x) => !x.code)
        .map((x) => x.text)
        .join('\n');
      if (table.some((row) => /\d\.\d/.test(row)) && !command.test(before))
        missing.push(`${rel(file)}:${i + 1}: ${table[0].slice(0, 80)}`);
      i = end - 1;
    }
  }
  assert.deepEqual(missing, [], 'put the reproducing command (`npm run bench:...`, `tl train ...`) above the table');
});

test('every source file README.md, ARCHITECTURE.md and docs/ name exists (they follow the code when it moves)', () => {
  const texts = ['README.md', 'ARCHITECTURE.md', ...readdirSync(join(ROOT, 'docs')).map((f) => `docs/${f}`)];
  const missing: string[] = [];
  for (const file of texts) {
    const text = readFileSync(join(ROOT, file), 'utf8');
    for (const m of text.matchAll(/\b((?:src|test|bench|scripts|web)\/[\w./-]+\.(?:ts|mjs|cjs|py|sh))\b/g))
      if (!existsSync(join(ROOT, m[1]))) missing.push(`${file}: ${m[1]}`);
  }
  assert.deepEqual(missing, []);
});
