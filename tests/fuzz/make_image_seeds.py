#!/usr/bin/python3
"""make_image_seeds.py — seeds of the fuzz_jpeg, fuzz_png, fuzz_webp, fuzz_gif,
fuzz_bmp, fuzz_pnm, fuzz_tiff and fuzz_jp2 targets: the small synthetic files of
tests/image_cases.py (every JPEG and PNG layout PIL reads, EXIF orientations,
interlacing; WebP lossy, lossless, alpha, animated; GIF layouts and code sizes; BMP
headers, depths, bit fields, RLE; PNM plain and binary; TIFF compressions, depths,
tiles, planes, orientations; JPEG 2000 files and codestreams of 1 to 16 bits, signed,
tiled, lossy, layered), each format into its folder.

Usage: make_image_seeds.py SEEDS_JPEG SEEDS_PNG SEEDS_WEBP SEEDS_GIF SEEDS_BMP SEEDS_PNM
       SEEDS_TIFF SEEDS_JP2
"""
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import image_cases  # noqa: E402


def main():
    if len(sys.argv) != 9:
        print(__doc__)
        return 2
    dirs = {".jpg": sys.argv[1], ".png": sys.argv[2], ".webp": sys.argv[3],
            ".gif": sys.argv[4], ".bmp": sys.argv[5], ".pnm": sys.argv[6],
            ".tif": sys.argv[7], ".jp2": sys.argv[8]}
    for d in dirs.values():
        os.makedirs(d, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        cases = image_cases.synthetic_cases(tmp, photo=None, big=False)
        for name, path in sorted(cases.items()):
            ext = os.path.splitext(name)[1]
            ext = {".pbm": ".pnm", ".pgm": ".pnm", ".ppm": ".pnm", ".j2k": ".jp2"}.get(ext, ext)
            shutil.copy(path, dirs[ext])
    print(", ".join(f"{len(os.listdir(d))} {ext[1:].upper()}" for ext, d in dirs.items()),
          "seeds")
    return 0


if __name__ == "__main__":
    sys.exit(main())
