// Issue 22 item 7: `tl predict` printed a newline inside a file name raw, which breaks its line-oriented output (one
// name line, one result line per file). Names with control characters are now printed JSON-quoted; --json is exact.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { cleanup, DATASETS_DIR, filesIn, linkSubset, runCli, tempDir } from '../helpers.ts';

const HYM = join(DATASETS_DIR, 'hymenoptera_data');
let tmp: string;
let bundle: string;
let inbox: string;
const tl = (args: string[]) => runCli(args, { cacheDir: join(tmp, 'cache'), cwd: tmp, timeoutMs: 120_000 });

before(async () => {
  tmp = await tempDir('tl-faults-names-');
  await linkSubset(join(HYM, 'train'), join(tmp, 'data'), 6);
  bundle = join(tmp, 'bundle');
  const t = await tl(['train', join(tmp, 'data'), '--out', bundle, '--strategy', 'head']);
  assert.equal(t.code, 0, t.stderr.slice(-2000));
  inbox = join(tmp, 'inbox');
  await mkdir(inbox);
  const [bee] = await filesIn(join(HYM, 'val/bees'));
  await copyFile(bee, join(inbox, 'a\nb.jpg'));
  await copyFile(bee, join(inbox, 'plain.jpg'));
});
after(async () => {
  await cleanup(tmp);
});

describe('file names with control characters in tl predict', () => {
  test('line output: the name is JSON-quoted, two lines per file', async () => {
    const r = await tl(['predict', bundle, inbox]);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trimEnd().split('\n');
    assert.equal(lines.length, 4, r.stdout);
    assert.equal(lines[0], JSON.stringify(join(inbox, 'a\nb.jpg')));
    assert.equal(lines[2], join(inbox, 'plain.jpg'));
    assert.match(lines[1], /^ {2}(ants|bees) /);
  });

  test('--json keeps the exact name', async () => {
    const r = await tl(['predict', bundle, '--json', inbox]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(
      (JSON.parse(r.stdout) as { path: string }[]).map((p) => p.path),
      [join(inbox, 'a\nb.jpg'), join(inbox, 'plain.jpg')],
    );
  });
});
