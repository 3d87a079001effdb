// Rungs 2-3 on a TF.js layers model: its weighted layers as blocks, the frozen part as a sub-model up to the cut
// layer, and the tail as the later layers re-applied to a new input (sharing their weights).
import type * as tfjs from '@tensorflow/tfjs';
import type { InputSpec, InputTensorData, ModelEntry } from '../../types.js';
import type { CutBackbone, Network, TrainableTail, Unit } from '../types.js';
import { tfWasm } from './tfjs.js';
import { loadLayersModelFromDir } from './backbone.js';
import { TlError } from '../../../util/errors.js';
import { splitRows } from '../../../util/rows.js';

export async function listUnits(entry: ModelEntry, dir: string): Promise<{ inputCut: string; units: Unit[] }> {
  const tf = await tfWasm();
  const model = await loadLayersModelFromDir(tf, dir, entry.entry);
  try {
    const chain = chainToFeature(model, entry);
    const units: Unit[] = [];
    for (let i = 0; i < chain.length; i++) {
      const l = chain[i];
      if (!isWeighted(l)) continue;
      // The unit runs to the last layer before the next weighted conv (its BN and activation).
      let end = i;
      while (end + 1 < chain.length && !isWeighted(chain[end + 1]) && !/Pool/.test(chain[end + 1].getClassName()))
        end++;
      const shape = chain[end].outputShape as number[];
      const params = chain.slice(i, end + 1).reduce((a, x) => a + x.countParams(), 0);
      units.push({
        index: units.length,
        label: `${l.getClassName()} ${l.name}`,
        cut: chain[end].name,
        shape: [shape[1], shape[2], shape[3]],
        params,
      });
    }
    return { inputCut: model.inputLayers[0].name, units };
  } finally {
    model.dispose();
  }
}

function isWeighted(l: tfjs.layers.Layer): boolean {
  return /Conv2D|DepthwiseConv2D|SeparableConv2D|Dense/.test(l.getClassName()) && l.countParams() > 0;
}

/** The layers from the input to the feature layer, checking they form a chain (one inbound layer each). */
function chainToFeature(model: tfjs.LayersModel, entry: ModelEntry): tfjs.layers.Layer[] {
  const end = model.layers.findIndex((l) => l.name === entry.feature.tensor);
  if (end < 0) throw new TlError(`TF.js model ${entry.id} has no layer "${entry.feature.tensor}"`);
  const chain = model.layers.slice(0, end + 1);
  for (let i = 1; i < chain.length; i++) {
    const inbound = chain[i].inboundNodes[0]?.inboundLayers ?? [];
    if (inbound.length !== 1 || inbound[0] !== chain[i - 1]) {
      throw new TlError(
        `fine-tuning ${entry.id}: layer ${chain[i].name} is not a simple chain step (branches are not supported for TF.js layers backbones)`,
      );
    }
  }
  return chain;
}

export async function openCut(net: Network, cut: string, input: InputSpec, weightsHash: string): Promise<CutBackbone> {
  const entry = net.entry;
  const tf = await tfWasm();
  const model = await loadLayersModelFromDir(tf, net.dir, entry.entry);
  const chain = chainToFeature(model, entry);
  const cutIdx = chain.findIndex((l) => l.name === cut);
  if (cutIdx < 0) throw new TlError(`${cut} is not a layer of ${entry.id}`);
  const inp = tf.input({ shape: [input.size, input.size, 3] });
  let y = inp as tfjs.SymbolicTensor;
  for (const l of chain.slice(1, cutIdx + 1)) y = l.apply(y) as tfjs.SymbolicTensor;
  const sub = tf.model({ inputs: inp, outputs: y });
  const shape = y.shape.slice(1) as [number, number, number];
  const dim = shape[0] * shape[1] * shape[2];
  const s = input.size;
  return {
    id: entry.id,
    input,
    weightsHash,
    vectors: { source: cut, encoding: 'f16' },
    entry,
    featureDim: dim,
    cutShape: shape,
    async embed(batch: InputTensorData[]) {
      const data = new Float32Array(batch.length * s * s * 3);
      batch.forEach((x, i) => data.set(x, i * s * s * 3));
      const out = tf.tidy(() => sub.predict(tf.tensor4d(data, [batch.length, s, s, 3])) as tfjs.Tensor);
      try {
        return splitRows((await out.data()) as Float32Array, batch.length, dim);
      } finally {
        out.dispose();
      }
    },
    async dispose() {
      model.dispose();
    },
  };
}

export async function buildTail(
  tf: typeof tfjs,
  net: Network,
  cut: string,
  cutShape: [number, number, number],
): Promise<TrainableTail> {
  const entry = net.entry;
  const model = await loadLayersModelFromDir(tf, net.dir, entry.entry);
  const chain = chainToFeature(model, entry);
  const cutIdx = cut === net.inputCut ? 0 : chain.findIndex((l) => l.name === cut);
  if (cutIdx < 0) throw new TlError(`${cut} is not a layer of ${entry.id}`);
  const inp = tf.input({ shape: cutShape });
  let y = inp as tfjs.SymbolicTensor;
  for (const l of chain.slice(cutIdx + 1)) y = l.apply(y) as tfjs.SymbolicTensor;
  if (entry.feature.pool === 'gap') y = tf.layers.globalAveragePooling2d({}).apply(y) as tfjs.SymbolicTensor;
  const tailModel = tf.model({ inputs: inp, outputs: y });
  const variables = new Map<string, tfjs.Variable>();
  for (const w of tailModel.trainableWeights) variables.set(w.originalName, w.read() as tfjs.Variable);
  const featureDim = (y.shape as number[]).slice(1).reduce((a, b) => a * b, 1);
  return {
    kind: 'tfjs-layers', // = tfjsRuntime.fineTuning.tailKind
    cut,
    inputShape: cutShape,
    featureDim,
    variables,
    // training: false keeps BatchNorm on its moving statistics (and dropout off); gradients still reach gamma/beta.
    apply: (x) =>
      tf.tidy(
        () =>
          (tailModel.apply(x, { training: false }) as tfjs.Tensor).reshape([x.shape[0], featureDim]) as tfjs.Tensor2D,
      ),
    frozenWeights: async () => {
      const out = new Map<string, Float32Array>();
      for (const w of tailModel.nonTrainableWeights)
        out.set(w.originalName, Float32Array.from((await w.read().data()) as Float32Array));
      return out;
    },
    dispose: () => model.dispose(),
  };
}
