// Copy-paste code that runs an export (issue 25): a browser page (onnxruntime-web, or TF.js for the TF.js export)
// and a Node script (onnxruntime-node, or @tensorflow/tfjs-node). Each reads the files of the export folder
// (the .tar download), preprocesses as metadata.json says (the browser's canvas resize differs slightly from the
// server's libvips resize: probabilities can differ by a little, top-1 rarely) and prints the top class.
import type { ExportMetadata } from '../export/export.js';

export const ORT_WEB_VERSION = '1.23.0';
export const TFJS_VERSION = '4.22.0';

export interface Snippets {
  /** An HTML page: put it beside the export's files and open it through any static web server. */
  browser: string;
  /** A Node script: `node classify.mjs photo.jpg` beside the export's files. */
  node: string;
}

export function exportSnippets(m: ExportMetadata): Snippets {
  const i = m.input;
  const consts = [
    `const LABELS = ${JSON.stringify(m.labels)};`,
    `const SIZE = ${i.size}, RESIZE_TO = ${i.resizeTo}, COVER = ${i.resize === 'cover'}, LAYOUT = '${i.layout}';`,
    `const MEAN = ${JSON.stringify(i.mean)}, STD = ${JSON.stringify(i.std)};`,
  ].join('\n');
  // RGBA pixels of the SIZE x SIZE crop → normalized float32 in the model's layout.
  const toInput = `function toInput(rgba) {
  const x = new Float32Array(3 * SIZE * SIZE);
  for (let p = 0; p < SIZE * SIZE; p++)
    for (let c = 0; c < 3; c++) {
      const v = (rgba[p * 4 + c] / 255 - MEAN[c]) / STD[c];
      x[LAYOUT === 'NCHW' ? c * SIZE * SIZE + p : p * 3 + c] = v;
    }
  return x;
}`;
  const canvasCrop = `function pixels(img) {
  // ${i.resize === 'cover' ? `shorter side to ${i.resizeTo} px, then the centre ${i.size}x${i.size}` : `stretched to ${i.size}x${i.size}`} (metadata.json: input.preprocessing)
  const w = img.naturalWidth || img.width, h = img.naturalHeight || img.height;
  const s = COVER ? RESIZE_TO / Math.min(w, h) : 1;
  const rw = COVER ? Math.round(w * s) : SIZE, rh = COVER ? Math.round(h * s) : SIZE;
  const canvas = document.createElement('canvas');
  canvas.width = canvas.height = SIZE;
  const g = canvas.getContext('2d');
  g.drawImage(img, -Math.floor((rw - SIZE) / 2), -Math.floor((rh - SIZE) / 2), rw, rh);
  return g.getImageData(0, 0, SIZE, SIZE).data;
}`;
  const top = `const best = probs.indexOf(Math.max(...probs));
  return { label: LABELS[best], probability: probs[best] };`;
  const page = (head: string, load: string, run: string) => `<!doctype html>
<meta charset="utf-8">
<title>${m.source.backbone} classifier</title>
${head}
<input type="file" accept="image/*" id="photo"> <output id="answer"></output>
<script type="module">
${consts}
${load}
${toInput}
${canvasCrop}
/** Classify an <img> (loaded) or an image URL: { label, probability }. */
async function classify(img) {
  if (typeof img === 'string') {
    const el = new Image();
    el.src = img;
    await el.decode();
    img = el;
  }
  const x = toInput(pixels(img));
${run}
  ${top}
}
window.classify = classify;
document.getElementById('photo').onchange = async (e) => {
  const r = await classify(URL.createObjectURL(e.target.files[0]));
  document.getElementById('answer').textContent = r.label + ' ' + (r.probability * 100).toFixed(1) + ' %';
};
</script>
`;
  const shape = i.layout === 'NCHW' ? '[1, 3, SIZE, SIZE]' : '[1, SIZE, SIZE, 3]';
  if (m.runtime === 'onnx') {
    return {
      browser: page(
        `<script src="https://cdn.jsdelivr.net/npm/onnxruntime-web@${ORT_WEB_VERSION}/dist/ort.min.js"></script>`,
        `const session = await ort.InferenceSession.create('${m.model}');`,
        `  const out = await session.run({ ${JSON.stringify(i.name)}: new ort.Tensor('float32', x, ${shape}) });
  const probs = Array.from(out[${JSON.stringify(m.outputs.probabilities.name)}].data);`,
      ),
      node: `// npm install onnxruntime-node sharp; node classify.mjs photo.jpg (beside ${m.model})
import ort from 'onnxruntime-node';
import sharp from 'sharp';
${consts}
${toInput}
const session = await ort.InferenceSession.create('${m.model}');
const img = sharp(process.argv[2]).removeAlpha().ensureAlpha();
const { width, height } = await sharp(process.argv[2]).metadata();
const s = COVER ? RESIZE_TO / Math.min(width, height) : 1;
const rgba = await img
  .resize(COVER ? Math.round(width * s) : SIZE, COVER ? Math.round(height * s) : SIZE, { fit: 'fill' })
  .extract({ left: COVER ? Math.floor((Math.round(width * s) - SIZE) / 2) : 0, top: COVER ? Math.floor((Math.round(height * s) - SIZE) / 2) : 0, width: SIZE, height: SIZE })
  .raw()
  .toBuffer();
const out = await session.run({ ${JSON.stringify(i.name)}: new ort.Tensor('float32', toInput(rgba), ${shape}) });
const probs = Array.from(out[${JSON.stringify(m.outputs.probabilities.name)}].data);
const best = probs.indexOf(Math.max(...probs));
console.log(LABELS[best], (probs[best] * 100).toFixed(1) + ' %');
`,
    };
  }
  return {
    browser: page(
      `<script src="https://cdn.jsdelivr.net/npm/@tensorflow/tfjs@${TFJS_VERSION}/dist/tf.min.js"></script>`,
      // './': TF.js loads the weights from the model URL's folder, and a bare 'model.json' has none (it would ask
      // for /weights.bin at the site's root).
      `const model = await tf.loadLayersModel('./${m.model}');`,
      `  const y = model.predict(tf.tensor4d(x, ${shape}));
  const probs = Array.from(await y.data());
  y.dispose();`,
    ),
    node: `// npm install @tensorflow/tfjs @tensorflow/tfjs-backend-wasm sharp; node classify.mjs photo.jpg (beside ${m.model})
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { readFile } from 'node:fs/promises';
import sharp from 'sharp';
${consts}
${toInput}
await tf.setBackend('wasm');
const json = JSON.parse(await readFile('${m.model}', 'utf8'));
const weights = await readFile(json.weightsManifest[0].paths[0]);
const model = await tf.loadLayersModel(
  tf.io.fromMemory({
    modelTopology: json.modelTopology,
    weightSpecs: json.weightsManifest[0].weights,
    weightData: weights.buffer.slice(weights.byteOffset, weights.byteOffset + weights.byteLength),
  }),
);
const { width, height } = await sharp(process.argv[2]).metadata();
const s = COVER ? RESIZE_TO / Math.min(width, height) : 1;
const rgba = await sharp(process.argv[2])
  .removeAlpha()
  .ensureAlpha()
  .resize(COVER ? Math.round(width * s) : SIZE, COVER ? Math.round(height * s) : SIZE, { fit: 'fill' })
  .extract({ left: COVER ? Math.floor((Math.round(width * s) - SIZE) / 2) : 0, top: COVER ? Math.floor((Math.round(height * s) - SIZE) / 2) : 0, width: SIZE, height: SIZE })
  .raw()
  .toBuffer();
const probs = Array.from(await model.predict(tf.tensor4d(toInput(rgba), ${shape})).data());
const best = probs.indexOf(Math.max(...probs));
console.log(LABELS[best], (probs[best] * 100).toFixed(1) + ' %');
`,
  };
}
