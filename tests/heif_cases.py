"""HEIF (HEIC) and AVIF test files made by libheif's own tools (Debian's
libheif-examples): heif-enc encodes (x265 for HEIC, aom for AVIF), heif-convert
decodes, the reference r50worker's decoding is held to."""
import os
import subprocess

import numpy as np
from PIL import Image


def plain_png(im, path):
    """im as a PNG without an ICC profile (heif-enc's PNG reader refuses some)."""
    Image.frombytes(im.mode, im.size, im.tobytes()).save(path)
    return path


def encode(src, out, *opts):
    """heif-enc OPTS -o OUT SRC (an image file heif-enc reads: PNG or JPEG); OUT."""
    p = subprocess.run(["heif-enc", *opts, "-o", out, src], capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"heif-enc {' '.join(opts)} {src}: {p.stderr[-500:]}")
    return out


def encode_image(im, out, *opts):
    """The PIL image im encoded by heif-enc OPTS into OUT (its PNG beside it, removed)."""
    src = plain_png(im, out + ".src.png")
    try:
        return encode(src, out, *opts)
    finally:
        os.remove(src)


def libheif_rgb(path, scratch):
    """libheif's own decoding of path (heif-convert), as RGB uint8 (alpha dropped);
    scratch: a folder for its PNG."""
    png = os.path.join(scratch, os.path.basename(path) + ".libheif.png")
    p = subprocess.run(["heif-convert", path, png], capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"heif-convert {path}: {p.stderr[-500:]}")
    try:
        return np.asarray(Image.open(png).convert("RGB"))
    finally:
        os.remove(png)
