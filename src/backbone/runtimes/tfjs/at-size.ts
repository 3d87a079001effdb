// A fresh copy of a TF.js layers backbone at another input size, for exporting a tail trained at that size.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type * as tfType from '@tensorflow/tfjs';
import { resolveModel } from '../../resolve.js';
import { tfWasm } from './tfjs.js';
import type { ModelEntry } from '../../types.js';

/** The model's TF.js layers model at `size` px (the InputLayer's batch shape rewritten: convs and pools follow). */
export async function loadTfjsAtSize(entry: ModelEntry, size: number): Promise<tfType.LayersModel> {
  const tf: typeof tfType = await tfWasm();
  const { dir } = await resolveModel(entry);
  const json = JSON.parse(await readFile(join(dir, entry.entry), 'utf8'));
  const setInput = (o: unknown): void => {
    if (!o || typeof o !== 'object') return;
    const r = o as Record<string, unknown>;
    if (r.class_name === 'InputLayer' && r.config && typeof r.config === 'object') {
      const c = r.config as Record<string, unknown>;
      const key = 'batch_input_shape' in c ? 'batch_input_shape' : 'batchInputShape';
      const s = c[key] as (number | null)[] | undefined;
      if (s?.length === 4) c[key] = [s[0], size, size, s[3]];
    }
    for (const v of Object.values(r)) setInput(v);
  };
  setInput(json.modelTopology);
  const manifest: { paths: string[]; weights: tfType.io.WeightsManifestEntry[] }[] = json.weightsManifest;
  const shards = await Promise.all(manifest.flatMap((g) => g.paths).map((p) => readFile(join(dir, p))));
  const all = Buffer.concat(shards);
  const weightData = all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength);
  return tf.loadLayersModel(
    tf.io.fromMemory({
      modelTopology: json.modelTopology,
      weightSpecs: manifest.flatMap((g) => g.weights),
      weightData,
    }),
  );
}
