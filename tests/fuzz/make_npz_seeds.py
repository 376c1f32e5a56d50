#!/usr/bin/env python3
"""Seeds of fuzz_npz: real npz files written by numpy (savez and savez_compressed:
every dtype the reader knows, scalars, empty and big-endian arrays, a Fortran-order
one, keys with slashes as Chainer writes them) and, when Chainer is importable, by
chainer.serializers.save_npz of small links (Convolution2D + BatchNormalization +
Linear, as in ResNet).

usage: make_npz_seeds.py OUT_DIR
"""
import io
import os
import sys

import numpy as np


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(0)
    arrays = {
        "conv1/W": rng.standard_normal((4, 3, 3, 3), dtype=np.float32),
        "bn1/N": np.array(3, dtype=np.int64),
        "bn1/avg_var": np.ones(4, np.float32),
        "f8": rng.standard_normal(5), "f2": np.arange(6, dtype=np.float16),
        "i4": np.arange(-3, 3, dtype=np.int32), "u1": np.arange(7, dtype=np.uint8),
        "i1": np.arange(-2, 2, dtype=np.int8), "b1": np.array([True, False]),
        "big": np.arange(4, dtype=">f4"), "empty": np.zeros((0, 3), np.float32),
        "fortran": np.asfortranarray(np.arange(6, dtype=np.float32).reshape(2, 3)),
    }
    for name, save in (("numpy_stored.npz", np.savez),
                       ("numpy_deflated.npz", np.savez_compressed)):
        buf = io.BytesIO()
        save(buf, **arrays)
        with open(os.path.join(out, name), "wb") as f:
            f.write(buf.getvalue())
    one = io.BytesIO()
    np.savez(one, x=np.float32(1.5))
    with open(os.path.join(out, "numpy_scalar.npz"), "wb") as f:
        f.write(one.getvalue())
    try:
        import chainer
        import chainer.links as L
    except ImportError:
        print("make_npz_seeds: no Chainer here: numpy seeds only")
        return 0

    class Tiny(chainer.Chain):
        def __init__(self):
            super().__init__()
            with self.init_scope():
                self.conv1 = L.Convolution2D(3, 4, 3, 1, 1)
                self.bn1 = L.BatchNormalization(4)
                self.fc6 = L.Linear(4, 2)

    for name, compress in (("chainer_stored.npz", False), ("chainer_deflated.npz", True)):
        chainer.serializers.save_npz(os.path.join(out, name), Tiny(), compression=compress)
    print(f"make_npz_seeds: numpy and Chainer {chainer.__version__} seeds in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
