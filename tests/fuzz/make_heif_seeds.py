#!/usr/bin/python3
"""make_heif_seeds.py — seeds of the fuzz_heif target: small HEIC and AVIF files made
by libheif's heif-enc (Debian's libheif-examples): lossy and lossless, odd sizes,
alpha, 10-bit grey.

Usage: make_heif_seeds.py SEEDS_HEIF
"""
import os
import sys
import tempfile

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import heif_cases as H  # noqa: E402


def small_rgb():
    """A 24x40 RGB seed picture (gradients, random dots) and its column indices."""
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:24, 0:40]
    rgb = np.stack([x * 6, y * 10, (x + y) * 4], axis=-1).astype(np.uint8)
    rgb[::3, ::5] = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
    return rgb, x


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    rgb, x = small_rgb()
    with tempfile.TemporaryDirectory() as tmp:
        srcs = {"rgb": Image.fromarray(rgb[:17, :29]),
                "rgba": Image.fromarray(np.dstack([rgb, (x * 6).astype(np.uint8)]), "RGBA"),
                "grey16": Image.fromarray((rgb[..., 0].astype(np.uint16) * 257))}
        cases = [("lossy.heic", "rgb", ["-q", "50"]), ("lossless.heic", "rgb", ["-L"]),
                 ("alpha.heic", "rgba", ["-q", "70"]), ("grey10.heic", "grey16", ["-b", "10"]),
                 ("lossy.avif", "rgb", ["-q", "50"]), ("alpha.avif", "rgba", ["-q", "60"])]
        for name, src, opts in cases:
            png = os.path.join(tmp, src + ".png")
            if not os.path.exists(png):
                srcs[src].save(png)
            H.encode(png, os.path.join(out, name), *opts)
    print(f"{len(cases)} seeds in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
