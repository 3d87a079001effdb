// ImageNet top-k with a backbone's original 1000-way head: the check that a backbone is loaded and fed correctly.
import type { PretrainedBackbone } from './types.js';
import { headLabels, headSynsets } from './labels.js';
import { preprocess } from '../data/image.js';
import { topK } from '../util/math.js';
import type { SkippedFile } from '../data/files.js';

export interface ImagenetPrediction {
  label: string;
  synset: string;
  index: number;
  probability: number;
}

export interface ClassifiedFile {
  path: string;
  predictions: ImagenetPrediction[];
}

export async function classifyImagenet(
  backbone: PretrainedBackbone,
  paths: string[],
  opts: {
    top?: number;
    batchSize?: number;
    onSkip?: (s: SkippedFile) => void;
    onProgress?: (done: number) => void;
  } = {},
): Promise<{ results: ClassifiedFile[]; skipped: SkippedFile[] }> {
  const labels = headLabels(backbone.entry.head);
  const synsets = headSynsets(backbone.entry.head);
  const top = opts.top ?? 5;
  const batchSize = opts.batchSize ?? 16;
  const results: ClassifiedFile[] = [];
  const skipped: SkippedFile[] = [];
  for (let i = 0; i < paths.length; i += batchSize) {
    const chunk = paths.slice(i, i + batchSize);
    const decoded = await Promise.all(
      chunk.map((p) =>
        preprocess(p, backbone.input).then(
          (x) => ({ p, x }),
          (e: Error) => ({ p, error: e.message }),
        ),
      ),
    );
    const ok = decoded.filter((d): d is { p: string; x: Float32Array } => 'x' in d);
    for (const d of decoded)
      if ('error' in d) {
        const s = { path: d.p, reason: d.error };
        skipped.push(s);
        opts.onSkip?.(s);
      }
    if (ok.length) {
      const { probabilities } = await backbone.embedAndClassify(ok.map((d) => d.x));
      ok.forEach((d, j) => {
        const probs = probabilities[j];
        // A 1001-way head (background at 0) is mapped by its synset list; names follow the same order.
        results.push({
          path: d.p,
          predictions: topK(probs, top).map((k) => ({
            label: labels[k],
            synset: synsets[k],
            index: k,
            probability: probs[k],
          })),
        });
      });
    }
    opts.onProgress?.(Math.min(paths.length, i + batchSize));
  }
  return { results, skipped };
}
