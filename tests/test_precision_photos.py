#!/usr/bin/env python3
"""`r50worker extract --precision bf16` against fp32 on the real photos (Debian's
python3-skimage and python3-sklearn data, in two class subfolders): every readable
photo's pool5 keeps a cosine similarity >= 0.999 with fp32's, and prob's top-1 is the
same for >= 99% of them; the same rows fail, for the same cause. Random weights (no
pretrained ones here): their prob is nearly one-hot, so the cosine is the strict part.

Skips (77) where this build and CPU run bf16 as fp32 (`info --precision bf16` says).

usage: test_precision_photos.py R50WORKER
"""
import os
import shutil
import subprocess
import sys
import tempfile

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import photos  # noqa: E402

BIN = sys.argv[1]
FAILS = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        FAILS.append(what)


def extract(data, out, precision):
    subprocess.run([BIN, "extract", "--model", "none", "--seed", "3", "--layers",
                    "pool5,prob", "--threads", "2", "--batch", "5", "--precision",
                    precision, data, "-o", out], check=True)
    with h5py.File(out, "r") as f:
        d = {k: f[k][:] for k in ("features/pool5", "features/prob", "images/path",
                                  "images/status", "errors/row")}
        d["precision"] = f.attrs["precision"].decode()
        return d


def mixing_refused(tmp, data, bf16_h5):
    """A file is computed at one precision: --resume at another is refused, and so are
    ranks that would run different ones (one rank's oneDNN held to AVX2, no bf16)."""
    p = subprocess.run([BIN, "extract", "--model", "none", "--seed", "3", "--layers",
                        "pool5,prob", "--threads", "2", data, "-o", bf16_h5, "--resume"],
                       capture_output=True, text=True)
    check(p.returncode == 1 and "was computed at precision bf16, this job runs fp32" in
          p.stderr, f"--resume of a bf16 file at fp32 is refused ({p.stderr[-200:]})")
    args = ["extract", "--model", "none", "--threads", "1", "--precision", "bf16",
            "--size", "64", data, "-o", os.path.join(tmp, "mixed.h5")]
    p = subprocess.run(["mpirun", "--allow-run-as-root", "--oversubscribe", "-np", "1",
                        "env", "ONEDNN_MAX_CPU_ISA=AVX2", BIN, *args, ":", "-np", "1", BIN,
                        *args], capture_output=True, text=True, timeout=300)
    check(p.returncode != 0 and "the ranks run different precisions (bf16 on some, fp32 "
          "on others" in p.stderr and not os.path.exists(os.path.join(tmp, "mixed.h5")),
          f"ranks of different precisions are refused ({p.stderr[-300:]})")


def main():
    info = subprocess.run([BIN, "info", "--model", "none", "--precision", "bf16"],
                          capture_output=True, text=True, check=True).stdout
    if ", bf16" not in info:
        print("skip: bf16 runs as fp32 on this build and CPU")
        return 77
    with tempfile.TemporaryDirectory() as tmp:
        flat = os.path.join(tmp, "flat")
        photos.make_dataset(flat, n_photos=100, broken=True)
        data = os.path.join(tmp, "data")
        for i, name in enumerate(sorted(os.listdir(flat))):
            cls = os.path.join(data, "even" if i % 2 == 0 else "odd")
            os.makedirs(cls, exist_ok=True)
            shutil.move(os.path.join(flat, name), cls)
        a = extract(data, os.path.join(tmp, "fp32.h5"), "fp32")
        b = extract(data, os.path.join(tmp, "bf16.h5"), "bf16")
        mixing_refused(tmp, data, os.path.join(tmp, "bf16.h5"))
    check(a["precision"] == "fp32" and b["precision"] == "bf16",
          f"the precision in effect is kept: {a['precision']}, {b['precision']}")
    check((a["images/path"] == b["images/path"]).all(), "same rows in the same order")
    check((a["images/status"] == b["images/status"]).all()
          and (a["errors/row"] == b["errors/row"]).all(), "the same rows fail")
    ok = a["images/status"] == 1
    check(ok.sum() >= 30, f"{ok.sum()} photos read")
    p, q = a["features/pool5"][ok].astype(np.float64), b["features/pool5"][ok]
    cos = (p * q).sum(1) / np.sqrt((p * p).sum(1) * (q * q).sum(1))
    check(cos.min() >= 0.999, f"pool5 cosine: worst {cos.min():.6f}, median "
          f"{np.median(cos):.6f} over {ok.sum()} photos")
    same = (a["features/prob"][ok].argmax(1) == b["features/prob"][ok].argmax(1)).sum()
    check(same * 100 >= 99 * ok.sum(), f"prob top-1 the same for {same} of {ok.sum()}")
    print("test_precision_photos: " + ("FAILED" if FAILS else "all checks passed"))
    return 1 if FAILS else 0


if __name__ == "__main__":
    sys.exit(main())
