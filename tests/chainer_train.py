#!/usr/bin/env python3
"""Chainer 7.8's own training, the oracle of `r50worker finetune` (run with Chainer's
Python, e.g. .venv-chainer/bin/python).

  chainer_train.py init OUT.npz [--seed S] [--arch 50] [--fb] [--calibrate PHOTO...]
      [--calibrate-size 64]
      a ResNet50Layers with pretrained-like BN parameters and running statistics
      (oracle_chainer.calibrate; with --calibrate, the running statistics of those
      photos prepared at the size given), saved with Chainer's save_npz.
  chainer_train.py train MODEL.npz LIST.txt ROOT OUT --steps 2 --batch 4 [--classes K]
      [--size 224] [--dtype float32|float64] [--lr 0.01] [--momentum 0.9]
      [--weight-decay 1e-4] [--arch 50] [--fb]
      loads the npz (fc6 = Linear(2048, K)), then runs STEPS steps of MomentumSGD(lr,
      momentum) with the WeightDecay hook over the list file's images in order, BATCH a
      step, each image through chainer.links.model.vision.resnet.prepare at SIZE x SIZE,
      in training mode (config.train = True): fc6, softmax_cross_entropy, cleargrads,
      backward, update. OUT may hold "{step}": the model is then saved after every step.
      With --dtype float64 the same steps run in double precision (saved as float32).
  chainer_train.py load MODEL.npz OUT.npz --classes K [--arch 50] [--fb]
      load_npz (strict) into ResNet50Layers with fc6 = Linear(2048, K), save it again.
  chainer_train.py predict MODEL.npz OUT.npy PHOTO... --classes K [--arch 50] [--fb]
      load_npz (strict) as load does, then ResNetLayers.predict (256x256, the center
      224x224 crop) of the photos: their probabilities (N, K) into OUT.npy.
"""
import argparse
import os
import sys

import chainer
import chainer.functions as F
import chainer.links as L
import numpy as np
from chainer.links.model.vision.resnet import prepare
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import oracle_chainer  # noqa: E402


def build(args, classes):
    model = oracle_chainer.build(args.arch, args.fb)
    if classes != 1000:
        del model.fc6
        with model.init_scope():
            model.fc6 = L.Linear(2048, classes)
    return model


def to_float32(model):
    for _, p in model.namedparams():
        p.array = p.array.astype(np.float32)
    for link in model.links():
        for name in link._persistent:
            v = getattr(link, name)
            if isinstance(v, np.ndarray) and v.dtype == np.float64:
                setattr(link, name, v.astype(np.float32))


def read_list(path, root):
    rows = []
    with open(path) as f:
        for line in f:
            if line.strip() and not line.startswith("#"):
                p, label = line.rsplit(None, 1)
                rows.append((os.path.join(root, p), int(label)))
    return rows


def train(args):
    chainer.global_config.dtype = np.dtype(args.dtype)
    model = build(args, args.classes)
    chainer.serializers.load_npz(args.model, model)
    opt = chainer.optimizers.MomentumSGD(lr=args.lr, momentum=args.momentum)
    opt.setup(model)
    opt.add_hook(chainer.optimizer_hooks.WeightDecay(args.weight_decay))
    rows = read_list(args.list, args.root)
    for step in range(args.steps):
        batch = rows[step * args.batch:(step + 1) * args.batch]
        x = np.stack([prepare(Image.open(path), size=(args.size, args.size))
                      for path, _ in batch]).astype(args.dtype)
        t = np.asarray([label for _, label in batch], dtype=np.int32)
        with chainer.using_config("train", True):
            h = model(x, layers=["fc6"])["fc6"]
            loss = F.softmax_cross_entropy(h, t)
        model.cleargrads()
        loss.backward()
        opt.update()
        print(f"chainer step {step + 1}: loss {float(loss.array):.9g}", flush=True)
        if "{step}" in args.out or step + 1 == args.steps:
            saved = model.copy(mode="copy")
            to_float32(saved)
            chainer.serializers.save_npz(args.out.format(step=step + 1), saved)


def init(args):
    np.random.seed(args.seed)  # Chainer's initializers draw from numpy's global state
    model = oracle_chainer.build(args.arch, args.fb)
    oracle_chainer.calibrate(model, np.random.RandomState(args.seed))
    if args.calibrate:  # running statistics of real photos, so frozen BN stays tame
        x = np.stack([prepare(Image.open(p), size=(args.calibrate_size,) * 2)
                      for p in args.calibrate])
        for bn in oracle_chainer.bns(model):
            bn.decay = 0.0
        with chainer.using_config("train", True), chainer.no_backprop_mode():
            model.forward(x, layers=["prob"])
    chainer.serializers.save_npz(args.out, model)


def load(args):
    model = build(args, args.classes)
    chainer.serializers.load_npz(args.model, model, strict=True)
    chainer.serializers.save_npz(args.out, model)


def predict(args):
    model = build(args, args.classes)
    chainer.serializers.load_npz(args.model, model, strict=True)
    with chainer.using_config("train", False), chainer.no_backprop_mode():
        prob = model.predict([Image.open(p) for p in args.photos], oversample=False)
    np.save(args.out, prob.array)


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    pi = sub.add_parser("init")
    pi.add_argument("out")
    pi.add_argument("--seed", type=int, default=5)
    pi.add_argument("--calibrate", nargs="*", default=[],
                    help="photos whose batch statistics become the running ones")
    pi.add_argument("--calibrate-size", type=int, default=64)
    pt = sub.add_parser("train")
    for a in ("model", "list", "root", "out"):
        pt.add_argument(a)
    pt.add_argument("--steps", type=int, default=2)
    pt.add_argument("--batch", type=int, default=4)
    pt.add_argument("--classes", type=int, default=1000)
    pt.add_argument("--size", type=int, default=224)
    pt.add_argument("--dtype", default="float32", choices=("float32", "float64"))
    pt.add_argument("--lr", type=float, default=0.01)
    pt.add_argument("--momentum", type=float, default=0.9)
    pt.add_argument("--weight-decay", type=float, default=1e-4)
    pl = sub.add_parser("load")
    pl.add_argument("model")
    pl.add_argument("out")
    pl.add_argument("--classes", type=int, default=1000)
    pp = sub.add_parser("predict")
    pp.add_argument("model")
    pp.add_argument("out")
    pp.add_argument("photos", nargs="+")
    pp.add_argument("--classes", type=int, default=1000)
    for q in (pi, pt, pl, pp):
        q.add_argument("--arch", type=int, default=50)
        q.add_argument("--fb", action="store_true")
    args = p.parse_args()
    {"init": init, "train": train, "load": load, "predict": predict}[args.cmd](args)


if __name__ == "__main__":
    main()
