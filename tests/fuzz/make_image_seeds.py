#!/usr/bin/python3
"""make_image_seeds.py — seeds of the fuzz_jpeg and fuzz_png targets: the small
synthetic files of tests/image_cases.py (every JPEG and PNG layout PIL reads, EXIF
orientations, interlacing), JPEGs into the first folder and PNGs into the second.

Usage: make_image_seeds.py SEEDS_JPEG SEEDS_PNG
"""
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import image_cases  # noqa: E402


def main():
    if len(sys.argv) != 3:
        print(__doc__)
        return 2
    jpeg_dir, png_dir = sys.argv[1:]
    for d in (jpeg_dir, png_dir):
        os.makedirs(d, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        cases = image_cases.synthetic_cases(tmp, photo=None, big=False)
        for name, path in sorted(cases.items()):
            shutil.copy(path, jpeg_dir if name.endswith(".jpg") else png_dir)
    print(f"{len(os.listdir(jpeg_dir))} JPEG and {len(os.listdir(png_dir))} PNG seeds")
    return 0


if __name__ == "__main__":
    sys.exit(main())
