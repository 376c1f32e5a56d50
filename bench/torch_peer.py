#!/usr/bin/env python3
"""PyTorch peer for r50worker's CPU benchmark (bench/bench_cpu.sh).

Runs torchvision's resnet50 (random weights, eval mode, no autograd) up to pool5 (the
flattened global average pool; fc removed) on a random (batch, 3, 224, 224) input:
two warm-up iterations, then iterations until --seconds have passed. Prints a
per-iteration timing summary and, as its last line, `img_per_s=<float>` (images over
the elapsed time of the timed iterations).

torchvision's resnet50 puts the bottleneck stride on the 3x3 conv (Chainer's
downsample_fb=True layout) and has no conv1 bias: 4.09 GMAC per image, the same as
Chainer's FB layout and 6% more than its default MSRA layout (3.86 GMAC).

Usage: /usr/bin/python3 bench/torch_peer.py [--batch 16] [--threads 2] [--seconds 20]
"""

import argparse
import statistics
import time

import torch
import torchvision


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seconds", type=float, default=20.0)
    args = p.parse_args()

    torch.set_num_threads(args.threads)
    model = torchvision.models.resnet50(weights=None)
    model.fc = torch.nn.Identity()
    model.eval()
    x = torch.randn(args.batch, 3, 224, 224)

    times = []
    with torch.no_grad():
        for _ in range(2):
            model(x)
        start = time.perf_counter()
        while time.perf_counter() - start < args.seconds:
            t0 = time.perf_counter()
            model(x)
            times.append(time.perf_counter() - t0)
    elapsed = time.perf_counter() - start

    ms = [1000.0 * t for t in times]
    print(f"torch {torch.__version__} torchvision {torchvision.__version__} "
          f"threads={torch.get_num_threads()} batch={args.batch} layers=pool5")
    print(f"iterations={len(ms)} elapsed_s={elapsed:.3f} ms/iter: "
          f"mean={statistics.mean(ms):.1f} median={statistics.median(ms):.1f} "
          f"min={min(ms):.1f} max={max(ms):.1f}")
    print(f"img_per_s={args.batch * len(ms) / elapsed:.3f}")


if __name__ == "__main__":
    main()
