// Issue 22 item 7: `tl train small --val 0.99` said "no labelled images found in small": the split had put every
// image of each class into validation. Now it says which class is left without a training image, with the counts and
// the fraction, and suggests a smaller --val.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { assertCleanError, cleanup, DATASETS_DIR, linkSubset, runCli, tempDir } from '../helpers.ts';

let tmp: string;
let small: string;
before(async () => {
  tmp = await tempDir('tl-faults-val-');
  small = join(tmp, 'small');
  await linkSubset(join(DATASETS_DIR, 'hymenoptera_data', 'train'), small, 6);
});
after(async () => {
  await cleanup(tmp);
});

describe('--val that leaves a class no training image', () => {
  test('tl train small --val 0.99: names the class, the counts and the fraction; suggests a smaller --val', async () => {
    const r = await runCli(['train', small, '--val', '0.99', '--out', join(tmp, 'never'), '--strategy', 'head'], {
      cacheDir: join(tmp, 'cache'),
      cwd: tmp,
    });
    assertCleanError(
      r,
      /validation fraction 0\.99 \(--val\) leaves class "ants" with no training image: all 6 of its images would go to validation/,
    );
    assert.match(r.stderr, /hint: Use a smaller --val/);
    assert.doesNotMatch(r.stderr, /no labelled images found/);
  });
});
