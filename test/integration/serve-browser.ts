// The set-up the Chromium tests of the web app share (serve-e2e's, as functions): the built page, a real `tl serve` in a
// temp dir, Debian's Chromium through playwright-core, and a project made through the API.
import assert from 'node:assert/strict';
import { existsSync, statSync } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { env } from '../../src/util/env.js';
import { startServer, type TlServer } from '../../src/serve/server.js';
import { cleanup, MODELS_DIR, ROOT, tempDir } from '../helpers.js';

export const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const WEB_SRC = join(ROOT, 'web');
const WEB_OUT = join(ROOT, 'dist/web');

/** Chromium's fake camera (a moving test pattern), with no permission prompt of its own. */
export const FAKE_CAMERA_ARGS = ['--use-fake-device-for-media-stream'];

export const LAUNCH_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

async function newestMtime(dir: string): Promise<number> {
  let newest = 0;
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    newest = Math.max(newest, e.isDirectory() ? await newestMtime(p) : (await stat(p)).mtimeMs);
  }
  return newest;
}

/** Build the web app with Vite unless dist/web is newer than every source file. */
export async function ensureWebBuilt(): Promise<void> {
  const index = join(WEB_OUT, 'index.html');
  if (existsSync(index) && statSync(index).mtimeMs >= (await newestMtime(WEB_SRC))) return;
  const { build } = await import('vite');
  await build({ root: WEB_SRC, logLevel: 'warn', build: { outDir: WEB_OUT, emptyOutDir: true } });
}

export interface ServeBrowser {
  work: string;
  server: TlServer;
  browser: Browser;
  /** A JSON call to the test server from Node (to set up, and to check what the page did). */
  api<T = any>(method: string, path: string, body?: object | FormData): Promise<T>;
  /** A project with these classes, each with these photos (sent through the API). */
  setupProject(name: string, classes: Record<string, string[]>): Promise<void>;
  close(): Promise<void>;
}

export const projectPath = (name: string) => `/v1/projects/${encodeURIComponent(name)}`;

/** `extraArgs`: more Chromium flags (e.g. FAKE_CAMERA_ARGS for a camera; grant it per context). */
export async function startServeBrowser(prefix: string, extraArgs: string[] = []): Promise<ServeBrowser> {
  assert.ok(existsSync(CHROMIUM), `Chromium not found at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH)`);
  const work = await tempDir(prefix);
  env.cacheDir = join(work, 'cache');
  env.modelsDir = MODELS_DIR;
  env.allowDownloads = false;
  await ensureWebBuilt();
  const server = await startServer({ port: 0, projectsDir: join(work, 'projects') });
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: [...LAUNCH_ARGS, ...extraArgs] });
  const api = async <T>(method: string, path: string, body?: object | FormData): Promise<T> => {
    const init: RequestInit = { method };
    if (body instanceof FormData) init.body = body;
    else if (body) {
      init.body = JSON.stringify(body);
      init.headers = { 'content-type': 'application/json' };
    }
    const res = await fetch(`${server.url}${path}`, init);
    const text = await res.text();
    assert.ok(res.ok, `${method} ${path}: ${res.status} ${text.slice(0, 300)}`);
    return (text ? JSON.parse(text) : undefined) as T;
  };
  const setupProject = async (name: string, classes: Record<string, string[]>): Promise<void> => {
    await api('POST', '/v1/projects', { name });
    for (const [cls, paths] of Object.entries(classes)) {
      await api('POST', `${projectPath(name)}/classes`, { name: cls });
      if (!paths.length) continue;
      const form = new FormData();
      for (const f of paths)
        form.append('file', new Blob([await readFile(f)], { type: 'image/jpeg' }), f.split('/').pop());
      await api('POST', `${projectPath(name)}/classes/${encodeURIComponent(cls)}/images`, form);
    }
  };
  const close = async () => {
    await browser.close();
    await server.close();
    await cleanup(work);
  };
  return { work, server, browser, api, setupProject, close };
}

/** Collect the page's JavaScript errors, and accept its confirm() questions. */
export function watchPage(page: Page): string[] {
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('dialog', (d) => void d.accept());
  return errors;
}

const AXE = join(ROOT, 'node_modules/axe-core/axe.min.js');

/** The focused element, as "tag#id 'name'" (aria-label, else its text). */
export const focusedElement = (page: Page) =>
  page.evaluate(() => {
    const a = document.activeElement as HTMLElement | null;
    if (!a || a === document.body) return 'body';
    const name = a.getAttribute('aria-label') ?? a.textContent?.trim().replace(/\s+/g, ' ').slice(0, 40) ?? '';
    return `${a.tagName.toLowerCase()}${a.id ? `#${a.id}` : ''} '${name}'`;
  });

/** axe-core's serious and critical violations on the page as it is now (one line each). */
export async function axeSerious(page: Page): Promise<string[]> {
  if (!(await page.evaluate(() => 'axe' in window))) await page.addScriptTag({ path: AXE });
  const violations = await page.evaluate(async () => {
    const r = await (window as any).axe.run(document, { resultTypes: ['violations'] });
    return r.violations.map((v: any) => ({
      id: v.id,
      impact: v.impact,
      nodes: v.nodes.map((n: any) => n.target.join(' ')),
    }));
  });
  return violations
    .filter((v: { impact: string }) => v.impact === 'serious' || v.impact === 'critical')
    .map((v: any) => `${v.impact} ${v.id}: ${v.nodes.slice(0, 3).join(', ')}`);
}

/** Tab presses counted from page load: `to` tabs until `isThere` holds for the focused element, failing past `max`. */
export function tabWalk(page: Page, max: number) {
  const walk = {
    tabs: 0,
    trail: [] as string[],
    async to(what: string, isThere: (el: Element) => boolean): Promise<void> {
      for (;;) {
        await page.keyboard.press('Tab');
        walk.tabs++;
        walk.trail.push(await focusedElement(page));
        const active = await page.evaluateHandle(() => document.activeElement!);
        if (await active.evaluate(isThere)) return;
        assert.ok(walk.tabs < max, `${what} not reached in ${max} Tabs: ${walk.trail.join(' → ')}`);
      }
    },
  };
  return walk;
}

/**
 * Drop these files on an element as a user dragging them from the desktop would (a synthetic DataTransfer):
 * whether its class card was highlighted while dragged over, and after the drop.
 */
export async function dropFiles(page: Page, selector: string, paths: string[]) {
  const payload = await Promise.all(
    paths.map(async (f) => ({ name: f.split('/').pop()!, b64: (await readFile(f)).toString('base64') })),
  );
  return page.locator(selector).evaluate((el, items) => {
    const dt = new DataTransfer();
    for (const { name, b64 } of items) {
      const bytes = Uint8Array.from(atob(b64), (ch) => ch.charCodeAt(0));
      dt.items.add(new File([bytes], name, { type: 'image/jpeg' }));
    }
    const card = el.closest('article')!;
    el.dispatchEvent(new DragEvent('dragenter', { dataTransfer: dt, bubbles: true, cancelable: true }));
    el.dispatchEvent(new DragEvent('dragover', { dataTransfer: dt, bubbles: true, cancelable: true }));
    const highlighted = card.classList.contains('dragging');
    el.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
    return { highlighted, after: card.classList.contains('dragging') };
  }, payload);
}

/** Where the export snippets' CDN URLs point, answered from node_modules (the test machine has no internet). */
const CDN_LIBRARIES: [RegExp, string][] = [
  [/onnxruntime-web@[\d.]+\/dist\/([^?]+)/, join(ROOT, 'node_modules/onnxruntime-web/dist')],
  [/@tensorflow\/tfjs@[\d.]+\/dist\/([^?]+)/, join(ROOT, 'node_modules/@tensorflow/tfjs/dist')],
];

/**
 * Run an export the way its browser snippet says: the snippet as index.html beside the export's files (`files`: a
 * folder, e.g. the unpacked .tar, or a function fetching a file by name), in a new page of `context`; the top-1 label
 * of each photo through the snippet's classify(). The page's JavaScript errors fail the call.
 */
export async function runSnippetInPage(
  context: BrowserContext,
  origin: string,
  snippet: string,
  files: string | ((name: string) => Promise<{ status: number; body: Buffer }>),
  photos: string[],
): Promise<string[]> {
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  try {
    for (const [url, dir] of CDN_LIBRARIES)
      await page.route(url, async (route) => {
        const name = url.exec(route.request().url())![1];
        const type = name.endsWith('.wasm') ? 'application/wasm' : 'text/javascript';
        await route.fulfill({ body: await readFile(join(dir, name)), contentType: type });
      });
    await page.route(`${origin}/page/**`, async (route) => {
      const name = decodeURIComponent(route.request().url().split('/page/')[1].split('?')[0]);
      if (name === 'index.html') return route.fulfill({ body: snippet, contentType: 'text/html' });
      const photo = /^photo-(\d+)\.jpg$/.exec(name);
      if (photo) return route.fulfill({ body: await readFile(photos[Number(photo[1])]), contentType: 'image/jpeg' });
      if (typeof files === 'function') return route.fulfill(await files(name));
      const path = join(files, name);
      if (name.includes('..') || !existsSync(path)) return route.fulfill({ status: 404 });
      await route.fulfill({ body: await readFile(path) });
    });
    await page.goto(`${origin}/page/index.html`);
    await page.waitForFunction(() => typeof (window as any).classify === 'function', undefined, { timeout: 60_000 });
    const labels = await page.evaluate(async (n) => {
      const out: string[] = [];
      for (let i = 0; i < n; i++) out.push((await (window as any).classify(`photo-${i}.jpg`)).label);
      return out;
    }, photos.length);
    assert.deepEqual(errors, [], 'no JavaScript errors in the snippet page');
    return labels;
  } finally {
    await page.close();
  }
}

/** The server's top-1 label for each photo (POST .../predict). */
export async function serverTop1(origin: string, project: string, photos: string[]): Promise<string[]> {
  const labels: string[] = [];
  for (const f of photos) {
    const res = await fetch(`${origin}${projectPath(project)}/predict`, {
      method: 'POST',
      body: await readFile(f),
      headers: { 'content-type': 'image/jpeg' },
    });
    assert.ok(res.ok, `predict ${f}: ${res.status}`);
    labels.push(((await res.json()) as { label: string }).label);
  }
  return labels;
}
