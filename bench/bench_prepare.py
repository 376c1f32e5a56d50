#!/usr/bin/python3
"""Input preparation benchmark: r50worker's decode + resize (224x224) + Chainer prepare
against PIL + numpy doing the same, one core each, on the same files.

r50: `image_tool bench SECONDS FILE...` (tests/image_tool.c) loops over the files:
r50_image_load, r50_image_resize, r50_image_to_chw. PIL: Image.open(p).convert('RGB')
.resize((224, 224)), then numpy: float32, [:, :, ::-1] - mean, transpose(2, 0, 1) —
chainer.links.model.vision.resnet.prepare, in this process. The two outputs are equal
bit for bit (tests/test_prepare_pil.py), so this compares like for like. Each engine
runs twice, alternating; the better run of each counts. Prints images/s of both and
ratio=<r50/PIL>.

Default files: the real photos of Debian's python3-skimage and python3-sklearn.

Usage: /usr/bin/python3 bench/bench_prepare.py [--tool BUILD/tests/image_tool]
                                               [--seconds 5] [FILE...]
"""
import argparse
import os
import subprocess
import sys
import time

import numpy as np
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests"))
import image_cases  # noqa: E402

MEAN = np.array([103.063, 115.903, 123.152], dtype=np.float32)


def pil_prepare(path):
    im = Image.open(path).convert("RGB").resize((224, 224))
    a = np.asarray(im, dtype=np.float32)[:, :, ::-1] - MEAN
    return a.transpose(2, 0, 1)


def bench_pil(files, seconds):
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        pil_prepare(files[n % len(files)])
        n += 1
    return n / (time.perf_counter() - t0)


def bench_r50(tool, files, seconds):
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    out = subprocess.run([tool, "bench", str(seconds)] + files, env=env, check=True,
                         capture_output=True, text=True).stdout
    for line in out.splitlines():
        if line.startswith("images/s "):
            return float(line.split()[1])
    raise RuntimeError(f"no images/s in: {out}")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tool", default=os.path.join(ROOT, "build", "tests", "image_tool"))
    p.add_argument("--seconds", type=float, default=5.0)
    p.add_argument("files", nargs="*")
    args = p.parse_args()
    files = args.files or image_cases.real_photos()[0]
    if not files:
        sys.exit(f"bench_prepare.py: no files; install {image_cases.PHOTO_PACKAGES}")
    if not os.access(args.tool, os.X_OK):
        sys.exit(f"bench_prepare.py: {args.tool} not found; build first")
    pixels = sum(np.prod(Image.open(f).size) for f in files) / len(files)
    print(f"{len(files)} files, {pixels / 1e6:.2f} Mpixel on average, "
          f"{args.seconds:g} s per run, one core each")
    r50, pil = [], []
    for _ in range(2):
        r50.append(bench_r50(args.tool, files, args.seconds))
        pil.append(bench_pil(files, args.seconds))
        print(f"  r50 {r50[-1]:.1f} images/s   PIL {pil[-1]:.1f} images/s")
    print(f"r50_img_per_s={max(r50):.1f}")
    print(f"pil_img_per_s={max(pil):.1f}")
    print(f"ratio={max(r50) / max(pil):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
