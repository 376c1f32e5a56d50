#!/usr/bin/env python3
"""PyTorch reference oracle for r50worker (DESIGN.md §1, §5).

Builds, from plain torch.nn modules, the network exactly as Chainer's
chainer.links.ResNet{50,101,152}Layers defines it: conv1 7x7/2 with bias, BN eps
2e-5, pool1 max 3x3/2 pad 0 ceil mode, bottleneck stride on the 1x1 conv (MSRA) or on
the 3x3 conv (--fb), pool5 global average, fc6 2048->1000, prob softmax.

Generation mode (--outdir DIR) writes, for a seeded random model with realistic
batch-norm statistics:
  DIR/model.npz     the Chainer npz keys only (conv1/W, bn1/avg_mean, res2/a/conv1/W,
                    ..., fc6/b): float32, BN "N" an int64 scalar
  DIR/input.npz     x0 (2,3,224,224) and x1 (1,3,160,200), uniform in [-120, 130]
  DIR/expected.npz  x0/<layer>, x1/<layer> for every available layer, float32,
                    computed in eval mode
and prints max|.| and rms of every layer so the scaling can be checked.

With --weights NPZ the model's weights are that Chainer npz (e.g. one converted from a
caffemodel) instead of drawn ones, and DIR/model.npz is a symbolic link to it.

Self-check mode (--selfcheck) verifies the construction: trainable parameter count,
output shapes at 224x224 and 160x200, bottleneck stride placement, and parameter
shapes against torchvision's ResNet (which differs only by conv1's bias).

Usage:
  /usr/bin/python3 tests/oracle_torch.py --arch 50|101|152 [--fb] --seed S --outdir DIR
                                        [--weights CHAINER.npz]
  /usr/bin/python3 tests/oracle_torch.py --selfcheck --arch 50|101|152 [--fb]
"""

import argparse
import math
import os
import sys
import time

import numpy as np
import torch
from torch import nn

BN_EPS = 2e-5
BN_N = 10  # value written for every BatchNormalization's "N" persistent
BLOCKS = {50: [3, 4, 6, 3], 101: [3, 4, 23, 3], 152: [3, 8, 36, 3]}
PARAM_COUNT = {50: 25_557_096, 101: 44_549_224, 152: 60_192_872}
LAYERS = ["conv1", "pool1", "res2", "res3", "res4", "res5", "pool5", "fc6", "prob"]
PIXEL_LO, PIXEL_HI = -120.0, 130.0  # range of mean-subtracted BGR pixels
INPUT_SHAPES = {"x0": (2, 3, 224, 224), "x1": (1, 3, 160, 200)}


def conv_bn(cin, cout, k, stride, pad):
    """Bias-free conv and its eps=2e-5 BatchNorm, as Chainer's bottleneck uses them."""
    return (nn.Conv2d(cin, cout, k, stride=stride, padding=pad, bias=False),
            nn.BatchNorm2d(cout, eps=BN_EPS))


class Bottleneck(nn.Module):
    """Chainer BottleneckA (projection shortcut conv4/bn4) or BottleneckB (identity)."""

    def __init__(self, cin, mid, cout, stride, downsample_fb, projection):
        super().__init__()
        s1, s3 = (1, stride) if downsample_fb else (stride, 1)
        self.conv1, self.bn1 = conv_bn(cin, mid, 1, s1, 0)
        self.conv2, self.bn2 = conv_bn(mid, mid, 3, s3, 1)
        self.conv3, self.bn3 = conv_bn(mid, cout, 1, 1, 0)
        if projection:
            self.conv4, self.bn4 = conv_bn(cin, cout, 1, stride, 0)
        self.projection = projection

    def forward(self, x):
        h = torch.relu(self.bn1(self.conv1(x)))
        h = torch.relu(self.bn2(self.conv2(h)))
        h = self.bn3(self.conv3(h))
        shortcut = self.bn4(self.conv4(x)) if self.projection else x
        return torch.relu(h + shortcut)


class BuildingBlock(nn.Sequential):
    """Chainer BuildingBlock: children named a, b1, ..., b{n-1}."""

    def __init__(self, n, cin, mid, cout, stride, downsample_fb):
        super().__init__()
        self.add_module("a", Bottleneck(cin, mid, cout, stride, downsample_fb, True))
        for i in range(1, n):
            self.add_module(f"b{i}", Bottleneck(cout, mid, cout, 1, downsample_fb, False))


class ChainerResNet(nn.Module):
    """chainer.links.ResNet{50,101,152}Layers; forward returns every available layer."""

    def __init__(self, n_layers, downsample_fb=False):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=True)
        self.bn1 = nn.BatchNorm2d(64, eps=BN_EPS)
        self.pool1 = nn.MaxPool2d(3, stride=2, padding=0, ceil_mode=True)
        cin = 64
        for i, n in enumerate(BLOCKS[n_layers]):
            mid = 64 << i
            self.add_module(f"res{i + 2}", BuildingBlock(
                n, cin, mid, 4 * mid, 1 if i == 0 else 2, downsample_fb))
            cin = 4 * mid
        self.fc6 = nn.Linear(2048, 1000)

    def forward(self, x):
        out = {}
        h = out["conv1"] = torch.relu(self.bn1(self.conv1(x)))
        h = out["pool1"] = self.pool1(h)
        for name in ("res2", "res3", "res4", "res5"):
            h = out[name] = getattr(self, name)(h)
        h = out["pool5"] = h.mean(dim=(2, 3))
        h = out["fc6"] = self.fc6(h)
        out["prob"] = torch.softmax(h, dim=1)
        return out


def chainer_arrays(model):
    """(key, numpy array) for every Chainer npz entry of the model, in module order."""
    for name, mod in model.named_modules():
        path = name.replace(".", "/")
        if isinstance(mod, (nn.Conv2d, nn.Linear)):
            yield f"{path}/W", mod.weight.detach().numpy()
            if mod.bias is not None:
                yield f"{path}/b", mod.bias.detach().numpy()
        elif isinstance(mod, nn.BatchNorm2d):
            yield f"{path}/gamma", mod.weight.detach().numpy()
            yield f"{path}/beta", mod.bias.detach().numpy()
            yield f"{path}/avg_mean", mod.running_mean.numpy()
            yield f"{path}/avg_var", mod.running_var.numpy()
            yield f"{path}/N", np.asarray(BN_N, dtype=np.int64)


def load_chainer_npz(model, path):
    """Sets every parameter and BN statistic from a Chainer npz (strict: same keys)."""
    npz = np.load(path)
    mine = dict(chainer_arrays(model))
    if set(npz.files) != set(mine):
        sys.exit(f"oracle_torch: {path}: keys differ from ResNet's: "
                 f"{sorted(set(npz.files) ^ set(mine))[:5]}")
    with torch.no_grad():
        for key, dst in mine.items():
            if key.endswith("/N"):
                continue
            if npz[key].shape != dst.shape:
                sys.exit(f"oracle_torch: {path}: {key} has shape {npz[key].shape}, "
                         f"expected {dst.shape}")
            dst[...] = npz[key]  # dst shares memory with the module's tensor
    model.eval()


def random_pixels(shape, gen):
    return torch.empty(shape).uniform_(PIXEL_LO, PIXEL_HI, generator=gen)


def init_model(model, gen):
    """Seeded weights with realistic BN statistics.

    Convs HeNormal, fc6 LeCunNormal; conv1's bias has std 10, about a tenth of conv1's
    pre-BN scale on pixel input (~100), so a dropped bias is visible after bn1; fc6's
    bias std 0.1. BN gamma ~ U(0.5, 1.5) and beta ~ N(0, 0.1) are drawn first (bn3's
    gamma divided by sqrt(bottlenecks in the block), so the identity-shortcut sum stays
    well-scaled even over res4's 36 bottlenecks in ResNet-152), then the running
    statistics are measured in train mode (cumulative average) on a calibration
    batch, so they match what each BN really sees in eval mode; finally
    avg_mean is shifted by N(0, 0.1 sd) and avg_var scaled by U(0.8, 1.2).
    """
    with torch.no_grad():
        for mod in model.modules():
            if isinstance(mod, nn.Conv2d):
                fan_in = mod.weight[0].numel()
                mod.weight.normal_(0.0, math.sqrt(2.0 / fan_in), generator=gen)
                if mod.bias is not None:
                    mod.bias.normal_(0.0, 10.0, generator=gen)
            elif isinstance(mod, nn.Linear):
                mod.weight.normal_(0.0, math.sqrt(1.0 / mod.in_features), generator=gen)
                mod.bias.normal_(0.0, 0.1, generator=gen)
            elif isinstance(mod, nn.BatchNorm2d):
                mod.weight.uniform_(0.5, 1.5, generator=gen)
                mod.bias.normal_(0.0, 0.1, generator=gen)
                mod.reset_running_stats()
                mod.momentum = None
        for block in (model.res2, model.res3, model.res4, model.res5):
            for bottleneck in block:
                bottleneck.bn3.weight.div_(math.sqrt(len(block)))

        model.train()
        model(random_pixels((4, 3, 224, 224), gen))
        model.eval()

        for mod in model.modules():
            if isinstance(mod, nn.BatchNorm2d):
                sd = mod.running_var.sqrt()
                mod.running_mean.add_(0.1 * sd * torch.randn(sd.shape, generator=gen))
                mod.running_var.mul_(torch.empty(sd.shape).uniform_(0.8, 1.2, generator=gen))


def generate(args):
    torch.set_num_threads(2)
    gen = torch.Generator().manual_seed(args.seed)
    t0 = time.perf_counter()
    model = ChainerResNet(args.arch, args.fb)
    if args.weights:
        load_chainer_npz(model, args.weights)
    else:
        init_model(model, gen)
    t_init = time.perf_counter() - t0

    os.makedirs(args.outdir, exist_ok=True)
    model_npz = os.path.join(args.outdir, "model.npz")
    if args.weights:
        if os.path.lexists(model_npz):
            os.remove(model_npz)
        os.symlink(os.path.abspath(args.weights), model_npz)
    else:
        np.savez(model_npz, **dict(chainer_arrays(model)))
    inputs = {k: random_pixels(shape, gen) for k, shape in INPUT_SHAPES.items()}
    np.savez(os.path.join(args.outdir, "input.npz"),
             **{k: v.numpy() for k, v in inputs.items()})

    t0 = time.perf_counter()
    expected = {}
    finite = True
    with torch.no_grad():
        for k, x in inputs.items():
            out = model(x)
            print(f"{k} {tuple(x.shape)}:")
            for layer in LAYERS:
                y = out[layer]
                finite &= bool(torch.isfinite(y).all())
                print(f"  {layer:6s} {str(tuple(y.shape)):20s} max|.|={y.abs().max().item():10.4g}"
                      f"  rms={y.square().mean().sqrt().item():10.4g}")
                expected[f"{k}/{layer}"] = y.numpy()
    t_fwd = time.perf_counter() - t0
    np.savez(os.path.join(args.outdir, "expected.npz"), **expected)
    print(f"resnet{args.arch}{' fb' if args.fb else ''} seed {args.seed}: "
          f"init+calibration {t_init:.2f} s, forward {t_fwd:.2f} s -> {args.outdir}")
    if not finite:
        sys.exit("oracle_torch: non-finite activations")


def selfcheck(args):
    import torchvision

    torch.set_num_threads(2)
    failures = []

    def check(ok, what):
        print(f"{'ok  ' if ok else 'FAIL'} {what}")
        if not ok:
            failures.append(what)

    model = ChainerResNet(args.arch, args.fb).eval()
    params = list(model.parameters())
    n_params = sum(p.numel() for p in params)
    check(n_params == PARAM_COUNT[args.arch],
          f"parameter count {n_params:,} == {PARAM_COUNT[args.arch]:,}")
    n_keys = sum(1 for _ in chainer_arrays(model))
    n_bn = sum(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    n_conv = sum(isinstance(m, nn.Conv2d) for m in model.modules())
    check(n_keys == 5 * n_bn + n_conv + 3,
          f"{n_keys} npz keys == 5 x {n_bn} BN + {n_conv} conv W + conv1/b + fc6 W,b")

    a = model.res3.a
    s1, s3 = (1, 2) if args.fb else (2, 1)
    check(a.conv1.stride == (s1, s1) and a.conv2.stride == (s3, s3) and a.conv4.stride == (2, 2),
          f"res3/a strides conv1 {a.conv1.stride} conv2 {a.conv2.stride} conv4 {a.conv4.stride}")

    tv = getattr(torchvision.models, f"resnet{args.arch}")(weights=None)
    tv_shapes = sorted(tuple(p.shape) for p in tv.parameters())
    tv_count = sum(p.numel() for p in tv.parameters())
    check(sorted(tuple(p.shape) for p in params) == sorted(tv_shapes + [(64,)]),
          f"parameter shapes == torchvision resnet{args.arch}'s + conv1 bias (64,)")
    check(n_params - tv_count == 64, f"{n_params:,} - torchvision {tv_count:,} == 64")

    expect = {
        (224, 224): {"conv1": (64, 112, 112), "pool1": (64, 56, 56), "res2": (256, 56, 56),
                     "res3": (512, 28, 28), "res4": (1024, 14, 14), "res5": (2048, 7, 7),
                     "pool5": (2048,), "fc6": (1000,), "prob": (1000,)},
        (160, 200): {"pool1": (64, 40, 50), "res5": (2048, 5, 7)},
    }
    with torch.no_grad():
        for (h, w), shapes in expect.items():
            out = model(torch.zeros(2, 3, h, w))
            for layer, shape in shapes.items():
                got = tuple(out[layer].shape)
                check(got == (2,) + shape, f"{h}x{w} {layer} {got}")

    if failures:
        sys.exit(f"oracle_torch selfcheck: {len(failures)} failure(s)")
    print(f"resnet{args.arch}{' fb' if args.fb else ''}: selfcheck passed")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--arch", type=int, choices=sorted(BLOCKS), required=True)
    p.add_argument("--fb", action="store_true", help="downsample_fb: stride on the 3x3 conv")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--outdir", help="write model.npz, input.npz, expected.npz here")
    p.add_argument("--weights", help="a Chainer npz to use instead of drawn weights")
    p.add_argument("--selfcheck", action="store_true", help="verify the construction only")
    args = p.parse_args()
    if args.selfcheck:
        selfcheck(args)
    elif args.outdir:
        generate(args)
    else:
        p.error("give --outdir DIR or --selfcheck")


if __name__ == "__main__":
    main()
