// A checkpoint per finished fine-tuning epoch (rungs 2-3), so that a killed run re-run with the same command resumes
// from its last finished epoch and ends with the same weights as an uninterrupted run.
//
// What continues a run identically: the trainable variables and the head, both Adam optimizers' moments, iteration
// counts and accumulated beta powers (saved as they are: setWeights recomputes them as pow(), which need not equal
// the product the steps accumulated to the last bit), the step index (warm-up), history, the best epoch so far with
// the inner rows it got right, the epoch to keep with its weights, and the patience counter. The shuffle RNG is not
// saved: the caller replays its epochs' shuffles from the seed (cheap, and exact). The L-BFGS head that starts the run
// is recomputed (deterministic for the same inputs).
//
// Where: <cache>/finetune-checkpoints/<key>/state.bin, one file written to a temp name, fsynced and renamed over the
// last one (a kill leaves the previous epoch's checkpoint or the new one, never half of one). The key hashes
// everything that determines the run (see runKey); a different command has a different key and starts fresh. The
// folder is the toolkit's own and is removed when the run finishes.
import type * as tfjs from '@tensorflow/tfjs';
import { createHash } from 'node:crypto';
import {
  mkdirSync,
  readFileSync,
  openSync,
  writeSync,
  fsyncSync,
  closeSync,
  renameSync,
  rmSync,
  existsSync,
  unlinkSync,
  readdirSync,
  statSync,
} from 'node:fs';
import { join } from 'node:path';
import { env } from '../util/env.js';
import type { CurvePoint as HistoryPoint } from '../eval/report.js';

type TF = typeof tfjs;

// (2: the kept epoch beside the best's inner rows; a version-1 checkpoint is not resumed: its run starts over.)
const MAGIC = 'TLFTCKPT2\n';
const FILE = 'state.bin';
/** A killed run's checkpoint not resumed for this long is dropped by the next save (it is up to ~4x the weights). */
export const STALE_CHECKPOINT_MS = 7 * 24 * 3600 * 1000;

/** Hashes the run's identity: JSON-able settings plus the exact training/check inputs (values and labels). */
export function runKey(settings: unknown, arrays: (Float32Array | Int32Array)[]): string {
  const h = createHash('sha256');
  h.update(JSON.stringify(settings));
  for (const a of arrays) {
    h.update(`|${a.constructor.name}:${a.length}|`);
    h.update(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
  }
  return h.digest('hex').slice(0, 32);
}

function checkpointsRoot(): string {
  return join(env.cacheDir, 'finetune-checkpoints');
}

export function checkpointDir(key: string): string {
  return join(checkpointsRoot(), key);
}

/** Removes other runs' checkpoint folders untouched for STALE_CHECKPOINT_MS (only names this module writes). */
function pruneStale(keep: string): void {
  const now = Date.now();
  for (const name of readdirSync(checkpointsRoot())) {
    if (name === keep || !/^[0-9a-f]{32}$/.test(name)) continue;
    try {
      const dir = checkpointDir(name);
      if (now - statSync(dir).mtimeMs > STALE_CHECKPOINT_MS) rmSync(dir, { recursive: true, force: true });
    } catch {
      // another process removed or is writing it
    }
  }
}

export interface OptimizerState {
  iterations: number;
  accBeta1: Float32Array;
  accBeta2: Float32Array;
  /** First moments then second moments, in the optimizer's own order. */
  moments: { name: string; shape: number[]; data: Float32Array }[];
}

export interface CheckpointState {
  key: string;
  /** Last finished epoch (1-based) and the planned number. */
  epoch: number;
  of: number;
  stepIndex: number;
  sinceBest: number;
  history: HistoryPoint[];
  W: Float32Array;
  b: Float32Array;
  tail: Float32Array[];
  /** The best fine-tuned epoch's inner score, with the rows it got right ('0'/'1' per row); absent: none yet. */
  best?: { epoch: number; acc: number; loss: number; correct: string };
  /** The epoch to keep so far (the best, or the latest near it) with its weights. */
  kept: {
    epoch: number;
    acc: number;
    loss: number;
    W: Float32Array;
    b: Float32Array;
    tail: Float32Array<ArrayBuffer>[];
  };
  optHead: OptimizerState;
  optTail: OptimizerState;
}

interface AdamInternals {
  iterations_?: number;
  accBeta1: tfjs.Variable;
  accBeta2: tfjs.Variable;
  accumulatedFirstMoment: { originalName: string; variable: tfjs.Variable }[];
  accumulatedSecondMoment: { originalName: string; variable: tfjs.Variable }[];
}

// Asynchronous reads: a webgpu tensor cannot be read synchronously under Node.
const copyOf = async (t: tfjs.Tensor): Promise<Float32Array> => Float32Array.from((await t.data()) as Float32Array);

export async function optimizerState(opt: tfjs.Optimizer): Promise<OptimizerState> {
  const a = opt as unknown as AdamInternals;
  const moments: OptimizerState['moments'] = [];
  for (const m of [...a.accumulatedFirstMoment, ...a.accumulatedSecondMoment])
    moments.push({ name: m.originalName, shape: m.variable.shape.slice(), data: await copyOf(m.variable) });
  const [accBeta1, accBeta2] = [await copyOf(a.accBeta1), await copyOf(a.accBeta2)];
  return { iterations: a.iterations_ ?? 0, accBeta1, accBeta2, moments };
}

/** Puts a saved state into a fresh Adam optimizer (before its first step). */
export async function restoreOptimizer(tf: TF, opt: tfjs.Optimizer, s: OptimizerState): Promise<void> {
  if (!s.moments.length) return;
  const iter = tf.scalar(s.iterations, 'int32');
  const tensors = s.moments.map((m) => tf.tensor(m.data, m.shape, 'float32'));
  await opt.setWeights([
    { name: 'iter', tensor: iter },
    ...s.moments.map((m, i) => ({ name: m.name, tensor: tensors[i] })),
  ]);
  // setWeights made variables of the tensors (copies); its pow()-recomputed beta powers are replaced by the saved ones.
  tf.dispose([iter, ...tensors]);
  const a = opt as unknown as AdamInternals;
  const b1 = tf.tensor(s.accBeta1, [], 'float32');
  const b2 = tf.tensor(s.accBeta2, [], 'float32');
  a.accBeta1.assign(b1 as tfjs.Scalar);
  a.accBeta2.assign(b2 as tfjs.Scalar);
  tf.dispose([b1, b2]);
}

// File layout: MAGIC, uint32 JSON length, JSON (the state with every Float32Array replaced by {$f32: index}),
// padding to 4 bytes, then the arrays back to back.
function encode(state: CheckpointState): Buffer {
  const arrays: Float32Array[] = [];
  const json = JSON.stringify(state, (_k, v) => {
    if (v instanceof Float32Array) {
      arrays.push(v);
      return { $f32: arrays.length - 1, n: v.length };
    }
    return v;
  });
  const head = Buffer.from(json, 'utf8');
  const start = Math.ceil((MAGIC.length + 4 + head.length) / 4) * 4;
  const total = start + arrays.reduce((n, a) => n + a.byteLength, 0);
  const buf = Buffer.alloc(total);
  buf.write(MAGIC, 0, 'latin1');
  buf.writeUInt32LE(head.length, MAGIC.length);
  head.copy(buf, MAGIC.length + 4);
  let off = start;
  for (const a of arrays) {
    Buffer.from(a.buffer, a.byteOffset, a.byteLength).copy(buf, off);
    off += a.byteLength;
  }
  return buf;
}

function decode(buf: Buffer): CheckpointState | undefined {
  if (buf.length < MAGIC.length + 4 || buf.toString('latin1', 0, MAGIC.length) !== MAGIC) return undefined;
  const len = buf.readUInt32LE(MAGIC.length);
  if (MAGIC.length + 4 + len > buf.length) return undefined;
  const json = buf.toString('utf8', MAGIC.length + 4, MAGIC.length + 4 + len);
  const start = Math.ceil((MAGIC.length + 4 + len) / 4) * 4;
  const raw = JSON.parse(json) as unknown;
  // Arrays were appended in JSON.stringify's visiting order, which is the order of their markers in the text.
  const offsets: number[] = [];
  const lengths: number[] = [];
  let off = start;
  for (const m of json.matchAll(/\{"\$f32":(\d+),"n":(\d+)\}/g)) {
    offsets[Number(m[1])] = off;
    lengths[Number(m[1])] = Number(m[2]);
    off += 4 * Number(m[2]);
  }
  if (off !== buf.length) return undefined;
  const revive = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(revive);
    if (v && typeof v === 'object') {
      const o = v as Record<string, unknown>;
      if (typeof o.$f32 === 'number') {
        const i = o.$f32;
        return new Float32Array(
          buf.buffer.slice(buf.byteOffset + offsets[i], buf.byteOffset + offsets[i] + 4 * lengths[i]),
        );
      }
      return Object.fromEntries(Object.entries(o).map(([k, x]) => [k, revive(x)]));
    }
    return v;
  };
  return revive(raw) as CheckpointState;
}

/** The last finished epoch's state for this key, or undefined (none, another run's, or unreadable: start fresh). */
export function loadCheckpoint(key: string): CheckpointState | undefined {
  const path = join(checkpointDir(key), FILE);
  if (!existsSync(path)) return undefined;
  try {
    const s = decode(readFileSync(path));
    return s && s.key === key ? s : undefined;
  } catch {
    return undefined;
  }
}

/** Writes the state atomically: temp file in the same folder, fsync, rename over the previous checkpoint. */
export function saveCheckpoint(state: CheckpointState): void {
  const dir = checkpointDir(state.key);
  mkdirSync(dir, { recursive: true });
  const tmp = join(dir, `${FILE}.tmp-${process.pid}`);
  const fd = openSync(tmp, 'w');
  try {
    writeSync(fd, encode(state));
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    renameSync(tmp, join(dir, FILE));
  } catch (err) {
    try {
      unlinkSync(tmp);
    } catch {
      // already gone
    }
    throw err;
  }
  pruneStale(state.key);
}

/** The run finished: its checkpoint folder (the toolkit's own) goes. */
export function removeCheckpoint(key: string): void {
  rmSync(checkpointDir(key), { recursive: true, force: true });
}
