// The set-up the Chromium tests of the web app share (serve-e2e's, as functions): the built page, a real `tl serve` in a
// temp dir, Debian's Chromium through playwright-core, and a project made through the API.
import assert from 'node:assert/strict';
import { existsSync, statSync } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { env } from '../../src/util/env.js';
import { startServer, type TlServer } from '../../src/serve/server.js';
import { cleanup, MODELS_DIR, ROOT, tempDir } from '../helpers.js';

export const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const WEB_SRC = join(ROOT, 'web');
const WEB_OUT = join(ROOT, 'dist/web');

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

export async function startServeBrowser(prefix: string): Promise<ServeBrowser> {
  assert.ok(existsSync(CHROMIUM), `Chromium not found at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH)`);
  const work = await tempDir(prefix);
  env.cacheDir = join(work, 'cache');
  env.modelsDir = MODELS_DIR;
  env.allowDownloads = false;
  await ensureWebBuilt();
  const server = await startServer({ port: 0, projectsDir: join(work, 'projects') });
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: LAUNCH_ARGS });
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
