// ImageNet class names, in the order each head emits them.
import { readFileSync } from 'node:fs';
import { assetPath } from '../util/assets.js';
import type { HeadSpec } from './types.js';

const cache = new Map<string, string[]>();
function lines(name: string): string[] {
  let v = cache.get(name);
  if (!v) {
    v = readFileSync(assetPath(`labels/${name}.txt`), 'utf8')
      .split('\n')
      .map((s) => s.trim())
      .filter(Boolean);
    cache.set(name, v);
  }
  return v;
}

/** WordNet ids in the head's output order. */
export function headSynsets(head: HeadSpec): string[] {
  return lines(head.synsets);
}

/** Human-readable names in the head's output order. */
export function headLabels(head: HeadSpec): string[] {
  const std = lines('imagenet-synsets');
  const names = lines('imagenet-labels');
  if (head.synsets === 'imagenet-synsets') return names;
  const byWnid = new Map(std.map((w, i) => [w, names[i]]));
  return lines(head.synsets).map((w) => byWnid.get(w) ?? w);
}
