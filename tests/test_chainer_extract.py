#!/usr/bin/env python3
"""`r50worker extract` and `predict` against Chainer's own ResNet50Layers.extract and
.predict (Chainer 7.8 with PIL) on the same photo files, with the same weights.

Run through tests/with_chainer.sh (Chainer's Python first on PATH).
usage: test_chainer_extract.py R50WORKER
"""
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
