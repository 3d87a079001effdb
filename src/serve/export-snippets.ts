// Copy-paste code that runs an export (issue 25): a browser page (onnxruntime-web, or TF.js for the TF.js export)
// and a Node script (onnxruntime-node, or @tensorflow/tfjs-node). Each reads the files of the export folder
// (the .tar download), preprocesses as metadata.json says (the browser's canvas resize differs slightly from the
// server's libvips resize: probabilities can differ by a little, top-1 rarely) and prints the top class. The resize +
// crop is generated from the one rule (geometrySource), so every resize mode and an EXIF-rotated photo come out as
// `tl predict` preprocesses them (test/faults/preprocess-crop.test.ts runs the Node snippet against the toolkit).
import type { ExportMetadata } from '../export/export.js';

export const ORT_WEB_VERSION = '1.23.0';
export const TFJS_VERSION = '4.22.0';

export interface Snippets {
  /** An HTML page: put it beside the export's files and open it through any static web server. */
  browser: string;
  /** A Node script: `node classify.mjs photo.jpg` beside the export's files. */
  node: string;
}

/**
 * The resize + crop rule (src/data/preprocess-rule.ts, worded in metadata.json's `input`) as a JavaScript function
 * `resizeAndCrop(width, height)` for this export's numbers: the size of the upright photo after the resize, and the
 * top-left corner of the size x size crop. Every resize mode a backbone may have (the zoo's and registered models':
 * 'cover' and 'fill') is generated here, once, for both snippets.
 */
export function geometrySource(
  i: Pick<ExportMetadata['input'], 'resize' | 'size' | 'cropFraction'> & { resizeTo?: number },
): string {
  const t = i.resizeTo ?? Math.round(i.size / (i.cropFraction ?? 1)); // exports made before resizeTo was written
  const sides =
    i.resize === 'cover'
      ? `  // shorter side to ${t} px, the longer round(longer * ${t} / shorter) (integer product, then divide)
  const shorter = Math.min(width, height);
  const w = Math.round((width * ${t}) / shorter), h = Math.round((height * ${t}) / shorter);`
      : `  // stretched to ${t} x ${t} px (aspect ratio not kept)
  const w = ${t}, h = ${t};`;
  return `function resizeAndCrop(width, height) {
${sides}
  // then the centre ${i.size} x ${i.size}: left = floor((w - ${i.size}) / 2), top = floor((h - ${i.size}) / 2)
  return { width: w, height: h, left: Math.floor((w - ${i.size}) / 2), top: Math.floor((h - ${i.size}) / 2) };
}`;
}

export function exportSnippets(m: ExportMetadata): Snippets {
  const i = m.input;
  const consts = [
    `const LABELS = ${JSON.stringify(m.labels)};`,
    `const SIZE = ${i.size}, LAYOUT = '${i.layout}';`,
    `const MEAN = ${JSON.stringify(i.mean)}, STD = ${JSON.stringify(i.std)};`,
  ].join('\n');
  const geometry = geometrySource(i);
  // Pixels of the SIZE x SIZE crop (RGBA from a canvas, RGB or RGBA from sharp) → normalized float32 in the layout.
  const toInput = `function toInput(px, channels) {
  const x = new Float32Array(3 * SIZE * SIZE);
  for (let p = 0; p < SIZE * SIZE; p++)
    for (let c = 0; c < 3; c++) {
      const v = (px[p * channels + c] / 255 - MEAN[c]) / STD[c];
      x[LAYOUT === 'NCHW' ? c * SIZE * SIZE + p : p * 3 + c] = v;
    }
  return x;
}`;
  const canvasCrop = `function pixels(img) {
  // metadata.json input.preprocessing. An <img> is already upright: browsers apply the EXIF orientation
  // (CSS image-orientation: from-image) and report the upright naturalWidth x naturalHeight.
  const w = img.naturalWidth || img.width, h = img.naturalHeight || img.height;
  const g = resizeAndCrop(w, h);
  const canvas = document.createElement('canvas');
  canvas.width = canvas.height = SIZE;
  const ctx = canvas.getContext('2d');
  ctx.fillStyle = '#ffffff'; // transparency over white
  ctx.fillRect(0, 0, SIZE, SIZE);
  ctx.imageSmoothingQuality = 'high';
  ctx.drawImage(img, -g.left, -g.top, g.width, g.height);
  return ctx.getImageData(0, 0, SIZE, SIZE).data;
}`;
  // sharp (libvips) follows metadata.json step by step, as \`tl predict\` does.
  const sharpPixels = `async function pixels(file) {
  // metadata.json input.preprocessing: EXIF orientation first (.rotate()), so the size is the upright one.
  const meta = await sharp(file).metadata();
  const upright = (meta.orientation ?? 1) >= 5 ? { width: meta.height, height: meta.width } : meta;
  const g = resizeAndCrop(upright.width, upright.height);
  const { data, info } = await sharp(file)
    .rotate()
    .toColourspace('srgb')
    .flatten({ background: '#ffffff' })
    .resize(g.width, g.height, { fit: 'fill', kernel: '${i.resizeKernel ?? 'lanczos3'}' })
    .extract({ left: g.left, top: g.top, width: SIZE, height: SIZE })
    .raw()
    .toBuffer({ resolveWithObject: true });
  return toInput(data, info.channels);
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
${geometry}
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
  const x = toInput(pixels(img), 4);
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
${geometry}
${toInput}
${sharpPixels}
const session = await ort.InferenceSession.create('${m.model}');
const out = await session.run({ ${JSON.stringify(i.name)}: new ort.Tensor('float32', await pixels(process.argv[2]), ${shape}) });
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
${geometry}
${toInput}
${sharpPixels}
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
const probs = Array.from(await model.predict(tf.tensor4d(await pixels(process.argv[2]), ${shape})).data());
const best = probs.indexOf(Math.max(...probs));
console.log(LABELS[best], (probs[best] * 100).toFixed(1) + ' %');
`,
  };
}
