// Issue 25: the whole flow a new user goes through, in order, in one Chromium session on a real `tl serve`: create a
// project with the form, add 3 classes, fill one with the file chooser, one by drag and drop and one with the webcam
// (Chromium's fake camera, hold to record); the Train panel shows auto's plan before Train is pressed; train with auto
// on a TF.js backbone (so that both export formats exist); read the results (backbone, rung, the split of each number);
// Try it on a photo; export ONNX and TF.js from the page and run each download with the page's own browser snippet in
// a second page (the same top-1 as the server on 10 photos); a keyboard-only pass from page load to Train in ≤ 10 Tabs;
// axe-core with no serious or critical violation at the end.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { DATASETS_DIR } from '../helpers.js';
import {
  axeSerious,
  dropFiles,
  FAKE_CAMERA_ARGS,
  focusedElement,
  projectPath,
  runSnippetInPage,
  serverTop1,
  startServeBrowser,
  tabWalk,
  watchPage,
  type ServeBrowser,
} from './serve-browser.js';

const PROJECT = 'My first classifier';
/** A TF.js backbone: its bundle exports as ONNX and as TF.js. The smallest, to keep the test short. */
const BACKBONE = 'mobilenet-v1-0.25';
const PER_CLASS = 14;
const MAX_TABS = 10;

let sb: ServeBrowser;

const photos = async (dir: string, from: number, n: number) =>
  (await readdir(join(DATASETS_DIR, dir)))
    .filter((f) => !f.startsWith('.'))
    .sort()
    .slice(from, from + n)
    .map((f) => join(DATASETS_DIR, dir, f));

const card = (page: Page, cls: string) => page.locator(`article[data-class="${cls}"]`);
const countIs = (page: Page, cls: string, n: number) =>
  card(page, cls)
    .getByTestId('class-count')
    .filter({ hasText: `${n} photos` })
    .waitFor({ timeout: 60_000 });

/** Unpack a downloaded export .tar; the folder holding its metadata.json. */
function untar(tar: string, into: string): string {
  const r = spawnSync('tar', ['-xf', tar, '-C', into], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const found = spawnSync('find', [into, '-name', 'metadata.json'], { encoding: 'utf8' }).stdout.trim().split('\n');
  assert.equal(found.length, 1, `one metadata.json in the .tar: ${found.join(', ')}`);
  return found[0].slice(0, -'/metadata.json'.length);
}

before(async () => {
  sb = await startServeBrowser('tl-serve-newuser-', FAKE_CAMERA_ARGS);
});

after(async () => {
  await sb?.close();
});

test('a new user: project → 3 classes (files, drop, webcam) → plan → train auto → results → try → ONNX + TF.js exports run in a page → keyboard → axe', async (t) => {
  const t0 = Date.now();
  let last = t0;
  const step = (what: string) => {
    const now = Date.now();
    t.diagnostic(`${what}: ${((now - last) / 1000).toFixed(1)} s`);
    last = now;
  };
  const context = await sb.browser.newContext({ viewport: { width: 1280, height: 900 }, acceptDownloads: true });
  await context.grantPermissions(['camera'], { origin: sb.server.url });
  const page = await context.newPage();
  const pageErrors = watchPage(page);
  try {
    // 1. A project through the form on the home page.
    await page.goto(`${sb.server.url}/`);
    await page.getByRole('heading', { name: /Teach the computer/ }).waitFor();
    await page.getByLabel('New project').fill(PROJECT);
    await page.getByRole('button', { name: 'Create' }).click();
    await page.locator('#project-title', { hasText: PROJECT }).waitFor();
    assert.equal(decodeURIComponent(new URL(page.url()).hash), `#/p/${PROJECT}`);

    // 2. Three classes.
    const classes = ['ants', 'cats', 'webcam'];
    for (const cls of classes) {
      await page.getByLabel('New class').fill(cls);
      await page.getByRole('button', { name: 'Add class' }).click();
      await card(page, cls).waitFor();
    }
    assert.deepEqual(
      await page.locator('article.class-card').evaluateAll((els) => els.map((e) => e.getAttribute('data-class'))),
      classes,
    );
    assert.equal(await page.locator('#train-button').isDisabled(), true, 'no photos yet: Train is disabled');
    assert.match(await page.locator('#train-hint').innerText(), /Add photos to “ants”, “cats”, “webcam”/);

    // Train with auto, a one-minute budget, on a TF.js backbone: set before the photos, so the plan the page asks for
    // once every class has photos is this one.
    await page.locator('#opt-rung').selectOption('auto');
    await page.locator('#opt-budget').fill('1');
    await page.locator('details.advanced summary').click();
    await page.locator(`#opt-backbone option[value="${BACKBONE}"]`).waitFor({ state: 'attached' });
    await page.locator('#opt-backbone').selectOption(BACKBONE);
    step('project, classes and options');

    // 3a. ants: the class's file chooser.
    const ants = await photos('hymenoptera_data/train/ants', 0, PER_CLASS);
    await card(page, 'ants').locator('input[type=file]:not([webkitdirectory])').setInputFiles(ants);
    await countIs(page, 'ants', PER_CLASS);
    // 3b. cats: dragged from the desktop onto the class's drop zone.
    const cats = await photos('cats_and_dogs_filtered/train/cats', 0, PER_CLASS);
    const drag = await dropFiles(page, 'article[data-class="cats"] .dropzone', cats);
    assert.deepEqual(drag, { highlighted: true, after: false }, 'the card is highlighted while dragged over');
    await countIs(page, 'cats', PER_CLASS);
    await page.locator('#status', { hasText: `Added ${PER_CLASS} photos to “cats”` }).waitFor();
    // 3c. webcam: the class's camera, recording while the button is held.
    await card(page, 'webcam').locator('.webcam-toggle').click();
    await page.waitForFunction(() => {
      const v = document.querySelector<HTMLVideoElement>('article[data-class="webcam"] .webcam-video');
      const s = v?.srcObject as MediaStream | null | undefined;
      return !!s && s.getVideoTracks()[0]?.readyState === 'live' && v!.videoWidth > 0;
    });
    const record = card(page, 'webcam').getByRole('button', { name: /Hold to record|Recording/ });
    const box = (await record.boundingBox())!;
    await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
    await page.mouse.down();
    await page.waitForFunction(
      (n) => Number(/\d+/.exec(document.querySelector('[data-testid=webcam-count]')!.textContent!)![0]) >= n,
      PER_CLASS,
      { timeout: 15_000 },
    );
    await page.mouse.up();
    const frames = Number(/\d+/.exec(await card(page, 'webcam').getByTestId('webcam-count').innerText())![0]);
    await countIs(page, 'webcam', frames);
    await card(page, 'webcam').getByRole('button', { name: 'Close webcam' }).click();
    await card(page, 'webcam').locator('.webcam-panel').waitFor({ state: 'detached' });
    const stored = await sb.api<{ classes: { name: string; images: number }[] }>('GET', projectPath(PROJECT));
    assert.deepEqual(
      stored.classes.map((c) => [c.name, c.images]),
      [
        ['ants', PER_CLASS],
        ['cats', PER_CLASS],
        ['webcam', frames],
      ],
      'the server holds every photo the page shows',
    );
    step(`photos (${frames} webcam frames)`);

    // 4. The plan, before Train is pressed: every rung, auto's choice marked, its reason, the budget.
    assert.equal(await page.locator('#train-button').isEnabled(), true);
    await page.locator('#plan-table caption', { hasText: '(60 s budget)' }).waitFor({ timeout: 120_000 });
    assert.deepEqual(await page.locator('#plan-table tbody tr').evaluateAll((rs) => rs.map((r) => r.dataset.rung)), [
      'head',
      'partial',
      'full',
    ]);
    assert.equal(await page.locator('#plan-table tr.chosen [data-testid=auto-choice]').count(), 1);
    for (const estimate of await page.locator('#plan-table tbody td:nth-of-type(2)').allInnerTexts())
      assert.match(estimate, /^~\d+ (s|min)/, 'each rung has a time estimate');
    const choice = await page.locator('#plan-table tr.chosen').getAttribute('data-rung');
    const reason = await page.locator('#plan-reason').innerText();
    assert.match(reason, new RegExp(`^auto picks ${choice}: .*images/class`));
    assert.match(await page.locator('#plan-status').innerText(), new RegExp(`^Plan for ${BACKBONE}`));
    assert.equal(await page.locator('#progress').isHidden(), true, 'the plan is shown before training starts');
    assert.equal((await sb.api<{ latestBundle: string | null }>('GET', projectPath(PROJECT))).latestBundle, null);
    t.diagnostic(`plan: ${reason}`);
    step('plan');

    // 5. Train with auto.
    await page.locator('#train-button').click();
    await page.locator('#progress:not([hidden])').waitFor();
    await page.locator('#accuracy').waitFor({ timeout: 120_000 });
    step('training');

    // 6. The results say what made them and which photos each number is on.
    const results = await sb.api('GET', `${projectPath(PROJECT)}/results`);
    assert.equal(await page.getByTestId('result-backbone').textContent(), BACKBONE);
    assert.equal(await page.getByTestId('result-rung').textContent(), choice, "auto trained the plan's choice");
    assert.equal(results.rung, choice);
    const total = 2 * PER_CLASS + frames;
    assert.equal(results.trainImages + results.valImages, total, 'train + validation = every photo');
    const provenance = (await page.getByTestId('provenance').innerText()).split('\n');
    for (const line of provenance) t.diagnostic(`provenance: ${line}`);
    const rungName = {
      head: 'rung 1: a new last layer on the frozen network',
      partial: 'rung 2: the last blocks fine-tuned',
      full: 'rung 3: the whole network fine-tuned',
    }[choice!];
    assert.ok(provenance[0].startsWith(`Backbone ${BACKBONE}, ${rungName} (auto: `), provenance[0]);
    assert.match(provenance[1], /^Trained in \d+\.\d s \(describing photos \d+\.\d s, training \d+\.\d s\)\.$/);
    assert.equal(
      provenance[2],
      `Accuracy, per-class numbers and the confusion matrix: on the ${results.valImages} held-out photos of the validation split, never used in training; trained on ${results.trainImages} photos.`,
    );
    assert.match(
      provenance.slice(3).join('\n'),
      /chosen on (cross-validation over the training split|\d+ training photos held out)/,
    );
    assert.match(provenance.at(-1)!, /^The unknown flag's threshold: calibrated on /);
    const accuracy = Number(await page.locator('#accuracy').getAttribute('data-value'));
    t.diagnostic(`accuracy on the page: ${accuracy} (server ${results.accuracy})`);
    assert.equal(accuracy, results.accuracy);
    assert.ok(accuracy >= 0.8, `ants, cats and webcam frames apart: accuracy ${accuracy}`);
    assert.equal(await page.locator('table.per-class tbody tr').count(), 3);

    // 7. Try it with a photo it never saw.
    const [cat] = await photos('cats_and_dogs_filtered/val/cats', 0, 1);
    await page.locator('#try-file').setInputFiles(cat);
    await page.locator('#try-top-label').waitFor();
    assert.equal(await page.locator('#try-top-label').innerText(), 'cats');
    assert.equal(await page.locator('#try-result .bars li').count(), 3);
    step('results and Try it');

    // 8. Export ONNX and TF.js from the page; download each, unpack it, and run it with the page's browser snippet
    // in a second page: the same top-1 as the server's predict on 10 photos.
    const checkPhotos = [
      ...(await photos('hymenoptera_data/val/ants', 0, 5)),
      ...(await photos('cats_and_dogs_filtered/val/cats', 0, 5)),
    ];
    const byServer = await serverTop1(sb.server.url, PROJECT, checkPhotos);
    for (const format of ['onnx', 'tfjs'] as const) {
      await page.click(`#export-${format}`);
      const check = page.getByTestId(`export-check-${format}`);
      await check.waitFor({ timeout: 120_000 });
      assert.match((await check.textContent()) ?? '', /same top class as the classifier on 100\.0%/);
      const [download] = await Promise.all([
        page.waitForEvent('download'),
        page.getByTestId(`export-download-${format}`).click(),
      ]);
      assert.match(download.suggestedFilename(), /\.tar$/);
      const dir = join(sb.work, `download-${format}`);
      await mkdir(dir);
      await download.saveAs(join(dir, download.suggestedFilename()));
      const unpacked = untar(join(dir, download.suggestedFilename()), dir);
      const snippet = (await page.getByTestId(`snippet-${format}-browser`).textContent()) ?? '';
      assert.match(snippet, format === 'onnx' ? /onnxruntime-web@[\d.]+/ : /@tensorflow\/tfjs@[\d.]+/);
      const inPage = await runSnippetInPage(context, sb.server.url, snippet, unpacked, checkPhotos);
      t.diagnostic(`${format}: server ${byServer.join(',')}; snippet ${inPage.join(',')}`);
      assert.deepEqual(inPage, byServer, `the ${format} export in a page agrees with the server`);
      step(`${format} export, download and snippet`);
    }

    // 9. Keyboard only, from a fresh page load to the Train button.
    await page.goto(`${sb.server.url}/`);
    await page.locator('#project-list a', { hasText: PROJECT }).waitFor();
    const walk = tabWalk(page, MAX_TABS);
    await walk.to('the project link', (el) => el.matches('#project-list a') && el.textContent!.includes('classifier'));
    await page.keyboard.press('Enter');
    await page.locator('#project-title', { hasText: PROJECT }).waitFor();
    await walk.to('the Train section link', (el) => el.matches('.section-nav a') && el.textContent === 'Train');
    await page.keyboard.press('Enter');
    await walk.to('the Train button', (el) => el.id === 'train-button');
    t.diagnostic(`Tabs from page load to Train: ${walk.tabs} (${walk.trail.join(' → ')})`);
    assert.ok(walk.tabs <= MAX_TABS);
    assert.equal(await focusedElement(page), "button#train-button 'Train'");
    assert.equal(await page.locator('#train-button').isEnabled(), true);

    // 10. axe-core on the page as the user leaves it (results, exports, plan).
    await page.locator('#accuracy').waitFor();
    await page.locator('[data-testid=export-check-tfjs]').waitFor();
    assert.deepEqual(await axeSerious(page), [], 'axe: serious or critical violations at the end');
    assert.deepEqual(pageErrors, [], 'no JavaScript errors on the page');
    step('keyboard and axe');
    t.diagnostic(`whole flow: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  } finally {
    await context.close();
  }
});
