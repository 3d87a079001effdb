// Issue 25: the TF.js export's browser snippet (Results → Export TF.js → "Run it in a web page") loaded
// `tf.loadLayersModel('model.json')`. TF.js takes the weights' folder from the model URL up to its last '/', and a bare
// 'model.json' has none: the page asked for /weights.bin at the site's root, so the snippet only worked when the export
// sat at the root (found by serve-newuser's second page: "Failed to fetch"). Here the snippet's own model URL is loaded
// by TF.js's HTTP loader, the URLs resolved as a page at /my-export/index.html would resolve them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { TFJS_WEIGHTS_FILE, saveTfjsModel } from '../../src/export/tfjs-export.js';
import type { ExportMetadata } from '../../src/export/export.js';
import { exportSnippets } from '../../src/serve/export-snippets.js';

test("the TF.js snippet's model URL loads the weights beside model.json, not at the site's root", async () => {
  await tf.setBackend('cpu');
  const net = tf.sequential({ layers: [tf.layers.dense({ inputShape: [4], units: 3, activation: 'softmax' })] });
  const saved = await saveTfjsModel(tf, net, 'none');
  const folder = new Map<string, Uint8Array>([
    ['model.json', new TextEncoder().encode(JSON.stringify(saved.modelJson))],
    [TFJS_WEIGHTS_FILE, saved.weights],
  ]);
  const json = saved.modelJson as { weightsManifest: { paths: string[] }[] };
  assert.deepEqual(json.weightsManifest[0].paths, [TFJS_WEIGHTS_FILE]);

  const metadata = {
    runtime: 'tfjs',
    model: 'model.json',
    labels: ['a', 'b', 'c'],
    source: { backbone: 'tiny' },
    input: { size: 2, resizeTo: 2, resize: 'fill', layout: 'NHWC', name: 'x', mean: [0, 0, 0], std: [1, 1, 1] },
    outputs: { probabilities: { name: 'p', shape: [null, 3] }, features: null },
  } as unknown as ExportMetadata;
  const browser = exportSnippets(metadata).browser;
  const url = /tf\.loadLayersModel\('([^']+)'\)/.exec(browser)?.[1];
  assert.ok(url, 'the snippet loads a layers model by URL');

  // What the page's fetch() would ask the server for.
  const page = 'http://site.test/my-export/index.html';
  const asked: string[] = [];
  const fetchFunc = async (u: string) => {
    const path = new URL(u, page).pathname;
    asked.push(path);
    const file = path.startsWith('/my-export/') ? folder.get(path.slice('/my-export/'.length)) : undefined;
    if (!file) throw new Error(`the page asked for ${path}, which is not in the export's folder (a 404)`);
    return new Response(file);
  };
  const model = await tf.loadLayersModel(tf.io.http(url, { fetchFunc }));
  assert.deepEqual(asked, ['/my-export/model.json', `/my-export/${TFJS_WEIGHTS_FILE}`]);
  const y = model.predict(tf.ones([1, 4])) as tf.Tensor;
  assert.equal(y.shape[1], 3);
  y.dispose();
});
