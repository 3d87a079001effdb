#!/usr/bin/env python3
"""Reference peer for `npm run bench`: Debian python3-torch + python3-torchvision running mobilenet_v2.

Random weights (timing only), eval mode, no_grad, torch.set_num_threads(THREADS). Measures forward-only img/s on
random tensors at batch 1 and BATCH, then end-to-end img/s over the same files as the tl bench with a DataLoader
(PIL decode, Resize(256), CenterCrop(224), ToTensor, Normalize) for each requested num_workers. Prints one JSON
object on the last line of stdout. Never a product dependency: install with
`apt-get install python3-torch python3-torchvision` only to run this comparison.
"""
import argparse
import json
import os
import resource
import sys
import time

import torch
import torchvision
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms


def rss_mb():
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE') / 2**20


def max_rss_mb(who):
    return resource.getrusage(who).ru_maxrss / 1024  # KiB on Linux


class Files(Dataset):
    def __init__(self, paths, tf):
        self.paths, self.tf = paths, tf

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, i):
        with Image.open(self.paths[i]) as im:
            return self.tf(im.convert('RGB'))


def worker_init(_):
    # Each worker only decodes; keep its own torch ops single-threaded so it does not fight the model's threads.
    torch.set_num_threads(1)


def time_forward(model, x, min_seconds, min_batches):
    n = 0
    t0 = time.perf_counter()
    while True:
        model(x)
        n += 1
        el = time.perf_counter() - t0
        if n >= min_batches and el >= min_seconds:
            return n * x.shape[0] / el


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--list', required=True, help='file with one image path per line')
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--batch', type=int, default=32)
    ap.add_argument('--workers', default='0,2', help='comma-separated DataLoader num_workers values to try')
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    # Random weights drive activations into denormal floats that trained weights do not produce; denormal arithmetic
    # is ~5x slower on x86, which would make the peer look far slower than it is with real weights.
    torch.set_flush_denormal(True)
    torch.manual_seed(0)
    with open(args.list) as f:
        paths = [line.rstrip('\n') for line in f if line.strip()]

    model = torchvision.models.mobilenet_v2()  # random weights: fine for timing
    model.eval()
    tf = transforms.Compose([
        transforms.Resize(256),
        transforms.CenterCrop(224),
        transforms.ToTensor(),
        transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225]),
    ])

    out = {
        'torch': torch.__version__,
        'torchvision': torchvision.__version__,
        'threads': torch.get_num_threads(),
        'batch': args.batch,
    }
    with torch.no_grad():
        x1 = torch.randn(1, 3, 224, 224)
        xb = torch.randn(args.batch, 3, 224, 224)
        for _ in range(3):
            model(x1)
        model(xb)
        # Three alternating rounds, median of each (the bench machine is a noisy shared VM).
        r1, r32 = [], []
        for _ in range(3):
            r1.append(time_forward(model, x1, 1, 5))
            r32.append(time_forward(model, xb, 2, 1))
        out['forward'] = {'bs1': sorted(r1)[1], 'bs32': sorted(r32)[1], 'bs1Rounds': r1, 'bs32Rounds': r32}

        runs = []
        for w in [int(v) for v in args.workers.split(',') if v != '']:
            loader = DataLoader(Files(paths, tf), batch_size=args.batch, shuffle=False, num_workers=w,
                                worker_init_fn=worker_init if w > 0 else None, persistent_workers=False)
            third = (len(paths) + 2) // 3
            done = 0
            rss_third = None
            feats = []
            t0 = time.perf_counter()
            for xb in loader:
                y = model(xb)
                feats.append(y)  # keep outputs like an extractor would
                done += xb.shape[0]
                if rss_third is None and done >= third:
                    rss_third = rss_mb()
            el = time.perf_counter() - t0
            runs.append({
                'workers': w,
                'images': done,
                'seconds': el,
                'imgPerSec': done / el,
                'peakRssMB': max_rss_mb(resource.RUSAGE_SELF),
                'peakRssWorkersMB': max_rss_mb(resource.RUSAGE_CHILDREN) if w > 0 else 0,
                'rssAtThirdMB': rss_third or 0,
                'rssEndMB': rss_mb(),
            })
            print(f'peer workers={w}: {done / el:.1f} img/s', file=sys.stderr)
            del loader, feats
        out['e2e'] = runs
    print(json.dumps(out))


if __name__ == '__main__':
    main()
