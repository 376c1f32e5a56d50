#!/usr/bin/env python3
"""`r50worker extract` and `predict` against Chainer's own ResNet50Layers.extract and
.predict (Chainer 7.8 with PIL) on the same photo files, with the same weights; and the
same network saved inside larger Chainer objects — L.Classifier, a chain holding it as
a child, a Trainer snapshot — loads as the network alone (a chain holding two is an
error naming both).

Run through tests/with_chainer.sh (Chainer's Python first on PATH).
usage: test_chainer_extract.py R50WORKER
"""
import copy
import os
import subprocess
import sys
import tempfile

import chainer
import h5py
import numpy as np
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import oracle_chainer  # noqa: E402
import photos  # noqa: E402

BIN = sys.argv[1]
FAILS = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        FAILS.append(what)
    return cond


def close(ours, ref, what):
    tol = 1e-4 * np.abs(ref).max() + 1e-6
    diff = np.abs(ours - ref).max()
    check(diff <= tol, f"{what}: max|diff| {diff:.3g} <= {tol:.3g}")


def predict_table(stdout, paths):
    """path<TAB>class<TAB>prob lines (--top 1000) as an (N, 1000) array."""
    prob = np.full((len(paths), 1000), np.nan, dtype=np.float64)
    index = {p: i for i, p in enumerate(paths)}
    for line in stdout.splitlines():
        path, cls, p = line.split("\t")
        prob[index[path], int(cls)] = float(p)
    return prob


class Holder(chainer.Chain):
    """A user's network: the ResNet as child `base`, a head of its own."""

    def __init__(self, base, second=None):
        super().__init__()
        with self.init_scope():
            self.base = base
            self.head = chainer.links.Linear(2048, 3)
            if second is not None:
                self.teacher = second

    def forward(self, x):
        return self.head(self.base(x, layers=["pool5"])["pool5"])


def check_wrapped(tmp, model, data, plain_out):
    """The network inside Chainer objects loads as itself: the same pool5 bits."""
    from chainer import training
    files = {}
    files["predictor/"] = os.path.join(tmp, "classifier.npz")
    chainer.serializers.save_npz(files["predictor/"],
                                 chainer.links.Classifier(copy.deepcopy(model)))
    files["predictor/base/"] = os.path.join(tmp, "holder.npz")
    chainer.serializers.save_npz(files["predictor/base/"],
                                 chainer.links.Classifier(Holder(copy.deepcopy(model))))
    clf = chainer.links.Classifier(Holder(copy.deepcopy(model)))
    opt = chainer.optimizers.MomentumSGD(lr=0)  # a step that leaves the weights as they are
    opt.setup(clf)
    it = chainer.iterators.SerialIterator([(np.zeros((3, 32, 32), np.float32), 0)], 1)
    trainer = training.Trainer(training.updaters.StandardUpdater(it, opt), (1, "iteration"),
                               out=os.path.join(tmp, "trainer"))
    trainer.extend(training.extensions.snapshot(), trigger=(1, "iteration"))
    with chainer.using_config("train", False):  # BN's running statistics stay too
        trainer.run()
    files["updater/model:main/predictor/base/"] = os.path.join(tmp, "trainer",
                                                               "snapshot_iter_1")
    with h5py.File(plain_out, "r") as f:
        want = f["features/pool5"][()]
    for root, path in files.items():
        out = os.path.join(tmp, "wrapped.h5")
        p = subprocess.run([BIN, "extract", "--model", path, "--threads", "2", data, "-o",
                            out, "--overwrite"], capture_output=True, text=True)
        if check(p.returncode == 0 and f"loaded the ResNet under '{root}'" in p.stderr,
                 f"{os.path.basename(path)}: the ResNet under '{root}' loads "
                 f"({p.stderr[-300:]})"):
            with h5py.File(out, "r") as f:
                check(f["features/pool5"][()].tobytes() == want.tobytes(),
                      f"{os.path.basename(path)}: pool5 bit-identical to the network's "
                      "own npz")
    two = os.path.join(tmp, "two.npz")
    chainer.serializers.save_npz(two, Holder(copy.deepcopy(model), copy.deepcopy(model)))
    p = subprocess.run([BIN, "info", "--model", two], capture_output=True, text=True)
    check(p.returncode == 1 and "holds 2 ResNets (under '" in p.stderr and
          "'base/'" in p.stderr and "'teacher/'" in p.stderr,
          f"two ResNets in one file: an error naming both ({p.stderr[-300:]})")


def main():
    tmp = tempfile.mkdtemp(prefix="r50-chainer-extract-")
    data = os.path.join(tmp, "photos")
    os.makedirs(data)
    picks = photos.good_photos()[::7][:5]
    for p in picks:
        os.symlink(p, os.path.join(data, os.path.basename(p)))
    paths = sorted(os.listdir(data))

    model = oracle_chainer.build(50, False)
    oracle_chainer.calibrate(model, np.random.RandomState(3))
    npz = os.path.join(tmp, "m.npz")
    chainer.serializers.save_npz(npz, model)
    images = [Image.open(os.path.join(data, p)) for p in paths]

    out = os.path.join(tmp, "out.h5")
    p = subprocess.run([BIN, "extract", "--model", npz, "--layers", "pool5,prob",
                        "--threads", "2", data, "-o", out], capture_output=True, text=True)
    check(p.returncode == 0, f"extract exits 0 ({p.stderr[-400:]})")
    with chainer.using_config("train", False), chainer.no_backprop_mode():
        ref = model.extract(images, layers=["pool5", "prob"], size=(224, 224))
    with h5py.File(out, "r") as f:
        check([s.decode() for s in f["images/path"][()]] == paths, "rows in path order")
        close(f["features/pool5"][()], ref["pool5"].array, "extract pool5 vs Chainer")
        close(f["features/prob"][()], ref["prob"].array, "extract prob vs Chainer")

    check_wrapped(tmp, model, data, out)

    for oversample in (False, True):
        flag = ["--oversample"] if oversample else []
        p = subprocess.run([BIN, "predict", "--model", npz, "--top", "1000", "--threads",
                            "2", *flag, data], capture_output=True, text=True)
        check(p.returncode == 0, f"predict {flag} exits 0 ({p.stderr[-400:]})")
        ours = predict_table(p.stdout, paths)
        with chainer.using_config("train", False):
            theirs = model.predict(images, oversample=oversample).array
        check(not np.isnan(ours).any(), f"predict {flag}: every class printed")
        close(ours, theirs, f"predict {flag} vs Chainer")
    if FAILS:
        print(f"test_chainer_extract: {len(FAILS)} failure(s)")
        return 1
    print("test_chainer_extract: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
