#!/usr/bin/env python3
"""PyTorch peer of r50worker's training benchmark (bench/bench_train.sh).

Trains the network of Chainer's ResNet50Layers definition (tests/oracle_torch.py's
ChainerResNet: conv1 with bias, ceil-mode max pooling, MSRA or FB strides) with a
K-class fc6, softmax cross-entropy and SGD(momentum 0.9, weight decay 1e-4) in training
mode on random (batch, 3, crop, crop) inputs: two warm-up steps, then steps until
--seconds have passed. Prints `img_per_s=<float>` last. Inputs are made once and reused
(no decode, no augmentation): the peer's figure is compute only.

--bf16 runs the forward and the loss under torch.autocast("cpu", torch.bfloat16) (bf16
convolutions where PyTorch has them; float32 master weights and optimizer state).

usage: /usr/bin/python3 bench/torch_train_peer.py [--batch 32] [--threads 2] [--crop 32]
       [--classes 10] [--seconds 30] [--fb] [--bf16]
"""
import argparse
import os
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
from oracle_torch import ChainerResNet  # noqa: E402


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--crop", type=int, default=32)
    p.add_argument("--classes", type=int, default=10)
    p.add_argument("--seconds", type=float, default=30)
    p.add_argument("--fb", action="store_true")
    p.add_argument("--bf16", action="store_true")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    model = ChainerResNet(50, downsample_fb=a.fb)
    model.fc6 = torch.nn.Linear(2048, a.classes)
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)
    x = torch.randn(a.batch, 3, a.crop, a.crop) * 50
    t = torch.randint(0, a.classes, (a.batch,))

    def step():
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=a.bf16):
            h = model(x)["fc6"]
            loss = torch.nn.functional.cross_entropy(h.float(), t)
        opt.zero_grad()
        loss.backward()
        opt.step()

    for _ in range(2):
        step()
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < a.seconds:
        step()
        n += 1
    el = time.perf_counter() - start
    print(f"torch {torch.__version__}{' bf16 autocast' if a.bf16 else ''}: {n} steps of batch {a.batch} at {a.crop}x{a.crop}, "
          f"{a.threads} threads, {el:.1f} s")
    print(f"img_per_s={n * a.batch / el:.3f}")


if __name__ == "__main__":
    main()
