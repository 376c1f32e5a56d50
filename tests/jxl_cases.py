"""JPEG XL test files made by libjxl's own tools (Debian's libjxl-tools): cjxl encodes,
djxl decodes, the reference r50worker's decoding is held to (Pillow 9.4 reads no JPEG
XL)."""
import os
import shutil
import subprocess

import numpy as np
from PIL import Image


def have_tools():
    return bool(shutil.which("cjxl") and shutil.which("djxl"))


def encode(src, out, *opts):
    """cjxl SRC OUT OPTS (SRC: a PNG, APNG, GIF, JPEG or PPM file); OUT."""
    p = subprocess.run(["cjxl", src, out, *opts], capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"cjxl {src} {' '.join(opts)}: {p.stderr[-500:]}")
    return out


def encode_image(im, out, *opts, **save):
    """The PIL image im encoded by cjxl OPTS into OUT (through a PNG beside it, saved with
    `save`, e.g. exif=, removed)."""
    src = out + ".src.png"
    im.save(src, **save)
    try:
        return encode(src, out, *opts)
    finally:
        os.remove(src)


def libjxl_rgb(path, scratch):
    """libjxl's own decoding of path (djxl to an 8-bit PNG), as RGB uint8 (alpha
    dropped; an animation's first frame); scratch: a folder for its PNG."""
    png = os.path.join(scratch, os.path.basename(path) + ".libjxl.png")
    p = subprocess.run(["djxl", path, png], capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"djxl {path}: {p.stderr[-500:]}")
    try:
        im = Image.open(png)
        if im.mode not in ("RGB", "RGBA", "L", "LA"):
            raise RuntimeError(f"djxl {path}: a {im.mode} PNG, not an 8-bit one")
        return np.asarray(im.convert("RGB"))
    finally:
        os.remove(png)
