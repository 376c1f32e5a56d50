#!/usr/bin/env python3
"""A model npz written deflated by numpy.savez_compressed loads in r50worker, and what
r50worker saves is an uncompressed npz that numpy reads back with Chainer's keys.

usage: test_deflated_model.py MODEL_TOOL
"""
import os
import subprocess
import sys
import tempfile
import zipfile

import numpy as np


def main():
    tool = sys.argv[1]
    with tempfile.TemporaryDirectory() as d:
        a = os.path.join(d, "a.npz")
        subprocess.run([tool, "init", "11", a], check=True)
        with zipfile.ZipFile(a) as z:
            assert all(i.compress_type == zipfile.ZIP_STORED for i in z.infolist())
        with np.load(a) as f:
            arrays = {k: f[k] for k in f.files}
        assert arrays["conv1/W"].shape == (64, 3, 7, 7) and arrays["conv1/W"].dtype == np.float32
        assert arrays["bn1/N"].shape == () and arrays["bn1/N"].dtype.kind == "i"
        assert arrays["fc6/W"].shape == (1000, 2048)
        assert len(arrays) == 321, len(arrays)
        # give the persistents non-default values so the check covers them
        for k in arrays:
            if k.endswith("/avg_var"):
                arrays[k] = (np.random.RandomState(0).rand(*arrays[k].shape) + 0.5).astype(np.float32)
            if k.endswith("/N"):
                arrays[k] = np.asarray(7)
        c = os.path.join(d, "c.npz")
        np.savez_compressed(c, **arrays)
        with zipfile.ZipFile(c) as z:
            assert all(i.compress_type == zipfile.ZIP_DEFLATED for i in z.infolist())
        out = os.path.join(d, "out.npz")
        subprocess.run([tool, "resave", c, out], check=True)
        with np.load(out) as f:
            assert sorted(f.files) == sorted(arrays), "keys differ"
            for k, v in arrays.items():
                assert f[k].shape == v.shape, k
                assert np.array_equal(f[k], v), k
    print("test_deflated_model: deflated npz loads; saved npz equals it exactly")


if __name__ == "__main__":
    main()
