#!/usr/bin/env python3
"""r50worker's training step against PyTorch autograd (issue 10).

The network of oracle_torch.py (Chainer's ResNetLayers in torch.nn) with seeded
weights and realistic BN statistics takes, in training mode (BN momentum 0.1: Chainer's
decay 0.9), one batch of 4 random 64x64 inputs with random labels through fc6 and
torch's cross-entropy (the batch mean, Chainer's softmax_cross_entropy), then backward.
r50worker does the same step (grad_tool) and writes its loss, gradients, running
statistics and the decision of every ReLU (which outputs were > 0).

The reference is that step in float64 taking r50worker's ReLU decisions. A ReLU input
within rounding of zero goes either way in any float32 engine, and one such flip moves
every gradient below it by up to a few percent — PyTorch's own float32 gradients are
that far from its float64 ones on these inputs, which this script measures and prints.
With the decisions shared, what remains is the arithmetic of each op: the loss must
agree within 1e-5 (relative), every parameter's gradient within 1e-3 in norm
(||ours - ref|| / ||ref||), every running average within 1e-5. conv1/b feeds a
training-mode BatchNormalization, which removes any constant, so its exact gradient is
zero: ours must be negligible next to conv1/W's.

usage: oracle_torch_train.py --arch 50|101 [--fb] --seed S --outdir DIR --tool GRAD_TOOL
"""
import argparse
import copy
import os
import subprocess
import sys

import numpy as np
import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from oracle_torch import ChainerResNet, chainer_arrays, init_model, random_pixels  # noqa

FAILS = []


def check(ok, what):
    if not ok:
        print("FAIL " + what)
        FAILS.append(what)


class Relus:
    """torch.relu during a forward: the natural one recording its decisions, or one
    taking given decisions (h * mask, whose gradient is the mask)."""

    def __init__(self, masks=None):
        self.masks, self.seen, self.real = masks, [], torch.relu

    def __call__(self, h):
        i = len(self.seen)
        if self.masks is None:
            self.seen.append((h > 0).numpy().astype(np.uint8))
            return self.real(h)
        mask = torch.from_numpy(self.masks[i]).to(h.dtype)
        self.seen.append(self.masks[i])
        return h * mask

    def __enter__(self):
        torch.relu = self
        return self

    def __exit__(self, *exc):
        torch.relu = self.real


def step(model, x, labels, dtype, masks=None):
    """One training step of a copy of `model` in dtype: (loss, gradients by Chainer
    key as float64, running statistics by key, ReLU decisions)."""
    m = copy.deepcopy(model).to(dtype)
    m.train()
    with Relus(masks) as relus:
        loss = nn.functional.cross_entropy(m(x.to(dtype))["fc6"], labels)
    loss.backward()
    grads, stats = {}, {}
    for name, mod in m.named_modules():
        path = name.replace(".", "/")
        if isinstance(mod, (nn.Conv2d, nn.Linear)):
            grads[f"{path}/W"] = mod.weight.grad.double().numpy()
            if mod.bias is not None:
                grads[f"{path}/b"] = mod.bias.grad.double().numpy()
        elif isinstance(mod, nn.BatchNorm2d):
            grads[f"{path}/gamma"] = mod.weight.grad.double().numpy()
            grads[f"{path}/beta"] = mod.bias.grad.double().numpy()
            stats[f"{path}/avg_mean"] = mod.running_mean.double().numpy()
            stats[f"{path}/avg_var"] = mod.running_var.double().numpy()
    return loss.item(), grads, stats, relus.seen


def rel(a, b):
    nb = np.linalg.norm(b)
    return np.linalg.norm(a - b) / nb if nb > 0 else np.linalg.norm(a)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--arch", type=int, choices=[50, 101, 152], required=True)
    p.add_argument("--fb", action="store_true")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--outdir", required=True)
    p.add_argument("--tool", required=True, help="grad_tool")
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--size", type=int, default=64)
    args = p.parse_args()
    torch.set_num_threads(2)
    gen = torch.Generator().manual_seed(args.seed)
    model = ChainerResNet(args.arch, args.fb)
    init_model(model, gen)
    for mod in model.modules():
        if isinstance(mod, nn.BatchNorm2d):
            mod.momentum = 0.1
    os.makedirs(args.outdir, exist_ok=True)
    np.savez(os.path.join(args.outdir, "model.npz"), **dict(chainer_arrays(model)))
    x = random_pixels((args.batch, 3, args.size, args.size), gen)
    labels = torch.randint(0, 1000, (args.batch,), generator=gen)
    np.savez(os.path.join(args.outdir, "train_input.npz"), x=x.numpy(),
             labels=labels.numpy().astype(np.int32))
    tool = subprocess.run([args.tool, args.outdir, str(args.arch), str(int(args.fb))],
                          capture_output=True, text=True)
    print(tool.stdout.strip(), tool.stderr.strip())
    if tool.returncode:
        sys.exit("oracle_torch_train: grad_tool failed")
    ours = np.load(os.path.join(args.outdir, "ours.npz"))
    masks = [ours[k] for k in sorted(k for k in ours.files if k.startswith("mask/"))]

    loss64, g64, s64, natural = step(model, x, labels, torch.float64)
    loss32, g32, _, _ = step(model, x, labels, torch.float32)
    loss_ref, ref, stats, _ = step(model, x, labels, torch.float64, masks)
    flips = sum(int((a != b).sum()) for a, b in zip(masks, natural))
    worst32 = max((rel(g32[k], g64[k]), k) for k in g64 if k != "conv1/b")
    worst_free = max((rel(ours[f"grad/{k}"], g64[k]), k) for k in g64 if k != "conv1/b")
    print(f"ReLU decisions: {sum(m.size for m in masks)} over {len(masks)} ReLUs, {flips} "
          f"differ from float64's own; without sharing them, PyTorch float32's worst "
          f"gradient is {worst32[0]:.3g} from float64 ({worst32[1]}), r50worker's "
          f"{worst_free[0]:.3g} ({worst_free[1]})")

    lrel = abs(float(ours["loss"]) - loss_ref) / abs(loss_ref)
    check(lrel <= 1e-5, f"loss {float(ours['loss']):.7f} vs {loss_ref:.7f}: {lrel:.3g}")
    worst = (0.0, "")
    for key, want in ref.items():
        got = ours[f"grad/{key}"].astype(np.float64)
        if key == "conv1/b":
            nb, nw = np.linalg.norm(got), np.linalg.norm(ours["grad/conv1/W"])
            check(nb <= 1e-5 * nw, f"conv1/b's gradient {nb:.3g} is not negligible "
                                   f"(conv1/W's {nw:.3g}; exact: 0)")
            continue
        r = rel(got, want)
        worst = max(worst, (r, key))
        check(r <= 1e-3, f"gradient of {key}: relative difference {r:.3g}")
    worst_s = (0.0, "")
    for key, want in stats.items():
        r = rel(ours[f"after/{key}"].astype(np.float64), want)
        worst_s = max(worst_s, (r, key))
        check(r <= 1e-5, f"running average {key}: relative difference {r:.3g}")
    print(f"resnet{args.arch}{' fb' if args.fb else ''} seed {args.seed}: loss {lrel:.3g}, "
          f"{len(ref)} gradients worst {worst[0]:.3g} ({worst[1]}), {len(stats)} running "
          f"averages worst {worst_s[0]:.3g} ({worst_s[1]})")
    if FAILS:
        sys.exit(f"oracle_torch_train: {len(FAILS)} failure(s)")
    print("oracle_torch_train: all checks passed")


if __name__ == "__main__":
    main()
