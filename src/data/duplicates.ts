// The same photo (byte for byte) filed under two classes: the classifier is asked to give one image two answers, and
// with many such files val accuracy can fall to nothing without any other sign. Found before any training.
import { statSync } from 'node:fs';
import { relative } from 'node:path';
import { hashImageFileSync } from './file-hashes.js';

interface Labelled {
  path: string;
  label: string;
}

/** Every group of identical files that spans two or more classes. */
export function crossClassDuplicates(items: Labelled[]): Labelled[][] {
  // Only files of the same size can be the same bytes: hash just those whose size also occurs under another class,
  // so a typical dataset reads few files here. Their hashes are remembered (file-hashes.ts): extraction, keyed by the
  // same hash, does not read them again.
  const bySize = new Map<number, Labelled[]>();
  for (const it of items) {
    let size: number;
    try {
      const st = statSync(it.path);
      if (!st.isFile()) continue;
      size = st.size;
    } catch {
      continue; // unreadable: the extraction reports it
    }
    const group = bySize.get(size);
    if (group) group.push(it);
    else bySize.set(size, [it]);
  }
  const out: Labelled[][] = [];
  for (const group of bySize.values()) {
    if (!spansClasses(group)) continue;
    const byHash = new Map<string, Labelled[]>();
    for (const it of group) {
      let hash: string;
      try {
        hash = hashImageFileSync(it.path);
      } catch {
        continue;
      }
      byHash.set(hash, [...(byHash.get(hash) ?? []), it]);
    }
    for (const same of byHash.values()) if (spansClasses(same)) out.push(same);
  }
  return out;
}

function spansClasses(group: Labelled[]): boolean {
  return group.length > 1 && new Set(group.map((x) => x.label)).size > 1;
}

/** The dataset warning for those groups (count + the first few), or undefined when there are none. */
export function duplicatesWarning(groups: Labelled[][], root: string, shown = 3): string | undefined {
  if (!groups.length) return undefined;
  const name = (p: string) => {
    const r = relative(root, p);
    return r.startsWith('..') ? p : r;
  };
  const examples = groups
    .slice(0, shown)
    .map((g) => g.map((x) => `${name(x.path)} ("${x.label}")`).join(' = '))
    .join('; ');
  const more = groups.length > shown ? `; and ${groups.length - shown} more` : '';
  return (
    `${groups.length} photo(s) are filed under more than one class (identical files): ${examples}${more}; ` +
    'a classifier cannot learn two labels for one photo, so keep each in its one right class'
  );
}
