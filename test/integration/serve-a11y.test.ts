// Issue 25, keyboard and small screens, in headless Chromium on a real `tl serve`: from page load to pressing Train on
// a project of 3 classes × 20 photos in at most 10 Tabs, with focus on the new part of the page after each step; the
// photo grid as one tab stop with arrow keys, Delete removing the focused photo on the server; one focus ring per file
// input; the per-class table whole at 375 px with no sideways scroll; axe-core with no serious or critical violation on
// the home page, an open project, during training, and the results.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { DATASETS_DIR } from '../helpers.js';
import {
  axeSerious,
  focusedElement as focused,
  projectPath,
  startServeBrowser,
  tabWalk,
  watchPage,
  type ServeBrowser,
} from './serve-browser.js';
const MAX_TABS = 10;

let sb: ServeBrowser;

const photos = async (dir: string, n: number) =>
  (await readdir(join(DATASETS_DIR, dir)))
    .filter((f) => !f.startsWith('.'))
    .sort()
    .slice(0, n)
    .map((f) => join(DATASETS_DIR, dir, f));

before(async () => {
  sb = await startServeBrowser('tl-serve-a11y-');
  await sb.setupProject('Keyboard', {
    ants: await photos('hymenoptera_data/train/ants', 20),
    bees: await photos('hymenoptera_data/train/bees', 20),
    cats: await photos('cats_and_dogs_filtered/train/cats', 20),
  });
});

after(async () => {
  await sb?.close();
});

test('keyboard only: page load → Train in ≤ 10 Tabs, focus follows each step, axe clean on the four screens', async (t) => {
  const context = await sb.browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  const pageErrors = watchPage(page);
  try {
    await page.goto(`${sb.server.url}/`);
    await page.locator('#project-list a', { hasText: 'Keyboard' }).waitFor();
    assert.deepEqual(await axeSerious(page), [], 'home page');

    const walk = tabWalk(page, MAX_TABS);
    const tabTo = walk.to;

    await tabTo('the project link', (el) => el.matches('#project-list a') && el.textContent!.includes('Keyboard'));
    await page.keyboard.press('Enter');
    await page.locator('#project-title', { hasText: 'Keyboard' }).waitFor();
    await page.locator('article.class-card').nth(2).waitFor();
    assert.equal(await focused(page), "h1#project-title 'Keyboard'", 'opening a project focuses its heading');
    assert.deepEqual(await axeSerious(page), [], 'an open project with 60 photos');

    await tabTo('the Train section link', (el) => el.matches('.section-nav a') && el.textContent === 'Train');
    await page.keyboard.press('Enter');
    assert.equal(await focused(page), "h2#train-h '2 · Train'", 'the section link focuses the section');
    await tabTo('the Train button', (el) => el.id === 'train-button');
    t.diagnostic(`Tabs from page load to Train: ${walk.tabs} (${walk.trail.join(' → ')})`);
    assert.ok(walk.tabs <= MAX_TABS);

    // Hold the job's event stream until axe has looked at the page in training (a real job runs meanwhile).
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    await page.route('**/v1/jobs/*/events', async (route) => {
      await held;
      await route.continue();
    });
    await page.keyboard.press('Space');
    await page.locator('#progress:not([hidden])').waitFor();
    await page.waitForFunction(() => document.activeElement?.id === 'progress');
    assert.equal(await focused(page), "div#progress 'Training'", 'starting training focuses the progress region');
    assert.deepEqual(await axeSerious(page), [], 'during training');
    release();

    await page.locator('#accuracy').waitFor({ timeout: 90_000 });
    await page.waitForFunction(() => document.activeElement?.id === 'results-h', undefined, { timeout: 10_000 });
    assert.equal(await focused(page), "h2#results-h '3 · Results'", 'the end of training focuses the results');
    assert.equal(await page.locator('table.per-class tbody tr').count(), 3);
    assert.deepEqual(await axeSerious(page), [], 'the results');
    await page.emulateMedia({ colorScheme: 'dark' });
    assert.deepEqual(await axeSerious(page), [], 'the results in the dark colour scheme');
    assert.deepEqual(pageErrors, [], 'no JavaScript errors on the page');
  } finally {
    await context.close();
  }
});

test('at 375x800 the per-class table shows every column and the page does not scroll sideways', async () => {
  const context = await sb.browser.newContext({ viewport: { width: 375, height: 800 } });
  const page = await context.newPage();
  const pageErrors = watchPage(page);
  try {
    await page.goto(`${sb.server.url}/#/p/Keyboard`);
    await page.locator('table.per-class').waitFor();
    const headers = await page.locator('table.per-class thead th').evaluateAll((ths) =>
      ths.map((th) => {
        const r = th.getBoundingClientRect();
        return { text: th.textContent, left: r.left, right: r.right, display: getComputedStyle(th).display };
      }),
    );
    assert.deepEqual(
      headers.map((x) => x.text),
      ['class', 'accuracy', 'precision', 'F1', 'photos'],
    );
    for (const x of headers) {
      assert.notEqual(x.display, 'none', `${x.text} is displayed`);
      assert.ok(x.left >= 0 && x.right <= 375 && x.right > x.left, `${x.text} at ${x.left}..${x.right} px`);
    }
    const scrollWidth = await page.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(scrollWidth <= 375, `the page is ${scrollWidth} px wide at 375`);
    assert.deepEqual(await axeSerious(page), [], 'the results at 375 px');
    assert.deepEqual(pageErrors, [], 'no JavaScript errors on the page');
  } finally {
    await context.close();
  }
});

test('photo grid: one tab stop, arrows move, Delete removes (server count drops), one focus ring per file input', async (t) => {
  const name = 'Grid';
  await sb.setupProject(name, { ants: await photos('hymenoptera_data/train/ants', 9) });
  const context = await sb.browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  const pageErrors = watchPage(page);
  const options = page.locator('article[data-class="ants"] [role=option]');
  const ringOf = (input: string) =>
    page.locator(`label[for="${input}"]`).evaluate((l) => getComputedStyle(l).outlineStyle);
  try {
    await page.goto(`${sb.server.url}/#/p/${name}`);
    await options.nth(8).waitFor();

    // Only the focused file input's label is ringed.
    await page.locator('article[data-class="ants"] button', { hasText: 'Remove' }).focus();
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'class-0-files');
    assert.deepEqual([await ringOf('class-0-files'), await ringOf('class-0-folder')], ['solid', 'none']);
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'class-0-folder');
    assert.deepEqual([await ringOf('class-0-files'), await ringOf('class-0-folder')], ['none', 'solid']);
    await page.keyboard.press('Tab'); // the class's Webcam button (webcam.ts)
    assert.equal(await page.evaluate(() => document.activeElement?.textContent), 'Webcam');
    assert.deepEqual([await ringOf('class-0-files'), await ringOf('class-0-folder')], ['none', 'none']);

    // The grid is one tab stop: Tab enters at the first photo, the next Tab leaves it.
    const files = await options.evaluateAll((els) => els.map((e) => e.getAttribute('data-file')!));
    const focusedFile = () => page.evaluate(() => document.activeElement?.getAttribute('data-file') ?? null);
    const box = () =>
      page.evaluate(() => {
        const r = document.activeElement!.getBoundingClientRect();
        return { x: Math.round(r.x), y: Math.round(r.y) };
      });
    await page.keyboard.press('Tab');
    assert.equal(await focusedFile(), files[0]);
    assert.equal(await page.locator('[role=option][tabindex="0"]').count(), 1, 'one photo in the tab order');
    assert.equal(await options.first().getAttribute('aria-label'), `ants: ${files[0]}`);

    await page.keyboard.press('ArrowRight');
    assert.equal(await focusedFile(), files[1]);
    const above = await box();
    await page.keyboard.press('ArrowDown');
    const below = await box();
    assert.equal(below.x, above.x, 'ArrowDown keeps the column');
    assert.ok(below.y > above.y, 'ArrowDown moves a row down');
    await page.keyboard.press('ArrowUp');
    assert.equal(await focusedFile(), files[1]);
    await page.keyboard.press('End');
    assert.equal(await focusedFile(), files[8]);
    await page.keyboard.press('Home');
    assert.equal(await focusedFile(), files[0]);
    await page.keyboard.press('ArrowLeft');
    assert.equal(await focusedFile(), files[0], 'no wrap past the first photo');

    // Delete removes the focused photo through the page's remove path; focus goes to its neighbour.
    const serverCount = async () =>
      (await sb.api<{ images: unknown[] }>('GET', `${projectPath(name)}/images?class=ants`)).images.length;
    await page.keyboard.press('ArrowRight');
    await page.keyboard.press('Delete');
    await page.locator('article[data-class="ants"] [data-testid=class-count]', { hasText: '8 photos' }).waitFor();
    assert.equal(await serverCount(), 8);
    await page.waitForFunction((f) => document.activeElement?.getAttribute('data-file') === f, files[2]);
    // Backspace on the last photo: focus goes to the one before it.
    await page.keyboard.press('End');
    await page.keyboard.press('Backspace');
    await page.locator('article[data-class="ants"] [data-testid=class-count]', { hasText: '7 photos' }).waitFor();
    assert.equal(await serverCount(), 7);
    await page.waitForFunction((f) => document.activeElement?.getAttribute('data-file') === f, files[7]);
    assert.equal(await page.locator('[role=option][tabindex="0"]').count(), 1);

    // A refused class name is announced beside its field (role=alert).
    await page.locator('#add-class-name').fill('ants');
    await page.keyboard.press('Enter');
    const alert = page.locator('#add-class-error[role=alert]');
    await alert.filter({ hasText: /ants/ }).waitFor();
    t.diagnostic(`add-class alert: ${await alert.innerText()}`);
    assert.deepEqual(pageErrors, [], 'no JavaScript errors on the page');
  } finally {
    await context.close();
  }
});

test('a class of 20 photos is one strip with "Show all 20 photos"', async () => {
  const context = await sb.browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  try {
    await page.goto(`${sb.server.url}/#/p/Keyboard`);
    const card = page.locator('article[data-class="bees"]');
    const rows = () =>
      card.locator('[role=option]').evaluateAll((els) => new Set(els.map((e) => (e as HTMLElement).offsetTop)).size);
    await card.locator('[role=option]').nth(19).waitFor({ state: 'attached' });
    assert.equal(await rows(), 1, 'collapsed to one row');
    const toggle = card.getByRole('button', { name: 'Show all 20 photos' });
    assert.equal(await toggle.getAttribute('aria-expanded'), 'false');
    await toggle.click();
    assert.ok((await rows()) > 1, 'all rows shown');
    assert.equal(await card.locator('button.show-all').getAttribute('aria-expanded'), 'true');
    // Arrows reach a photo past the strip's visible part, scrolling it into view.
    await card.locator('button.show-all').click();
    assert.equal(await rows(), 1, 'collapsed again');
    await card.locator('[role=option]').first().focus();
    await page.keyboard.press('End');
    assert.equal(
      await page.evaluate(() => {
        const a = document.activeElement!;
        const strip = a.closest('ul')!.getBoundingClientRect();
        const r = a.getBoundingClientRect();
        return r.left >= strip.left - 1 && r.right <= strip.right + 1;
      }),
      true,
      'the last photo is scrolled into the strip',
    );
  } finally {
    await context.close();
  }
});
