// Loads a `tl export --format onnx` folder (model.onnx + metadata.json + unknown-references.bin), preprocesses a
// picked image exactly as metadata.json says (resize shorter side + centre crop on a canvas, (p/255 - mean) / std,
// NCHW or NHWC float32) and shows the class probabilities. Everything runs client-side with onnxruntime-web (wasm).
//
// URLs (relative to this page; see README.md): ./ort/ = node_modules/onnxruntime-web/dist, ./model/ = the export
// folder. `?model=URL/` points at another export folder.
import * as ort from './ort/ort.wasm.min.mjs';
import { resizeAndCrop } from './preprocess.js';

const here = new URL('.', location.href);
const modelBase = new URL(new URLSearchParams(location.search).get('model') ?? './model/', here);
ort.env.wasm.wasmPaths = new URL('./ort/', here).href;
// One thread: multi-threaded wasm needs cross-origin isolation (COOP/COEP headers), which a plain server lacks.
ort.env.wasm.numThreads = 1;

const $ = (id) => document.getElementById(id);
const status = (s) => ($('status').textContent = s);

async function fetchOk(url) {
  const r = await fetch(url);
  if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
  return r;
}

/** Draws the image as metadata.json's `input.preprocessing` says and returns the float32 input tensor. */
export async function imageToTensor(blob, input) {
  const bmp = await createImageBitmap(blob); // applies EXIF orientation
  const { size, mean, std, layout } = input;
  const canvas = document.createElement('canvas');
  canvas.width = canvas.height = size;
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  ctx.fillStyle = '#fff'; // transparent pixels over white, as the toolkit flattens them
  ctx.fillRect(0, 0, size, size);
  ctx.imageSmoothingEnabled = true;
  ctx.imageSmoothingQuality = 'high'; // the canvas has no Lanczos kernel: the closest it offers
  // Resized size and crop corner exactly as `tl predict` takes them: draw the resized image shifted by the corner.
  const g = resizeAndCrop(bmp.width, bmp.height, input);
  ctx.drawImage(bmp, -g.left, -g.top, g.width, g.height);
  bmp.close();
  const rgba = ctx.getImageData(0, 0, size, size).data;
  const n = size * size;
  const x = new Float32Array(3 * n);
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < 3; c++) {
      const v = (rgba[i * 4 + c] / 255 - mean[c]) / std[c];
      if (layout === 'NCHW') x[c * n + i] = v;
      else x[i * 3 + c] = v;
    }
  }
  return new ort.Tensor('float32', x, layout === 'NCHW' ? [1, 3, size, size] : [1, size, size, 3]);
}

/** Mean cosine distance of a feature vector to its k nearest L2-normalized reference rows (k absent: 1). */
function nearestDistance(feature, refs, dim, k = 1) {
  let norm = 0;
  for (const v of feature) norm += v * v;
  norm = Math.sqrt(norm) || 1;
  const distances = [];
  for (let r = 0; r * dim < refs.length; r++) {
    let dot = 0;
    for (let i = 0; i < dim; i++) dot += refs[r * dim + i] * feature[i];
    distances.push(1 - dot / norm);
  }
  const nearest = distances.sort((a, b) => a - b).slice(0, k);
  return nearest.reduce((a, b) => a + b, 0) / nearest.length;
}

async function main() {
  const meta = await (await fetchOk(new URL('metadata.json', modelBase))).json();
  if (meta.runtime !== 'onnx')
    throw new Error(`this page runs ONNX exports; ${modelBase} holds a ${meta.runtime} export`);
  const modelBytes = new Uint8Array(await (await fetchOk(new URL(meta.model, modelBase))).arrayBuffer());
  const session = await ort.InferenceSession.create(modelBytes, { executionProviders: ['wasm'] });
  let refs = null;
  if (meta.outputs.features && meta.unknown?.references) {
    refs = new Float32Array(await (await fetchOk(new URL(meta.unknown.references.file, modelBase))).arrayBuffer());
  }
  status(
    `ready: ${meta.labels.length} classes (${meta.labels.join(', ')}), backbone ${meta.source.backbone}. Pick an image.`,
  );
  $('file').disabled = false;
  document.body.dataset.state = 'ready';

  $('file').addEventListener('change', async () => {
    const file = $('file').files[0];
    if (!file) return;
    document.body.dataset.state = 'running';
    $('preview').src = URL.createObjectURL(file);
    try {
      const t0 = performance.now();
      const input = await imageToTensor(file, meta.input);
      const names = [meta.outputs.probabilities.name, ...(refs ? [meta.outputs.features.name] : [])];
      const out = await session.run({ [meta.input.name]: input }, names);
      const probs = Array.from(out[meta.outputs.probabilities.name].data);
      const distance = refs
        ? nearestDistance(out[meta.outputs.features.name].data, refs, meta.unknown.dim, meta.unknown.k)
        : null;
      const unknown = distance !== null && distance > meta.unknown.threshold;
      const order = probs.map((p, k) => k).sort((a, b) => probs[b] - probs[a]);
      const ms = performance.now() - t0;
      window.tlResult = {
        label: meta.labels[order[0]],
        probabilities: Object.fromEntries(meta.labels.map((l, k) => [l, probs[k]])),
        unknown,
        distance,
        ms,
      };
      $('result').innerHTML =
        (unknown
          ? `<p class="unknown">Unknown: unlike the training images (distance ${distance.toFixed(3)} &gt; ${meta.unknown.threshold.toFixed(3)})</p>`
          : '') +
        '<table>' +
        order
          .map(
            (k) =>
              `<tr><td>${escapeHtml(meta.labels[k])}</td><td>${(probs[k] * 100).toFixed(1)}%</td>` +
              `<td><div class="bar" style="width:${Math.round(probs[k] * 200)}px"></div></td></tr>`,
          )
          .join('') +
        '</table>' +
        `<p id="top" data-label="${escapeHtml(meta.labels[order[0]])}">${escapeHtml(meta.labels[order[0]])} (${ms.toFixed(0)} ms)</p>`;
      document.body.dataset.state = 'done';
    } catch (err) {
      status(`error: ${err.message}`);
      document.body.dataset.state = 'error';
    }
  });
}

function escapeHtml(s) {
  return String(s).replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c],
  );
}

main().catch((err) => {
  status(`error: ${err.message}`);
  document.body.dataset.state = 'error';
});
