#!/usr/bin/env python3
"""Fashion-MNIST (Debian's dataset-fashion-mnist) as PNG files in ImageFolder trees:
OUT/train/<class>/<index>.png (60,000) and OUT/test/<class>/<index>.png (10,000), the
dataset's own split, 28x28 grayscale. Written once; an existing complete tree is kept.

usage: fashion_mnist_png.py OUT [--limit N]   (N: at most N images per split)
"""
import argparse
import gzip
import os

import numpy as np
from PIL import Image

SRC = "/usr/share/datasets/fashion-mnist"
CLASSES = ["t-shirt_top", "trouser", "pullover", "dress", "coat", "sandal", "shirt",
           "sneaker", "bag", "ankle boot"]


def idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    shape = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(shape)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("out")
    p.add_argument("--limit", type=int, default=0)
    a = p.parse_args()
    if not os.path.isdir(SRC):
        raise SystemExit(f"fashion_mnist_png.py: {SRC} not found: install Debian's "
                         "dataset-fashion-mnist (apt-get install dataset-fashion-mnist)")
    for split, prefix in (("train", "train"), ("test", "t10k")):
        images = idx(os.path.join(SRC, f"{prefix}-images-idx3-ubyte.gz"))
        labels = idx(os.path.join(SRC, f"{prefix}-labels-idx1-ubyte.gz"))
        n = min(len(images), a.limit) if a.limit else len(images)
        root = os.path.join(a.out, split)
        done = os.path.join(root, f".complete-{n}")
        if os.path.exists(done):
            continue
        for c in CLASSES:
            os.makedirs(os.path.join(root, c), exist_ok=True)
        for i in range(n):
            Image.fromarray(images[i]).save(
                os.path.join(root, CLASSES[labels[i]], f"{i:05d}.png"))
        open(done, "w").close()
        print(f"{split}: {n} PNG files in {root}")


if __name__ == "__main__":
    main()
