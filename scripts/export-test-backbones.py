#!/usr/bin/python3
"""Test fixtures for backbone detection (test/backbone-detect.test.ts): torchvision architectures with random
weights (weights=None), exported to ONNX in test-fixtures/torchvision/ (git-ignored), plus for each the feature
torch itself feeds the classifier on a fixed input pattern, so the test checks the detector against torch, not
against itself. Cached: an existing export is kept, so reruns are instant.

Also feature extractors with no classifier (test/integration/backbone-features.test.ts), shaped like the ONNX
exports of DINOv2 and CLIP's vision model (Hugging Face output names): tiny random-weight ViTs whose outputs are
`last_hidden_state` [N, 1+P, D], `pooler_output` [N, D] and/or `image_embeds` [N, E]; their meta holds what torch
computes for each pooling rule (cls, mean of the patch tokens, the two concatenated) on the fixed input.

Needs Debian's python3-torch and python3-torchvision (bookworm: torch 1.13, TorchScript exporter, no dynamo).
With --bench, also the full-size shapes of DINOv2 ViT-S/14 and CLIP ViT-B/32 (random weights, 88 and 350 MB) for
the extraction bench (npm run bench:extract; not used by the tests).

Usage: scripts/export-test-backbones.py [OUT_DIR] [--bench]
"""
import json
import os
import sys

BENCH = '--bench' in sys.argv
ARGS = [a for a in sys.argv[1:] if a != '--bench']
OUT = ARGS[0] if ARGS else os.path.join(os.path.dirname(__file__), '..', 'test-fixtures', 'torchvision')
NAMES = ['resnet18', 'mobilenet_v3_large', 'efficientnet_b0', 'convnext_tiny', 'vit_b16_structure', 'regnet_y_400mf',
         'mobilenet_v2', 'squeezenet1_1', 'resnet18_batch1', 'vit_tiny_hidden', 'dinov2_shaped', 'clip_shaped']

# All exported already: done before importing torch (seconds on a busy machine).
if __name__ == '__main__' and not BENCH and all(os.path.exists(os.path.join(OUT, n + ext)) for n in NAMES for ext in ('.onnx', '.json')):
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


class TokenOutputs(torch.nn.Module):
    """A torchvision ViT without its classifier, returning what a Hugging Face feature-extraction export returns:
    the final-LayerNorm tokens (class token first) and, optionally, the class token and a projection of it."""

    def __init__(self, vit, outputs, embed_dim=None):
        super().__init__()
        self.vit = vit
        self.outputs = outputs
        self.proj = torch.nn.Linear(vit.hidden_dim, embed_dim, bias=False) if embed_dim else None

    def forward(self, x):
        x = self.vit._process_input(x)
        cls = self.vit.class_token.expand(x.shape[0], -1, -1)
        tokens = self.vit.encoder(torch.cat([cls, x], dim=1))  # the encoder ends in its LayerNorm
        values = {'last_hidden_state': tokens, 'pooler_output': tokens[:, 0]}
        if self.proj is not None:
            values['image_embeds'] = self.proj(tokens[:, 0])
        return tuple(values[o] for o in self.outputs)


def tiny_vit(patch):
    return VisionTransformer(image_size=224, patch_size=patch, num_layers=2, num_heads=2, hidden_dim=64, mlp_dim=128)


# name -> (module, input size, opset, output names): feature extractors with no classifier.
FEATURE_MODELS = {
    # torchvision's ViT (patch 16: 196 patches + class token), token output only: pooled by a rule.
    'vit_tiny_hidden': (lambda: TokenOutputs(tiny_vit(16), ['last_hidden_state']), 224, 17),
    # DINOv2's layout (patch 14: 256 patches + class token; onnx-community/dinov2-* outputs).
    'dinov2_shaped': (lambda: TokenOutputs(tiny_vit(14), ['last_hidden_state', 'pooler_output']), 224, 17),
    # CLIP's vision model with projection (Xenova/clip-vit-* vision_model.onnx outputs image_embeds first).
    'clip_shaped': (lambda: TokenOutputs(tiny_vit(16), ['image_embeds', 'last_hidden_state'], 32), 224, 17),
}

# Full-size shapes for timing only: DINOv2 ViT-S/14 (384 wide, 12 blocks, 6 heads) and CLIP ViT-B/32 (768, 12, 12).
BENCH_MODELS = {
    'vit_s14_dinov2_size': (lambda: TokenOutputs(VisionTransformer(
        image_size=224, patch_size=14, num_layers=12, num_heads=6, hidden_dim=384, mlp_dim=1536),
        ['last_hidden_state', 'pooler_output']), 224, 17),
    'vit_b32_clip_size': (lambda: TokenOutputs(VisionTransformer(
        image_size=224, patch_size=32, num_layers=12, num_heads=12, hidden_dim=768, mlp_dim=3072),
        ['image_embeds', 'last_hidden_state'], 512), 224, 17),
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


def summary(v):
    v = v.reshape(-1)
    return {'dim': v.numel(), 'head': [float(x) for x in v[:16]], 'norm': float(v.double().norm())}


def export_features(name, make, size, opset, outputs=None):
    path = os.path.join(OUT, name + '.onnx')
    meta_path = os.path.join(OUT, name + '.json')
    if os.path.exists(path) and os.path.exists(meta_path):
        return False
    torch.manual_seed(0)
    model = make().eval()
    with torch.no_grad():
        values = dict(zip(model.outputs, model(pattern(size))))
    tokens = values['last_hidden_state'][0]
    cls, mean = tokens[0], tokens[1:].mean(dim=0)
    features = {'cls': summary(cls), 'mean': summary(mean), 'cls+mean': summary(torch.cat([cls, mean]))}
    for o in ('pooler_output', 'image_embeds'):
        if o in values:
            features[o] = summary(values[o][0])
    tmp = path + '.tmp'
    torch.onnx.export(model, pattern(size), tmp, input_names=['pixel_values'], output_names=model.outputs,
                      dynamic_axes={'pixel_values': {0: 'N'}, **{o: {0: 'N'} for o in model.outputs}},
                      opset_version=opset)
    meta = {
        'name': name,
        'inputSize': size,
        'layout': 'NCHW',
        'opset': opset,
        'outputs': model.outputs,
        'tokens': values['last_hidden_state'].shape[1],
        'features': features,
        'params': sum(p.numel() for p in model.parameters()),
        'torch': torch.__version__,
    }
    with open(meta_path + '.tmp', 'w') as f:
        json.dump(meta, f, indent=1)
    os.replace(tmp, path)
    os.replace(meta_path + '.tmp', meta_path)
    return True


def main():
    assert sorted(NAMES) == sorted([*MODELS, *FEATURE_MODELS]), 'NAMES lists every model'
    os.makedirs(OUT, exist_ok=True)
    torch.set_num_threads(2)
    made = [name for name, spec in MODELS.items() if export(name, *spec)]
    made += [name for name, spec in FEATURE_MODELS.items() if export_features(name, *spec)]
    if BENCH:
        made += [name for name, spec in BENCH_MODELS.items() if export_features(name, *spec)]
    total = len(MODELS) + len(FEATURE_MODELS) + (len(BENCH_MODELS) if BENCH else 0)
    print(f'torchvision fixtures: {total} in {os.path.normpath(OUT)}' + (f' (exported {", ".join(made)})' if made else ''))


if __name__ == '__main__':
    main()
