#!/usr/bin/env python3
"""Chainer itself as the oracle: chainer.links.ResNet{50,101}Layers (Chainer 7.8, CPU).

Builds Chainer's own network with random weights (pretrained_model=None), gives every
BatchNormalization non-trivial statistics (gamma, beta random; avg_mean/avg_var
measured on a calibration batch with decay 0), saves it with
chainer.serializers.save_npz, and records every layer of the same inputs as
tests/oracle_torch.py uses, so tests/test_parity.c checks r50worker against it:
  DIR/model.npz     written by Chainer's save_npz (r50worker must load it)
  DIR/input.npz     x0 (2,3,224,224), x1 (1,3,160,200)
  DIR/expected.npz  x0/<layer>, x1/<layer> from ResNetLayers.forward in test mode
With --load NPZ it instead loads NPZ (e.g. one r50worker saved) with
chainer.serializers.load_npz, which fails unless every key and shape is Chainer's.

usage: oracle_chainer.py --arch 50|101 [--fb] --seed S --outdir DIR
       oracle_chainer.py --arch 50|101 [--fb] --load NPZ
"""
import argparse
import os
import sys

import numpy as np

import chainer
from chainer.links import ResNet101Layers, ResNet152Layers, ResNet50Layers

LAYERS = ["conv1", "pool1", "res2", "res3", "res4", "res5", "pool5", "fc6", "prob"]
INPUTS = {"x0": (2, 3, 224, 224), "x1": (1, 3, 160, 200)}
CLASSES = {50: ResNet50Layers, 101: ResNet101Layers, 152: ResNet152Layers}


def build(arch, fb):
    return CLASSES[arch](pretrained_model=None, downsample_fb=fb)


def bns(model):
    return [l for _, l in model.namedlinks() if isinstance(l, chainer.links.BatchNormalization)]


def calibrate(model, rng):
    """Random gamma/beta, then running statistics of a calibration batch (decay 0).
    Each bottleneck's last BN gamma is scaled down so deep stacks stay well-scaled."""
    for name, bn in model.namedlinks():
        if not isinstance(bn, chainer.links.BatchNormalization):
            continue
        bn.gamma.array[...] = rng.uniform(0.5, 1.5, bn.gamma.shape)
        bn.beta.array[...] = rng.normal(0, 0.1, bn.beta.shape)
        if name.endswith("/bn3"):
            bn.gamma.array[...] /= 3.0
        bn.decay = 0.0
        bn.N = 10
    model.conv1.b.array[...] = rng.normal(0, 10, model.conv1.b.shape)
    model.fc6.b.array[...] = rng.normal(0, 0.1, model.fc6.b.shape)
    x = rng.uniform(-120, 130, (4, 3, 224, 224)).astype(np.float32)
    with chainer.using_config("train", True), chainer.no_backprop_mode():
        model.forward(x, layers=["prob"])
    for bn in bns(model):
        bn.avg_var[...] *= rng.uniform(0.8, 1.2, bn.avg_var.shape).astype(np.float32)


def generate(args):
    rng = np.random.RandomState(args.seed)
    model = build(args.arch, args.fb)
    calibrate(model, rng)
    os.makedirs(args.outdir, exist_ok=True)
    chainer.serializers.save_npz(os.path.join(args.outdir, "model.npz"), model)
    inputs = {k: rng.uniform(-120, 130, s).astype(np.float32) for k, s in INPUTS.items()}
    np.savez(os.path.join(args.outdir, "input.npz"), **inputs)
    expected = {}
    with chainer.using_config("train", False), chainer.no_backprop_mode():
        for k, x in inputs.items():
            out = model.forward(x, layers=LAYERS)
            for layer in LAYERS:
                a = out[layer].array
                expected[f"{k}/{layer}"] = a.astype(np.float32)
                print(f"{k}/{layer:6s} {a.shape} max|.|={np.abs(a).max():.4g}")
    np.savez(os.path.join(args.outdir, "expected.npz"), **expected)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--arch", type=int, choices=sorted(CLASSES), required=True)
    p.add_argument("--fb", action="store_true")
    p.add_argument("--seed", type=int, default=0)
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--outdir")
    g.add_argument("--load")
    args = p.parse_args()
    if args.load:
        model = build(args.arch, args.fb)
        chainer.serializers.load_npz(args.load, model)
        n = sum(p.size for p in model.params())
        print(f"chainer loaded {args.load}: {n} parameters")
        return 0
    generate(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
