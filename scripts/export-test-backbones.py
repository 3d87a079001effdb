#!/usr/bin/python3
"""Test fixtures for backbone detection (test/backbone-detect.test.ts): torchvision architectures with random
weights (weights=None), exported to ONNX in test-fixtures/torchvision/ (git-ignored), plus for each the feature
torch itself feeds the classifier on a fixed input pattern, so the test checks the detector against torch, not
against itself. Cached: an existing export is kept, so reruns are instant.

Needs Debian's python3-torch and python3-torchvision (bookworm: torch 1.13, TorchScript exporter, no dynamo).
Usage: scripts/export-test-backbones.py [OUT_DIR]
"""
import json
import os
import sys

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), '..', 'test-fixtures', 'torchvision')
NAMES = ['resnet18', 'mobilenet_v3_large', 'efficientnet_b0', 'convnext_tiny', 'vit_b16_structure', 'regnet_y_400mf',
         'mobilenet_v2', 'squeezenet1_1', 'resnet18_batch1']

# All exported already: done before importing torch (seconds on a busy machine).
if __name__ == '__main__' and all(os.path.exists(os.path.join(OUT, n + ext)) for n in NAMES for ext in ('.onnx', '.json')):
    print(f'torchvision fixtures: {len(NAMES)} in {os.path.normpath(OUT)} (cached)')
    sys.exit(0)

import torch  # noqa: E402
import torchvision  # noqa: E402
from torchvision.models.vision_transformer import VisionTransformer  # noqa: E402


def vit_b16_structure():
    # ViT-B/16's structure (patch 16 conv, class token, encoder blocks, final LayerNorm, class token -> Linear) at a
    # fraction of its 330 MB: 2 blocks of width 192 on 64 px.
    return VisionTransformer(image_size=64, patch_size=16, num_layers=2, num_heads=3, hidden_dim=192, mlp_dim=768)


# name -> (constructor, input size, opset, module whose input is the feature, how torch pools it[, batch fixed at 1])
MODELS = {
    'resnet18': (lambda: torchvision.models.resnet18(weights=None), 224, 13, 'fc', None),
    'mobilenet_v3_large': (lambda: torchvision.models.mobilenet_v3_large(weights=None), 224, 13, 'classifier.3', None),
    'efficientnet_b0': (lambda: torchvision.models.efficientnet_b0(weights=None), 160, 13, 'classifier.1', None),
    'convnext_tiny': (lambda: torchvision.models.convnext_tiny(weights=None), 64, 17, 'classifier.2', None),
    'vit_b16_structure': (vit_b16_structure, 64, 17, 'heads.head', None),
    'regnet_y_400mf': (lambda: torchvision.models.regnet_y_400mf(weights=None), 224, 13, 'fc', None),
    'mobilenet_v2': (lambda: torchvision.models.mobilenet_v2(weights=None), 224, 13, 'classifier.1', None),
    # A 1x1 conv classifier on a 13x13 map (then ReLU, global pool): the feature is the map, average-pooled.
    'squeezenet1_1': (lambda: torchvision.models.squeezenet1_1(weights=None), 224, 11, 'classifier.1', 'gap'),
    # Many published exports fix the batch at 1 ([1,3,224,224]); the toolkit still runs batches through them.
    'resnet18_batch1': (lambda: torchvision.models.resnet18(weights=None), 96, 13, 'fc', None, True),
}


def pattern(size):
    # Same fixed input as the test builds in JS: x[i] = (i mod 251) / 251 - 0.5 over the NCHW buffer.
    n = 3 * size * size
    return (torch.arange(n, dtype=torch.float64).remainder(251) / 251 - 0.5).float().reshape(1, 3, size, size)


def export(name, make, size, opset, feature_module, pool, fixed_batch=False):
    path = os.path.join(OUT, name + '.onnx')
    meta_path = os.path.join(OUT, name + '.json')
    if os.path.exists(path) and os.path.exists(meta_path):
        return False
    torch.manual_seed(0)
    model = make().eval()
    captured = {}
    module = dict(model.named_modules())[feature_module]
    hook = module.register_forward_hook(lambda m, inp, out: captured.update(x=inp[0].detach()))
    with torch.no_grad():
        logits = model(pattern(size))
    hook.remove()
    feat = captured['x']
    if pool == 'gap':
        feat = feat.mean(dim=(2, 3))
    feat = feat.reshape(-1)
    tmp = path + '.tmp'
    torch.onnx.export(model, pattern(size), tmp, input_names=['input'], output_names=['logits'],
                      dynamic_axes=None if fixed_batch else {'input': {0: 'N'}, 'logits': {0: 'N'}}, opset_version=opset)
    meta = {
        'name': name,
        'inputSize': size,
        'batch': 1 if fixed_batch else 'dynamic',
        'layout': 'NCHW',
        'opset': opset,
        'featureDim': feat.numel(),
        'pool': pool or 'none',
        'classes': logits.shape[1],
        'featureHead': [float(v) for v in feat[:16]],
        'featureNorm': float(feat.double().norm()),
        'torch': torch.__version__,
    }
    with open(meta_path + '.tmp', 'w') as f:
        json.dump(meta, f, indent=1)
    os.replace(tmp, path)
    os.replace(meta_path + '.tmp', meta_path)
    return True


def main():
    assert sorted(NAMES) == sorted(MODELS), 'NAMES lists every model'
    os.makedirs(OUT, exist_ok=True)
    torch.set_num_threads(2)
    made = [name for name, spec in MODELS.items() if export(name, *spec)]
    print(f'torchvision fixtures: {len(MODELS)} in {os.path.normpath(OUT)}' + (f' (exported {", ".join(made)})' if made else ''))


if __name__ == '__main__':
    main()
