// The Train panel's "rung 1 only" mark (GET /v1/backbones fineTunable) and the trainer must agree: the server asks
// the trainer's own rule (src/finetune/refusal.ts). A user-registered ONNX transformer (attention's MatMul of two
// computed tensors in its graph) with no ImageNet metric in its description used to be listed as fine-tunable, and
// then refused by the trainer once a rung 2-3 job started. Real server on 127.0.0.1, real MobileNetV2 graph with one
// node added.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import onnxProto from 'onnx-proto';
import { findModel, registerModel } from '../../src/backbone/registry.js';
import { loadNetwork } from '../../src/finetune/network.js';
import { startServer, type TlServer } from '../../src/serve/server.js';
import { env } from '../../src/util/env.js';
import { cleanup, MODELS_DIR, tempDir } from '../helpers.js';

const ZOO_ONNX = join(MODELS_DIR, 'mobilenetv2_int8_onnx/mobilenetv2-12-int8.onnx');
const INPUT = { size: 224, layout: 'NCHW' as const, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] };

let work: string;
let server: TlServer;

before(async () => {
  work = await tempDir('tl-faults-finetunable-');
  env.cacheDir = join(work, 'cache');
  env.modelsDir = MODELS_DIR;
  env.allowDownloads = false;
  const model = onnxProto.onnx.ModelProto.decode(await readFile(ZOO_ONNX));
  const graph = model.graph!;
  // Attention's signature: a MatMul of two computed tensors (Q x K^T); here the image by itself, per channel.
  graph.node.push(onnxProto.onnx.NodeProto.create({ opType: 'MatMul', input: ['input', 'input'], output: ['qk'] }));
  const file = join(work, 'tiny-vit.onnx');
  await writeFile(file, onnxProto.onnx.ModelProto.encode(model).finish());
  const cnn = join(work, 'cnn.onnx');
  await writeFile(cnn, await readFile(ZOO_ONNX));
  for (const [id, path] of [
    ['tiny-vit', file],
    ['my-cnn', cnn],
  ])
    await registerModel({ id, format: 'onnx', path, input: INPUT, feature: { tensor: '472_quantized', dim: 1280 } });
  server = await startServer({ port: 0, projectsDir: join(work, 'projects'), webDir: null });
});

after(async () => {
  await server?.close();
  await cleanup(work);
});

test('GET /v1/backbones marks a registered transformer rung 1 only, as the trainer refuses it', async () => {
  const res = await fetch(`${server.url}/v1/backbones`);
  assert.equal(res.status, 200);
  const byId = new Map(((await res.json()) as { id: string; fineTunable: boolean }[]).map((b) => [b.id, b]));
  assert.equal(byId.get('my-cnn')?.fineTunable, true, 'a registered CNN can be fine-tuned');
  assert.equal(byId.get('tiny-vit')?.fineTunable, false, 'the trainer refuses a transformer');
  assert.equal(byId.get('mobilenet-v2')?.fineTunable, true);
  assert.equal(byId.get('dinov2-small')?.fineTunable, false, 'not on disk: its description says feature extractor');
  // The trainer's side of the same rule.
  await assert.rejects(
    loadNetwork(findModel('tiny-vit')),
    /tiny-vit is a transformer \(attention and LayerNorm blocks\): fine-tuning \(rungs 2-3\) trains the blocks of CNNs only/,
  );
  assert.equal((await loadNetwork(findModel('my-cnn'))).entry.id, 'my-cnn');
});
