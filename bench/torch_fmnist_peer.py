#!/usr/bin/env python3
"""The Fashion-MNIST recipe of bench_finetune_fmnist.sh in PyTorch (Debian's), for the
same-machine comparison: Chainer's ResNet-50 definition (tests/oracle_torch.py) with
Chainer's initialisation (convolutions HeNormal, fc6 LeCunNormal, zero biases),
10-class fc6, images through Chainer's prepare (PIL bilinear resize to SIZE x SIZE,
BGR, mean subtracted), random CROP x CROP windows and mirrors, SGD(momentum 0.9,
weight decay 1e-4) with linear warm-up then cosine decay per step, validated on the
test tree (center crop) after every epoch. Prints per-epoch time, img/s and top-1.

usage: /usr/bin/python3 bench/torch_fmnist_peer.py TRAIN_DIR TEST_DIR [--epochs 3]
       [--batch 64] [--threads 2] [--lr 0.02] [--warmup-epochs 0.1] [--size 40]
       [--crop 32] [--limit N]
"""
import argparse
import math
import os
import sys
import time

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
from oracle_torch import ChainerResNet  # noqa: E402

MEAN_BGR = np.array([103.063, 115.903, 123.152], dtype=np.float32)


def tree(root, limit):
    classes = sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d)))
    rows = [(os.path.join(root, c, f), k) for k, c in enumerate(classes)
            for f in sorted(os.listdir(os.path.join(root, c)))]
    if limit:
        rng = np.random.default_rng(0)
        rows = [rows[i] for i in sorted(rng.choice(len(rows), limit, replace=False))]
    return rows


def prepare(path, size):
    im = Image.open(path).convert("RGB").resize((size, size), Image.BILINEAR)
    x = np.asarray(im, dtype=np.float32)[:, :, ::-1] - MEAN_BGR
    return x.transpose(2, 0, 1)


def load_all(rows, size):
    return np.stack([prepare(p, size) for p, _ in rows]), np.array([k for _, k in rows])


def main():
    p = argparse.ArgumentParser()
    p.add_argument("train")
    p.add_argument("test")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--lr", type=float, default=0.02)
    p.add_argument("--warmup-epochs", type=float, default=0.1)
    p.add_argument("--size", type=int, default=40)
    p.add_argument("--crop", type=int, default=32)
    p.add_argument("--limit", type=int, default=0)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    xtr, ytr = load_all(tree(a.train, a.limit), a.size)
    xte, yte = load_all(tree(a.test, a.limit // 6 if a.limit else 0), a.size)
    model = ChainerResNet(50)
    model.fc6 = torch.nn.Linear(2048, 10)
    for m in model.modules():
        if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)):
            fan_in = m.weight[0].numel()
            gain = 2.0 if isinstance(m, torch.nn.Conv2d) else 1.0
            torch.nn.init.normal_(m.weight, 0, math.sqrt(gain / fan_in))
            if m.bias is not None:
                torch.nn.init.zeros_(m.bias)
    opt = torch.optim.SGD(model.parameters(), lr=a.lr, momentum=0.9, weight_decay=1e-4)
    n = len(xtr)
    steps_per_epoch = n // a.batch
    total = steps_per_epoch * a.epochs
    o = (a.size - a.crop) // 2
    step = 0
    for epoch in range(a.epochs):
        model.train()
        order = rng.permutation(n)
        t0, seen = time.perf_counter(), 0
        for b in range(steps_per_epoch):
            idx = order[b * a.batch:(b + 1) * a.batch]
            xs = np.empty((len(idx), 3, a.crop, a.crop), np.float32)
            for i, j in enumerate(idx):
                y0, x0 = rng.integers(0, a.size - a.crop + 1, 2)
                w = xtr[j, :, y0:y0 + a.crop, x0:x0 + a.crop]
                xs[i] = w[:, :, ::-1] if rng.integers(2) else w
            progress = (step + 1) / steps_per_epoch
            lr = a.lr * min(1.0, progress / a.warmup_epochs) if progress < a.warmup_epochs \
                else a.lr * 0.5 * (1 + math.cos(math.pi * (step + 1) / total))
            for g in opt.param_groups:
                g["lr"] = lr
            h = model(torch.from_numpy(xs))["fc6"]
            loss = torch.nn.functional.cross_entropy(h, torch.from_numpy(ytr[idx]))
            opt.zero_grad()
            loss.backward()
            opt.step()
            step += 1
            seen += len(idx)
        el = time.perf_counter() - t0
        model.eval()
        correct = 0
        with torch.no_grad():
            for s in range(0, len(xte), 256):
                h = model(torch.from_numpy(np.ascontiguousarray(
                    xte[s:s + 256, :, o:o + a.crop, o:o + a.crop])))["fc6"]
                correct += int((h.argmax(1).numpy() == yte[s:s + 256]).sum())
        print(f"torch epoch {epoch + 1}: {el:.0f} s, {seen / el:.1f} img/s, last loss "
              f"{float(loss):.4f}, test top-1 {correct / len(xte):.4f}", flush=True)


if __name__ == "__main__":
    main()
