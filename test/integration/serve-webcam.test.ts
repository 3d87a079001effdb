// A class's webcam capture in headless Chromium (playwright-core + Debian's /usr/bin/chromium, Chromium's fake camera)
// against a real tl server: hold to record (pointer, then Space held), the frames shown are the photos the server
// lists, real JPEGs of the camera's size, uploaded in batches; one camera at a time, stopped on close and when the page
// hides; a denied camera says so beside the button and uploads nothing.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import sharp from 'sharp';
import { ROOT } from '../helpers.js';
import {
  CHROMIUM,
  LAUNCH_ARGS,
  projectPath,
  startServeBrowser,
  watchPage,
  type ServeBrowser,
} from './serve-browser.js';

/** The upload batch of classes.ts: a hold of more frames than this makes more than one request, never one a frame. */
const BATCH = 16;
/** Screenshots are kept after the run (for people to look at), beside serve-e2e's. */
const SHOTS = join(tmpdir(), 'tl-serve-e2e-screenshots');

let sb: ServeBrowser;
/** The fake camera, but no fake permission prompt: a context is allowed the camera only if the test grants it. */
let browser: Browser;

const classImages = async (project: string, cls: string) =>
  (await sb.api<{ images: { file: string; url: string }[] }>('GET', `${projectPath(project)}/images?class=${cls}`))
    .images;
const setupProject = (name: string, classes: string[]) =>
  sb.setupProject(name, Object.fromEntries(classes.map((c) => [c, []])));

/** The page on a project, with its JavaScript errors and the photo uploads it sends (per class). */
async function openPage(context: BrowserContext, project: string) {
  const page = await context.newPage();
  const pageErrors = watchPage(page);
  const uploads: string[] = [];
  page.on('request', (r) => {
    const m = /\/classes\/([^/]+)\/images$/.exec(new URL(r.url()).pathname);
    if (r.method() === 'POST' && m) uploads.push(decodeURIComponent(m[1]));
  });
  await page.goto(`${sb.server.url}/#/p/${encodeURIComponent(project)}`);
  await page.locator('#project-title', { hasText: project }).waitFor();
  return { page, pageErrors, uploads };
}

const card = (page: Page, cls: string) => page.locator(`article[data-class="${cls}"]`);
const toggle = (page: Page, cls: string) => card(page, cls).locator('.webcam-toggle');
const record = (page: Page, cls: string) => card(page, cls).getByRole('button', { name: /Hold to record|Recording/ });

/** Open a class's webcam panel and wait until its preview shows the camera. */
async function openWebcam(page: Page, cls: string): Promise<void> {
  await toggle(page, cls).click();
  await card(page, cls).locator('.webcam-panel').waitFor();
  await page.waitForFunction((c) => {
    const v = document.querySelector<HTMLVideoElement>(`article[data-class="${c}"] .webcam-video`);
    const s = v?.srcObject as MediaStream | null | undefined;
    return !!s && s.getVideoTracks()[0]?.readyState === 'live' && v!.videoWidth > 0;
  }, cls);
  assert.equal(await record(page, cls).isEnabled(), true);
  assert.equal(await toggle(page, cls).getAttribute('aria-expanded'), 'true');
}

/** The frame count the panel shows. */
async function shownFrames(page: Page, cls: string): Promise<number> {
  const text = await card(page, cls).getByTestId('webcam-count').innerText();
  const m = /^(\d+) frames?$/.exec(text);
  assert.ok(m, `frame count text: ${text}`);
  return Number(m[1]);
}

/** Keep the panel's stream reachable from the test after the page let go of it. */
const stashStream = (page: Page, cls: string, key: string) =>
  page.evaluate(
    ([c, k]) => {
      const v = document.querySelector<HTMLVideoElement>(`article[data-class="${c}"] .webcam-video`)!;
      (window as any)[k] = v.srcObject;
    },
    [cls, key],
  );
const streamEnded = (page: Page, key: string) =>
  page.evaluate((k) => {
    const s = (window as any)[k] as MediaStream;
    return s.getTracks().length > 0 && s.getTracks().every((t) => t.readyState === 'ended');
  }, key);

before(async () => {
  sb = await startServeBrowser('tl-serve-webcam-');
  await mkdir(SHOTS, { recursive: true });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [...LAUNCH_ARGS, '--use-fake-device-for-media-stream'],
  });
});

after(async () => {
  await browser?.close();
  await sb?.close();
});

test('hold to record: the frames shown are the photos stored, JPEGs of the camera size, uploaded in batches', async (t) => {
  const name = 'Webcam capture';
  await setupProject(name, ['ants', 'bees']);
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  await context.grantPermissions(['camera'], { origin: sb.server.url });
  const { page, pageErrors, uploads } = await openPage(context, name);
  try {
    await openWebcam(page, 'ants');
    const transform = await card(page, 'ants')
      .locator('.webcam-video')
      .evaluate((v) => getComputedStyle(v).transform);
    assert.equal(transform, 'matrix(-1, 0, 0, 1, 0, 0)', 'the preview is mirrored');
    const size = await card(page, 'ants')
      .locator('.webcam-video')
      .evaluate((v: HTMLVideoElement) => ({ width: v.videoWidth, height: v.videoHeight }));

    // Hold with the pointer for 1.5 s: the count runs while held.
    const box = (await record(page, 'ants').boundingBox())!;
    await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
    await page.mouse.down();
    assert.equal(await record(page, 'ants').getAttribute('aria-pressed'), 'true');
    await page.waitForTimeout(700);
    const midway = await shownFrames(page, 'ants');
    await page.waitForTimeout(800);
    await page.mouse.up();
    assert.equal(await record(page, 'ants').getAttribute('aria-pressed'), 'false');
    const first = await shownFrames(page, 'ants');
    t.diagnostic(`1.5 s pointer hold: ${midway} frames at 0.7 s, ${first} at release`);
    assert.ok(midway > 0 && midway < first, `the count is live (${midway} then ${first})`);
    assert.ok(first > 5 && first <= 14, `about 8 frames a second: ${first} in 1.5 s`);

    await card(page, 'ants')
      .getByTestId('class-count')
      .filter({ hasText: `${first} photos` })
      .waitFor();
    await card(page, 'ants')
      .locator('.webcam-status', { hasText: `Added ${first} photos to “ants”` })
      .waitFor();
    let stored = await classImages(name, 'ants');
    assert.equal(stored.length, first, 'the server lists as many photos as the frames shown');
    assert.deepEqual(uploads, ['ants'], `one upload request for ${first} frames`);
    assert.equal((await classImages(name, 'bees')).length, 0);

    const encoders = await page.evaluate(() =>
      performance.getEntriesByType('resource').filter((r) => /jpeg-worker/.test(r.name)),
    );
    assert.equal(encoders.length, 1, 'the frames were encoded by the JPEG worker');

    // Each frame is a JPEG of the camera's size, in the camera's own orientation (the mirroring is the preview's).
    for (const img of stored) {
      const bytes = Buffer.from(await (await fetch(`${sb.server.url}${img.url}`)).arrayBuffer());
      const meta = await sharp(bytes).metadata();
      assert.equal(meta.format, 'jpeg', img.file);
      assert.deepEqual({ width: meta.width, height: meta.height }, size, img.file);
      assert.match(img.file, /^[0-9a-f]{16}\.jpg$/);
    }

    // Second hold, with Space held on the focused button until there are more frames than one upload batch takes
    // (about 2 s at 8 a second; a busy machine's camera may deliver fewer new frames), adds more.
    await record(page, 'ants').focus();
    const held = Date.now();
    await page.keyboard.down(' ');
    assert.equal(await record(page, 'ants').getAttribute('aria-pressed'), 'true');
    await page.waitForFunction(
      (n) => Number(/\d+/.exec(document.querySelector('[data-testid=webcam-count]')!.textContent!)![0]) > n,
      BATCH,
      { timeout: 10_000 },
    );
    await page.keyboard.up(' ');
    assert.equal(await record(page, 'ants').getAttribute('aria-pressed'), 'false');
    const second = await shownFrames(page, 'ants');
    t.diagnostic(`Space hold: ${second} frames in ${Date.now() - held} ms`);
    assert.ok(second > BATCH, `${second} frames`);
    await card(page, 'ants')
      .getByTestId('class-count')
      .filter({ hasText: `${first + second} photos` })
      .waitFor();
    stored = await classImages(name, 'ants');
    assert.equal(stored.length, first + second, 'the second hold added its frames');
    assert.equal(uploads.length, 1 + Math.ceil(second / BATCH), `batched: ${uploads.length} requests in all`);
    assert.equal(await page.evaluate(() => document.activeElement?.textContent), 'Hold to record', 'focus kept');

    // A screen reader's activation is a plain click: it toggles recording.
    await record(page, 'ants').evaluate((b: HTMLButtonElement) => b.click());
    assert.equal(await record(page, 'ants').getAttribute('aria-pressed'), 'true');
    await page.waitForFunction(() => /^[1-9]/.test(document.querySelector('[data-testid=webcam-count]')!.textContent!));
    await record(page, 'ants').evaluate((b: HTMLButtonElement) => b.click());
    assert.equal(await record(page, 'ants').getAttribute('aria-pressed'), 'false');
    const third = await shownFrames(page, 'ants');
    await card(page, 'ants')
      .getByTestId('class-count')
      .filter({ hasText: `${first + second + third} photos` })
      .waitFor();

    // The open panel fits a 375 px wide phone.
    await card(page, 'ants').screenshot({ path: join(SHOTS, 'webcam-panel-1280.png') });
    await page.setViewportSize({ width: 375, height: 800 });
    await card(page, 'ants').screenshot({ path: join(SHOTS, 'webcam-panel-375.png') });
    const widths = await page.evaluate(() => [document.documentElement.scrollWidth, window.innerWidth]);
    assert.ok(widths[0] <= widths[1], `page ${widths[0]}px wide in a ${widths[1]}px window`);
    await page.setViewportSize({ width: 1280, height: 900 });

    // Closing the panel stops the camera.
    await stashStream(page, 'ants', 'antsStream');
    await card(page, 'ants').locator('.webcam-panel').getByRole('button', { name: 'Close webcam' }).click();
    await card(page, 'ants').locator('.webcam-panel').waitFor({ state: 'detached' });
    assert.equal(await streamEnded(page, 'antsStream'), true, 'closing the panel stops every track');
    assert.equal(await toggle(page, 'ants').getAttribute('aria-expanded'), 'false');

    // One camera at a time: opening bees' webcam stops ants'.
    await openWebcam(page, 'ants');
    await stashStream(page, 'ants', 'antsStream2');
    await openWebcam(page, 'bees');
    assert.equal(await streamEnded(page, 'antsStream2'), true, "ants' stream stopped when bees' opened");
    assert.equal(await card(page, 'ants').locator('.webcam-panel').count(), 0);

    // The open panel passes axe's checks.
    await page.addScriptTag({ path: join(ROOT, 'node_modules/axe-core/axe.min.js') });
    const violations = await page.evaluate(async () => {
      const r = await (window as any).axe.run('article[data-class="bees"]');
      return r.violations.map((v: { id: string; nodes: unknown[] }) => `${v.id} (${v.nodes.length})`);
    });
    assert.deepEqual(violations, [], 'axe violations in the class card with its webcam open');

    // Leaving the project stops the camera; back on it, the panel is closed.
    await stashStream(page, 'bees', 'beesStream1');
    await page.evaluate(() => (location.hash = '#'));
    await page.getByRole('heading', { name: /Teach the computer/ }).waitFor();
    assert.equal(await streamEnded(page, 'beesStream1'), true, 'leaving the project stops the camera');
    await page.evaluate((n) => (location.hash = `#/p/${encodeURIComponent(n)}`), name);
    await card(page, 'bees').waitFor();
    assert.equal(await page.locator('.webcam-panel').count(), 0);
    await openWebcam(page, 'bees');

    // A hidden page keeps no camera.
    await stashStream(page, 'bees', 'beesStream');
    await page.evaluate(() => {
      Object.defineProperty(document, 'visibilityState', { value: 'hidden', configurable: true });
      document.dispatchEvent(new Event('visibilitychange'));
    });
    assert.equal(await streamEnded(page, 'beesStream'), true, 'a hidden page stops the camera');
    await card(page, 'bees').screenshot({ path: join(SHOTS, 'webcam-closed-1280.png') });
    assert.equal(await card(page, 'bees').locator('.webcam-panel').count(), 0);
    assert.equal((await classImages(name, 'bees')).length, 0, 'opening and closing uploads nothing');
    assert.deepEqual(pageErrors, [], 'no JavaScript errors on the page');
  } finally {
    await context.close();
  }
});

test('a denied camera is said beside the Webcam button, and nothing is uploaded', async () => {
  const name = 'Webcam denied';
  await setupProject(name, ['ants']);
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } }); // camera not granted
  const { page, pageErrors, uploads } = await openPage(context, name);
  try {
    await toggle(page, 'ants').click();
    const message = card(page, 'ants').locator('.webcam-area .camera-error');
    await message.waitFor();
    assert.match(await message.innerText(), /^Camera access was denied\. Allow the camera for this site/);
    assert.equal(await message.getAttribute('role'), 'alert');
    await card(page, 'ants').screenshot({ path: join(SHOTS, 'webcam-denied-1280.png') });
    const describedBy = await toggle(page, 'ants').getAttribute('aria-describedby');
    assert.equal(describedBy, await message.getAttribute('id'), 'the button is described by the message');
    assert.equal(await toggle(page, 'ants').getAttribute('aria-expanded'), 'false');
    assert.equal(await card(page, 'ants').locator('.webcam-panel').count(), 0);
    assert.doesNotMatch(await page.locator('#status').innerText(), /camera/i, 'not in the status line at the top');
    await page.waitForTimeout(300);
    assert.deepEqual(uploads, []);
    assert.equal((await classImages(name, 'ants')).length, 0);
    assert.deepEqual(pageErrors, [], 'no JavaScript errors on the page');
  } finally {
    await context.close();
  }
});
