// One place for every path the toolkit reads or writes (the Transformers.js `env` idea): models, caches, datasets.
// Each can be set by environment variable or by assigning to `env` from the library before first use.
import { homedir } from 'node:os';
import { join } from 'node:path';

function xdgCache(): string {
  return process.env.XDG_CACHE_HOME || join(homedir(), '.cache');
}

export const env = {
  /** A folder holding `<model folder>/` copies of the zoo (like ../shared/models); checked before the user cache. */
  modelsDir: process.env.TL_MODELS_DIR || '',
  /** The user cache: downloaded models and the feature store live here. */
  cacheDir: process.env.TL_CACHE_DIR || join(xdgCache(), 'tl'),
  /** A folder holding `<dataset>/` copies (like ../shared/datasets); checked before downloading a demo dataset. */
  datasetsDir: process.env.TL_DATASETS_DIR || '',
  /** Allow network downloads of models and datasets (TL_OFFLINE=1 forbids them). */
  allowDownloads: process.env.TL_OFFLINE !== '1',
};

export function modelCacheDir(): string {
  return join(env.cacheDir, 'models');
}
export function featureStorePath(): string {
  return process.env.TL_FEATURE_STORE || join(env.cacheDir, 'features.sqlite');
}
export function datasetCacheDir(): string {
  return join(env.cacheDir, 'datasets');
}
