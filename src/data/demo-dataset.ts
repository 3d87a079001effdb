// The built-in demo dataset (PyTorch tutorial's ants vs bees): found in TL_DATASETS_DIR, the cache, or downloaded
// from its canonical URL. The zip is re-packed upstream from time to time, so instead of one archive hash every
// extracted photo is checked against the sha256 list shipped in assets/datasets/.
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import extractZip from 'extract-zip';
import { env, datasetCacheDir } from '../util/env.js';
import { assetPath } from '../util/assets.js';
import { sha256File } from '../util/hash.js';
import { TlError } from '../util/errors.js';

export interface DemoDataset {
  name: string;
  url: string;
  /** Folder inside the zip that holds train/ and val/. */
  zipRoot: string;
}

export const DEMO_DATASET: DemoDataset = {
  name: 'hymenoptera_data',
  url: 'https://download.pytorch.org/tutorial/hymenoptera_data.zip',
  zipRoot: 'hymenoptera_data',
};

function manifest(ds: DemoDataset): { sha256: string; path: string }[] {
  return readFileSync(assetPath(`datasets/${ds.name}.sha256`), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => ({ sha256: l.slice(0, 64), path: l.slice(66) }));
}

/** Folder of the demo dataset, downloading and verifying it if needed. */
export async function ensureDemoDataset(ds = DEMO_DATASET, log: (msg: string) => void = () => {}): Promise<string> {
  const local = env.datasetsDir ? join(env.datasetsDir, ds.name) : '';
  if (local && existsSync(join(local, 'train'))) return local;
  const cached = join(datasetCacheDir(), ds.name);
  if (existsSync(join(cached, '.verified'))) return cached;
  if (!env.allowDownloads) {
    throw new TlError(
      `demo dataset ${ds.name} is not on disk and downloads are off`,
      `Set TL_DATASETS_DIR to a folder holding ${ds.name}/, or unset TL_OFFLINE.`,
    );
  }
  await mkdir(datasetCacheDir(), { recursive: true });
  const zipPath = join(datasetCacheDir(), `${ds.name}.${process.pid}.zip`);
  const tmpDir = join(datasetCacheDir(), `${ds.name}.${process.pid}.tmp`);
  try {
    log(`downloading ${ds.url}`);
    let res: Response;
    try {
      res = await fetch(ds.url);
    } catch (err) {
      throw new TlError(
        `cannot download ${ds.url}: ${(err as Error).message}`,
        `No network? Put ${ds.name}/ in a folder and set TL_DATASETS_DIR to it.`,
      );
    }
    if (!res.ok)
      throw new TlError(
        `download of ${ds.url} failed: HTTP ${res.status}`,
        `Set TL_DATASETS_DIR to a folder holding ${ds.name}/.`,
      );
    await writeFile(zipPath, Buffer.from(await res.arrayBuffer()));
    await extractZip(zipPath, { dir: tmpDir });
    const root = join(tmpDir, ds.zipRoot);
    for (const f of manifest(ds)) {
      const p = join(root, f.path);
      if (!existsSync(p))
        throw new TlError(
          `downloaded ${ds.name} is missing ${f.path}`,
          `Download ${ds.url} yourself and set TL_DATASETS_DIR.`,
        );
      if ((await sha256File(p)) !== f.sha256)
        throw new TlError(
          `checksum mismatch for ${f.path} in ${ds.url}`,
          `Set TL_DATASETS_DIR to a good copy of ${ds.name}/.`,
        );
    }
    await writeFile(join(root, '.verified'), new Date().toISOString());
    await rm(cached, { recursive: true, force: true });
    await rename(root, cached);
    return cached;
  } finally {
    await rm(zipPath, { force: true });
    await rm(tmpDir, { recursive: true, force: true });
  }
}
