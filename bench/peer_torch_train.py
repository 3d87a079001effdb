#!/usr/bin/env python3
"""Reference peer for bench/train-throughput.ts: training images/s of torchvision MobileNetV2 (random weights) in
PyTorch on CPU, same batch size and resolution. Modes: head (a linear layer on cached 1280-d features), partial (the
last K feature blocks + classifier trainable, the frozen part run under no_grad every step: no cache), full (all).
BatchNorm in eval mode (frozen statistics), like tl. Prints one JSON line."""
import json, sys, time
import torch, torchvision

args = dict(a.split('=', 1) for a in sys.argv[1:])
threads = int(args.get('threads', 2)); batch = int(args.get('batch', 32)); size = int(args.get('size', 224))
last = int(args.get('train_last', 2)); steps = int(args.get('steps', 3)); classes = 10
full_batch = int(args.get('full_batch', batch)); full_size = int(args.get('full_size', size))
modes = args.get('modes', 'head,partial,full').split(',')
torch.set_num_threads(threads); torch.manual_seed(0)
# Random weights produce denormal floats that real weights do not; they slow the CPU 2-5x. Flush them, as the
# extraction peer does, so the peer is timed fairly.
torch.set_flush_denormal(True)
model = torchvision.models.mobilenet_v2(num_classes=classes)
model.eval()  # BN statistics frozen, dropout off
x = torch.randn(batch, 3, size, size); y = torch.randint(0, classes, (batch,))
loss_fn = torch.nn.CrossEntropyLoss()

cpu_ms = {}
def bench(step, n=None, name=None):
    n = n or batch
    step()  # warm-up
    t0 = time.perf_counter(); c0 = time.process_time()
    for _ in range(steps): step()
    # CPU time per image (all threads): on a shared machine the fairer comparison next to wall-clock images/s.
    if name: cpu_ms[name] = 1000 * (time.process_time() - c0) / (n * steps)
    return n * steps / (time.perf_counter() - t0)

out = {'torch': torch.__version__, 'threads': threads, 'batch': batch, 'size': size, 'trainLast': last, 'fullBatch': full_batch, 'fullSize': full_size}
# head on cached features
feats = torch.randn(batch, 1280); head = torch.nn.Linear(1280, classes); opt = torch.optim.Adam(head.parameters(), 1e-3)
def head_step():
    opt.zero_grad(); loss_fn(head(feats), y).backward(); opt.step()
if 'head' in modes: out['head'] = bench(head_step)
# partial: frozen features[:-last] under no_grad each step (no cache), then trainable features[-last:] + classifier
frozen = model.features[:-last]; tail = model.features[-last:]
for p in frozen.parameters(): p.requires_grad_(False)
params = list(tail.parameters()) + list(model.classifier.parameters())
opt = torch.optim.Adam(params, 1e-4)
def partial_step():
    opt.zero_grad()
    with torch.no_grad(): a = frozen(x)
    f = torch.nn.functional.adaptive_avg_pool2d(tail(a), 1).flatten(1)
    loss_fn(model.classifier(f), y).backward(); opt.step()
if 'partial' in modes: out['partial'] = bench(partial_step)
for p in model.parameters(): p.requires_grad_(True)
opt = torch.optim.Adam(model.parameters(), 1e-4)
xf = torch.randn(full_batch, 3, full_size, full_size); yf = torch.randint(0, classes, (full_batch,))
def full_step():
    opt.zero_grad(); loss_fn(model(xf), yf).backward(); opt.step()
if 'full' in modes:
    out['full'] = bench(full_step, full_batch, 'full'); out['fullCpuMsPerImage'] = cpu_ms['full']
print(json.dumps(out))
