#!/usr/bin/env python3
"""Reference peer for bench/head-train.ts: the same two heads in PyTorch on CPU, on the same standardized feature
rows (read from the files the bench writes). softmax: multinomial logistic regression, L2 on W, mean cross-entropy;
samples/s of full-batch gradient evaluations (the unit of L-BFGS work) and a full fit with torch.optim.LBFGS to the
same gradient tolerance. mlp: dense(hidden, ReLU) -> dropout -> dense(K), Adam, minibatches; samples/s over one epoch.
Never a product dependency (apt-get install python3-torch). Prints one JSON object on the last line."""
import json, sys, time
import numpy as np
import torch

args = dict(a.split('=', 1) for a in sys.argv[1:])
threads = int(args.get('threads', 2)); n = int(args['n']); d = int(args['d']); K = int(args['k'])
l2 = float(args.get('l2', 1.0)); evals = int(args.get('evals', 10)); hidden = int(args.get('hidden', 256))
batch = int(args.get('batch', 32)); epochs = int(args.get('epochs', 1))
fit_only = args.get('fit_only') == '1'  # the size curve: only the full fit, at the l2 tl's search chose
torch.set_num_threads(threads); torch.manual_seed(0)
X = torch.from_numpy(np.fromfile(args['x'], dtype=np.float32).reshape(n, d))
y = torch.from_numpy(np.fromfile(args['y'], dtype=np.int32).astype(np.int64))
ce = torch.nn.functional.cross_entropy
out = {'torch': torch.__version__, 'threads': threads, 'n': n, 'd': d, 'k': K}

W = torch.zeros(K, d, requires_grad=True); b = torch.zeros(K, requires_grad=True)
def objective():
    return ce(X @ W.T + b, y) + 0.5 * l2 * (W * W).sum()
def grad_eval():
    W.grad = None; b.grad = None
    loss = objective(); loss.backward(); return loss
if not fit_only:
    grad_eval()  # warm-up
    t0 = time.perf_counter()
    for _ in range(evals): grad_eval()
    out['softmaxGradSamplesPerS'] = n * evals / (time.perf_counter() - t0)

# Full fit to a gradient infinity-norm of 1e-5 (tl's final-fit tolerance), from zero, in float64 like tl's solver.
X64 = X.double(); W = torch.zeros(K, d, dtype=torch.float64, requires_grad=True); b = torch.zeros(K, dtype=torch.float64, requires_grad=True)
opt = torch.optim.LBFGS([W, b], lr=1, max_iter=500, history_size=10, tolerance_grad=1e-5, tolerance_change=1e-12, line_search_fn='strong_wolfe')
calls = [0]
def closure():
    calls[0] += 1; opt.zero_grad()
    loss = ce(X64 @ W.T + b, y) + 0.5 * l2 * (W * W).sum(); loss.backward(); return loss
t0 = time.perf_counter(); opt.step(closure)
out['softmaxFitSeconds'] = time.perf_counter() - t0; out['softmaxFitEvaluations'] = calls[0]
if fit_only:
    print(json.dumps(out)); sys.exit(0)

torch.manual_seed(0)
mlp = torch.nn.Sequential(torch.nn.Linear(d, hidden), torch.nn.ReLU(), torch.nn.Dropout(0.2), torch.nn.Linear(hidden, K))
opt = torch.optim.Adam(mlp.parameters(), lr=1e-3, weight_decay=0)
def epoch():
    perm = torch.randperm(n)
    for s in range(0, n, batch):
        idx = perm[s:s + batch]; opt.zero_grad()
        loss = ce(mlp(X[idx]), y[idx]) + 0.5e-4 * (mlp[0].weight.pow(2).sum() + mlp[3].weight.pow(2).sum())
        loss.backward(); opt.step()
t0 = time.perf_counter()
for _ in range(epochs): epoch()
out['mlpSamplesPerS'] = n * epochs / (time.perf_counter() - t0)
print(json.dumps(out))
