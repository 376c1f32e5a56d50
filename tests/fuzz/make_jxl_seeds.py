#!/usr/bin/python3
"""make_jxl_seeds.py — seeds of the fuzz_jxl target: small JPEG XL files made by
libjxl's cjxl (Debian's libjxl-tools): lossy and lossless, a container, alpha, grey,
16 bits, an animation, an orientation.

Usage: make_jxl_seeds.py SEEDS_JXL
"""
import os
import sys
import tempfile

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import jxl_cases as X  # noqa: E402
from make_heif_seeds import small_rgb  # noqa: E402


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    rgb, x = small_rgb()
    im = Image.fromarray(rgb[:17, :29])
    rgba = Image.fromarray(np.dstack([rgb, (x * 6).astype(np.uint8)]), "RGBA")
    exif = Image.Exif()
    exif[0x0112] = 6
    cases = [("lossy.jxl", im, ["-d", "1"], {}),
             ("lossless.jxl", im, ["-d", "0", "--container=1"], {}),
             ("alpha.jxl", rgba, ["-d", "2"], {}),
             ("grey.jxl", im.convert("L"), ["-d", "0"], {}),
             ("grey16.jxl", Image.fromarray(rgb[..., 0].astype(np.uint16) * 257), ["-d", "0"],
              {}),
             ("progressive.jxl", im, ["-d", "3", "-p"], {}),
             ("turned.jxl", im, ["-d", "0"], {"exif": exif.tobytes()})]
    with tempfile.TemporaryDirectory() as tmp:
        for name, src, opts, save in cases:
            X.encode_image(src, os.path.join(out, name), *opts, **save)
        gif = os.path.join(tmp, "anim.gif")
        frames = [im.convert("P"), Image.fromarray(rgb[:17, 5:34]).convert("P")]
        frames[0].save(gif, save_all=True, append_images=frames[1:], duration=40)
        X.encode(gif, os.path.join(out, "anim.jxl"))
    print(f"{len(cases) + 1} seeds in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
