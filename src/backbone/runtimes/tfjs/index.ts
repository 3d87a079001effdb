// The TF.js layers runtime: model.json + weight shards on @tensorflow/tfjs with the wasm backend (SIMD). Its layers
// train directly in TF.js. Code (and TF.js itself) loads on first use.
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import type { BackboneRuntime, LayerInfo } from '../types.js';
import { TlError } from '../../../util/errors.js';

export const tfjsRuntime: BackboneRuntime = {
  format: 'tfjs-layers',
  description:
    'TF.js layers models (model.json + shards) on @tensorflow/tfjs with the wasm backend; layers train in TF.js',
  extractPrior: 60,
  registerByUrl: false,
  async modelFiles(entryPath) {
    const json = JSON.parse(await readFile(entryPath, 'utf8')) as { weightsManifest?: { paths: string[] }[] };
    return [basename(entryPath), ...(json.weightsManifest ?? []).flatMap((g) => g.paths)];
  },
  async load(entry, dir, weightsHash) {
    const { TfjsBackbone } = await import('./backbone.js');
    return TfjsBackbone.load(entry, dir, weightsHash);
  },
  detect: async (entryPath) => (await import('./detect.js')).detectTfjsLayersFile(entryPath),
  async describeLayers(entry, dir): Promise<LayerInfo[]> {
    const [{ tfWasm }, { loadLayersModelFromDir }] = await Promise.all([import('./tfjs.js'), import('./backbone.js')]);
    const model = await loadLayersModelFromDir(await tfWasm(), dir, entry.entry);
    const out = model.layers.map((l, index) => ({
      index,
      name: l.name,
      type: l.getClassName(),
      outputShape: JSON.stringify(l.outputShape).replace(/null/g, 'N'),
      params: l.countParams(),
    }));
    model.dispose();
    return out;
  },
  fineTuning: {
    tailKind: 'tfjs-layers',
    tailRuns:
      'frozen part: the TF.js backbone up to layer `cut`; then its later layers with these weights (tensors tail/<layer weight name>), BatchNorm in inference mode; then the feature layer -> head',
    listUnits: async (entry, dir) => (await import('./fine-tune.js')).listUnits(entry, dir),
    openCut: async (net, cut, input, weightsHash) =>
      (await import('./fine-tune.js')).openCut(net, cut, input, weightsHash),
    buildTail: async (tf, net, cut, cutShape) => (await import('./fine-tune.js')).buildTail(tf, net, cut, cutShape),
  },
  async exportGraph(entry, backbone, size) {
    if (size !== undefined)
      return {
        kind: 'tfjs-layers',
        model: await (await import('./at-size.js')).loadTfjsAtSize(entry, size),
        owned: true,
      };
    const { TfjsBackbone } = await import('./backbone.js');
    if (!(backbone instanceof TfjsBackbone))
      throw new TlError(`backbone ${backbone?.id ?? entry.id} is not a loaded TF.js model`);
    return { kind: 'tfjs-layers', model: backbone.full, owned: false };
  },
};
