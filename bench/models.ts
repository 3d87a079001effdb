// Which zoo models a benchmark can run here: each found on disk (TL_MODELS_DIR, the user cache) or downloaded when
// online. One that is not gets one line ("skipped MODEL: ...") and is left out of the table, instead of a failing child
// process per measurement, each printing its stack trace (21 of them offline for `npm run bench`'s 7 missing models).
import { findModel } from '../src/backbone/registry.js';
import { locateModel, resolveModel } from '../src/backbone/resolve.js';
import { env } from '../src/util/env.js';
import { TlError } from '../src/util/errors.js';

export interface SkippedModel {
  model: string;
  /** The line printed for it: "skipped MODEL: why — what to do". */
  line: string;
}

/**
 * Why model `id` cannot run here, as one line; undefined when its files are on disk (or were just downloaded). An
 * unknown id throws (a typo in --models stops the bench); a model on disk runs, and its children report any other fault.
 */
export async function modelUnavailable(id: string): Promise<string | undefined> {
  const entry = findModel(id);
  if (locateModel(entry)) return undefined;
  if (!env.allowDownloads)
    return `skipped ${id}: not on disk and offline (TL_OFFLINE) — set TL_MODELS_DIR or go online`;
  try {
    await resolveModel(entry);
    return undefined;
  } catch (e) {
    if (!(e instanceof TlError)) throw e;
    return `skipped ${id}: not on disk and the download failed (${e.message}) — set TL_MODELS_DIR or check the network`;
  }
}

/** The ids that can run, in order, and a line for each of the others. */
export async function availableModels(ids: string[]): Promise<{ ready: string[]; skipped: SkippedModel[] }> {
  const ready: string[] = [];
  const skipped: SkippedModel[] = [];
  for (const id of ids) {
    const line = await modelUnavailable(id);
    if (line) skipped.push({ model: id, line });
    else ready.push(id);
  }
  return { ready, skipped };
}
