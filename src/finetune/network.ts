// A backbone seen by fine-tuning: its blocks, which cut a --freeze / --train-last request means, the frozen part up
// to the cut and the trainable tail after it. The runtime-specific halves live with their runtime
// (src/backbone/runtimes/*/fine-tune.ts); the input cut and new units (--replace) are the same on every runtime.
import type * as tfjs from '@tensorflow/tfjs';
import type { InputSpec, ModelEntry } from '../backbone/types.js';
import type { CutBackbone, Network, TrainableTail } from '../backbone/runtimes/types.js';
import { resolveModel, verifyFiles, type ResolveOptions } from '../backbone/resolve.js';
import { weightsHash } from '../backbone/weights-hash.js';
import { TlError } from '../util/errors.js';
import { fineTuneRefusal, fineTuningOf } from './refusal.js';
import { openInputCut } from './input-cut.js';
import { replaceTail } from './replace-tail.js';

export type { CutBackbone, Network, TailKind, TailSnapshot, TrainableTail, Unit } from '../backbone/runtimes/types.js';
export { trainingTf } from './training-tf.js';
export { snapshotTail, assignTail, tailHash } from './tail-snapshot.js';

export async function loadNetwork(entry: ModelEntry, opts: ResolveOptions = {}): Promise<Network> {
  const ft = fineTuningOf(entry);
  const { dir } = await resolveModel(entry, opts);
  await verifyFiles(dir, entry);
  const refused = await fineTuneRefusal(entry, dir);
  if (refused) throw refused;
  const { inputCut, units } = await ft.listUnits(entry, dir);
  return { entry, dir, inputCut, units, totalParams: units.reduce((a, u) => a + u.params, 0) };
}

/** Which cut a freeze / train-last request means. Returns the unit index of the last frozen unit (-1 = the input). */
export function resolveFreeze(
  net: Network,
  req: { freeze?: number; trainLast?: number },
): { lastFrozen: number; cut: string; trainable: Network['units'] } {
  const n = net.units.length;
  if (req.freeze !== undefined && req.trainLast !== undefined && req.freeze + req.trainLast !== n) {
    throw new TlError(
      `--freeze ${req.freeze} and --train-last ${req.trainLast} disagree: ${net.entry.id} has ${n} blocks`,
      'Give one of them.',
    );
  }
  const frozen = req.freeze ?? (req.trainLast !== undefined ? n - req.trainLast : n - 2);
  if (!Number.isInteger(frozen) || frozen < 0 || frozen > n) {
    throw new TlError(
      `cannot freeze ${frozen} of ${net.entry.id}'s ${n} blocks`,
      `Use --freeze 0..${n} or --train-last 0..${n}.`,
    );
  }
  return {
    lastFrozen: frozen - 1,
    cut: frozen === 0 ? net.inputCut : net.units[frozen - 1].cut,
    trainable: net.units.slice(frozen),
  };
}

/** The frozen part: images → flattened NHWC activation at `cut`, at `size` px (default the backbone's). */
export async function openCutBackbone(net: Network, cut: string, size?: number): Promise<CutBackbone> {
  const input: InputSpec = { ...net.entry.input, size: size ?? net.entry.input.size };
  const hash = weightsHash(net.entry);
  if (cut === net.inputCut) return openInputCut(net, input, hash);
  return fineTuningOf(net.entry).openCut(net, cut, input, hash);
}

/** The trainable tail after `cut`: the pretrained layers (by the runtime), or new units with `replace`. */
export async function buildTrainableTail(
  tf: typeof tfjs,
  net: Network,
  cut: string,
  cutShape: [number, number, number],
  opts: { replace?: number[]; seed?: number } = {},
): Promise<TrainableTail> {
  if (opts.replace) return replaceTail(tf, cut, cutShape, opts.replace, opts.seed ?? 0);
  return fineTuningOf(net.entry).buildTail(tf, net, cut, cutShape);
}
