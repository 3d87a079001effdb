import { fileURLToPath } from 'node:url';
import { dirname, join, resolve } from 'node:path';
import { existsSync } from 'node:fs';

// assets/ sits at the package root; this file runs from src/util (tsx) or dist/src/util (built).
const here = dirname(fileURLToPath(import.meta.url));
const root = [resolve(here, '../..'), resolve(here, '../../..')].find((d) => existsSync(join(d, 'assets')))!;

export function assetPath(name: string): string {
  return join(root, 'assets', name);
}
export function packageRoot(): string {
  return root;
}
