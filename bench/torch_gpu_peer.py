#!/usr/bin/env python3
"""The GPU benchmark's peer: torchvision's ResNet-50 on the same GPU as r50worker, as a
user would set it up for speed — channels_last, torch.backends.cudnn.benchmark = True,
autocast to bfloat16 for the bf16 rows, TF32 allowed only for the tf32 rows.

  infer: forward to pool5 (fc replaced by Identity) in inference mode;
  train: forward + cross-entropy + backward + SGD (momentum 0.9, weight decay 1e-4).

Each iteration copies its input from (pageable) host memory, as r50worker's bench does
(its forward takes host images); --input device keeps it on the GPU instead. Prints
the settings, then img_per_s=<float>.

usage: torch_gpu_peer.py --mode infer|train --precision fp32|tf32|bf16 --batch N
                         [--seconds 10] [--input host|device]
"""
import argparse
import contextlib
import time

import torch
import torchvision


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mode", choices=["infer", "train"], required=True)
    ap.add_argument("--precision", choices=["fp32", "tf32", "bf16"], required=True)
    ap.add_argument("--batch", type=int, required=True)
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--input", choices=["host", "device"], default="host")
    ap.add_argument("--profile", action="store_true",
                    help="also print PyTorch's GPU kernels of 5 iterations, busiest first")
    a = ap.parse_args()

    torch.backends.cudnn.benchmark = True
    tf32 = a.precision != "fp32"
    torch.backends.cudnn.allow_tf32 = tf32
    torch.backends.cuda.matmul.allow_tf32 = tf32
    dev = torch.device("cuda")
    model = torchvision.models.resnet50(weights=None)
    if a.mode == "infer":
        model.fc = torch.nn.Identity()
        model.eval()
    model = model.to(dev, memory_format=torch.channels_last)
    autocast = (torch.autocast("cuda", dtype=torch.bfloat16) if a.precision == "bf16"
                else contextlib.nullcontext())
    host = torch.randn(a.batch, 3, 224, 224) * 60
    labels = torch.randint(0, 1000, (a.batch,), device=dev)
    resident = host.to(dev).contiguous(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)
    loss_fn = torch.nn.CrossEntropyLoss()

    def step():
        x = resident if a.input == "device" else \
            host.to(dev).contiguous(memory_format=torch.channels_last)
        if a.mode == "infer":
            with torch.inference_mode(), autocast:
                return model(x).float().sum()
        opt.zero_grad(set_to_none=True)
        with autocast:
            loss = loss_fn(model(x), labels)
        loss.backward()
        opt.step()
        return loss

    for _ in range(5):  # cudnn.benchmark's search, allocator warm-up
        step()
    torch.cuda.synchronize()
    iters, t0 = 0, time.perf_counter()
    while True:
        step()
        iters += 1
        if iters % 5 == 0:
            torch.cuda.synchronize()
            el = time.perf_counter() - t0
            if el >= a.seconds:
                break
    print(f"torch {torch.__version__} torchvision {torchvision.__version__} "
          f"{torch.cuda.get_device_name()}: {a.mode} {a.precision} batch {a.batch} "
          f"input {a.input}, {iters} iterations in {el:.2f} s")
    print(f"img_per_s={iters * a.batch / el:.3f}")
    if a.profile:
        print_profile(step)


def print_profile(step, iters=5):
    """The GPU kernels of ITERS iterations, summed per kernel name, busiest first: what
    r50worker's R50_CUDA_PROFILE table is read against."""
    from torch.profiler import ProfilerActivity, profile
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        for _ in range(iters):
            step()
        torch.cuda.synchronize()
    rows = {}
    for e in prof.events():
        if str(e.device_type).endswith("CUDA"):  # a kernel or a copy, not a CPU op
            us = e.time_range.elapsed_us()
            n, t = rows.get(e.name, (0, 0.0))
            rows[e.name] = (n + 1, t + us)
    total = sum(t for _, t in rows.values())
    print(f"PyTorch GPU kernels, {iters} iterations: {total / 1e3 / iters:.2f} ms/iter")
    for name, (n, t) in sorted(rows.items(), key=lambda r: -r[1][1])[:30]:
        print(f"{t / 1e3 / iters:9.2f} ms/iter {n // iters:5d} calls  {name[:110]}")


if __name__ == "__main__":
    main()
