#!/usr/bin/env python3
"""`r50worker extract` and `predict` on real photos equal PyTorch fed the input that
PIL + numpy prepare exactly as Chainer's ResNetLayers.prepare does.

* extract --layers pool5,prob: every readable photo's rows match torch (built to
  Chainer's definition, tests/oracle_torch.py) within max|diff| <= 1e-4 max|ref| + 1e-6;
  ImageFolder labels; broken files failed with their cause.
* predict (center crop) and predict --oversample (imgproc.oversample's 10 crops,
  averaged): the printed top classes and probabilities match torch's.

usage: test_extract_torch.py R50WORKER
"""
import os
import subprocess
import sys
import tempfile

import h5py
import numpy as np
import torch
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import oracle_torch  # noqa: E402
import photos  # noqa: E402

BIN = sys.argv[1]
MEAN = np.array([103.063, 115.903, 123.152], dtype=np.float32)
FAILS = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        FAILS.append(what)


def prepare(path, size):
    """chainer.links.model.vision.resnet.prepare with PIL and numpy."""
    image = Image.open(path).convert("RGB").resize(size)
    image = np.asarray(image, dtype=np.float32)[:, :, ::-1] - MEAN
    return image.transpose(2, 0, 1)


def oversample(x):
    """chainer.links.model.vision.imgproc.oversample(x, (224, 224)) for (N, 3, 256, 256)."""
    crops = []
    for img in x:
        five = [img[:, y:y + 224, c:c + 224] for y, c in
                [(0, 0), (0, 32), (32, 0), (32, 32), (16, 16)]]
        crops += five + [f[:, :, ::-1] for f in five]
    return np.ascontiguousarray(np.stack(crops))


def close(ours, ref, what):
    tol = 1e-4 * np.abs(ref).max() + 1e-6
    diff = np.abs(ours - ref).max()
    check(diff <= tol, f"{what}: max|diff| {diff:.3g} <= {tol:.3g}")


def main():
    tmp = tempfile.mkdtemp(prefix="r50-extract-")
    data = os.path.join(tmp, "photos")
    photos.make_dataset(os.path.join(tmp, "all"))
    for k, cls in enumerate(["a_first", "b_second"]):  # ImageFolder: two classes
        os.makedirs(os.path.join(data, cls))
    for i, f in enumerate(sorted(os.listdir(os.path.join(tmp, "all")))):
        cls = "a_first" if i % 2 == 0 else "b_second"
        os.rename(os.path.join(tmp, "all", f), os.path.join(data, cls, f))

    torch.manual_seed(0)
    torch.set_num_threads(2)
    model = oracle_torch.ChainerResNet(50, False)
    oracle_torch.init_model(model, torch.Generator().manual_seed(5))
    npz = os.path.join(tmp, "m.npz")
    np.savez(npz, **dict(oracle_torch.chainer_arrays(model)))

    out = os.path.join(tmp, "out.h5")
    p = subprocess.run([BIN, "extract", "--model", npz, "--layers", "pool5,prob", "--batch",
                        "5", "--threads", "2", data, "-o", out], capture_output=True, text=True)
    check(p.returncode == 0, f"extract exits 0 ({p.stderr[-500:]})")
    with h5py.File(out, "r") as f:
        paths = [s.decode() for s in f["images/path"][()]]
        status, labels = f["images/status"][()], f["images/label"][()]
        errors = {r: m for r, m in zip(f["errors/row"][()], f["errors/message"][()])}
        pool5, prob = f["features/pool5"][()], f["features/prob"][()]
        classes = [c.decode() for c in f["classes"][()]]
    check(classes == ["a_first", "b_second"], f"classes {classes}")
    check(all(lab == (0 if p.startswith("a_first/") else 1) for p, lab in zip(paths, labels)),
          "ImageFolder labels")
    ok = []
    for i, rel in enumerate(paths):
        try:
            x = prepare(os.path.join(data, rel), (224, 224))
        except Exception as e:  # PIL refuses it: so must we
            check(status[i] == -1 and errors.get(i), f"{rel}: PIL fails ({e}), r50worker too")
            continue
        check(status[i] == 1, f"{rel}: done")
        ok.append((i, x))
    with torch.no_grad():  # in parts: the oracle keeps every layer's output
        parts = [model(torch.from_numpy(np.stack([x for _, x in ok[k:k + 8]])))
                 for k in range(0, len(ok), 8)]
        ref = {k: torch.cat([r[k] for r in parts]) for k in ("pool5", "prob")}
    rows = [i for i, _ in ok]
    close(pool5[rows], ref["pool5"].numpy(), f"pool5 of {len(rows)} photos")
    close(prob[rows], ref["prob"].numpy(), f"prob of {len(rows)} photos")

    small = os.path.join(tmp, "small")  # predict --oversample runs 10 crops an image
    os.makedirs(small)
    rows = rows[:6]
    for i in rows:
        os.symlink(os.path.join(data, paths[i]), os.path.join(small, paths[i].replace("/", "_")))
    paths = {i: paths[i].replace("/", "_") for i in rows}
    for flag in ([], ["--oversample"]):
        p = subprocess.run([BIN, "predict", "--model", npz, "--top", "3", "--threads", "2",
                            *flag, small], capture_output=True, text=True)
        check(p.returncode == 0, f"predict {flag} exits 0 ({p.stderr[-300:]})")
        lines = [l.split("\t") for l in p.stdout.splitlines()]
        x = np.stack([prepare(os.path.join(small, paths[i]), (256, 256)) for i in rows])
        x = oversample(x) if flag else np.ascontiguousarray(x[:, :, 16:240, 16:240])
        with torch.no_grad():
            pr = np.concatenate([model(torch.from_numpy(x[k:k + 10]))["prob"].numpy()
                                 for k in range(0, len(x), 10)])
        if flag:
            pr = pr.reshape(len(rows), 10, 1000).sum(axis=1) / 10
        check(len(lines) == 3 * len(rows), f"predict {flag}: 3 lines per photo")
        worst = 0.0
        for k, i in enumerate(rows):
            top = np.argsort(-pr[k], kind="stable")[:3]
            for j, (path, cls, pv) in enumerate(lines[3 * k:3 * k + 3]):
                if path != paths[i]:
                    check(False, f"predict row order: {path} != {paths[i]}")
                    break
                worst = max(worst, abs(float(pv) - pr[k, int(cls)]))
                if j == 0:  # the top class; others may swap on near-ties
                    check(int(cls) == top[0] or abs(pr[k, int(cls)] - pr[k, top[0]]) < 1e-5,
                          f"predict {flag} {path}: top class {cls} vs torch {top[0]}")
        check(worst <= 1e-4 * pr.max() + 1e-6, f"predict {flag}: max|prob diff| {worst:.3g}")
    # A user's PyTorch checkpoint given as --model: named for what it is
    pth = os.path.join(tmp, "resnet50.pth")
    torch.save(model.state_dict(), pth)
    p = subprocess.run([BIN, "info", "--model", pth], capture_output=True, text=True)
    check(p.returncode == 1 and "is a PyTorch file (torch.save), not a Chainer npz" in
          p.stderr, f"--model a .pth: {p.stderr[-300:]}")
    if FAILS:
        print(f"test_extract_torch: {len(FAILS)} failure(s)")
        return 1
    print("test_extract_torch: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
