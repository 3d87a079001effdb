// A trained tail as data (bundle v2) and back: its variables by name, and the hash that keys its features.
import type * as tfjs from '@tensorflow/tfjs';
import type { TailSnapshot, TrainableTail } from '../backbone/runtimes/types.js';
import { TlError } from '../util/errors.js';
import { sha256 } from '../util/hash.js';

export type { TailSnapshot };

/** Reads the variables asynchronously (a webgpu tensor cannot be read synchronously under Node). */
export async function snapshotTail(t: TrainableTail, imageSize: number): Promise<TailSnapshot> {
  const variables: TailSnapshot['variables'] = [];
  for (const [name, v] of t.variables)
    variables.push({ name, shape: v.shape.slice(), data: Float32Array.from((await v.data()) as Float32Array) });
  return {
    kind: t.kind,
    cut: t.cut,
    inputShape: t.inputShape,
    imageSize,
    featureDim: t.featureDim,
    replace: t.replace,
    variables,
  };
}

export function assignTail(tf: typeof tfjs, t: TrainableTail, values: { name: string; data: Float32Array }[]): void {
  for (const { name, data } of values) {
    const v = t.variables.get(name);
    if (!v) throw new TlError(`tail has no variable "${name}"`);
    if (v.size !== data.length) throw new TlError(`tail variable "${name}" has ${v.size} values, saved ${data.length}`);
    const value = tf.tensor(data, v.shape, 'float32');
    v.assign(value);
    value.dispose();
  }
}

export function tailHash(s: TailSnapshot): string {
  const h = [s.kind, s.cut, s.imageSize, JSON.stringify(s.replace ?? null)];
  for (const v of s.variables)
    h.push(`${v.name}:${v.shape}:${sha256(Buffer.from(v.data.buffer, v.data.byteOffset, v.data.byteLength))}`);
  return sha256(h.join('\n'));
}
