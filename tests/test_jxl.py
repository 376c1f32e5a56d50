#!/usr/bin/python3
"""test_jxl.py — JPEG XL decoding through image_tool, on files made by libjxl's own
encoder (cjxl) from real photos:

  * lossless files (bare codestreams and the container) decode to the source photo's
    pixels exactly: rows, columns and channels in place, nothing cropped or padded;
    alpha dropped, never composited; grey replicated to RGB;
  * 16-bit sources (grey and RGB, random values): each value v rounded to 8 bits as
    libjxl rounds it, round(v * 255 / 65535);
  * lossy files (XYB), progressive ones, alpha, grey, JPEG files recompressed
    losslessly by cjxl (a container with the JPEG's reconstruction data): exactly the
    pixels libjxl's own djxl writes;
  * an animation (from a GIF, losslessly): its first frame, the GIF's first frame;
  * the image header's orientation (cjxl takes a PNG's EXIF orientation into it), all
    eight: applied, with or without --exif-rotate, as ImageOps.exif_transpose turns
    the source, and as djxl does;
  * damaged files fail with the file's name and the cause: cut at several points
    ("truncated JPEG XL data"), bytes flipped inside (a failure or an image, never a
    crash), more pixels than --max-pixels (refused from the header).

Usage: test_jxl.py IMAGE_TOOL
"""
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np
from PIL import Image, ImageOps

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import decode_tool as D  # noqa: E402
import jobutil as J  # noqa: E402
import jxl_cases as X  # noqa: E402
import photos  # noqa: E402

TOOL = os.path.abspath(sys.argv[1])


def decode(*files, opts=()):
    return D.decode(TOOL, *files, opts=opts)


def same(a, b):
    return a is not None and a.shape == b.shape and np.array_equal(a, b)


def main():
    if not X.have_tools():
        J.check(False, "cjxl and djxl (Debian's libjxl-tools) are installed")
        return J.finish("test_jxl")
    tmp = tempfile.mkdtemp(prefix="r50-jxl-")
    real = [Image.open(p).convert("RGB") for p in photos.good_photos()]
    rgb = [im for im in real if min(im.size) >= 200][:4]
    odd = rgb[2].resize((97, 61))
    rgba = rgb[3].convert("RGBA")
    rgba.putalpha(Image.linear_gradient("L").resize(rgba.size))
    grey = rgb[0].convert("L")
    path = lambda name: os.path.join(tmp, name)  # noqa: E731

    # lossless: the source's pixels
    lossless = [(X.encode_image(rgb[0], path("photo.jxl"), "-d", "0"), np.asarray(rgb[0])),
                (X.encode_image(odd, path("odd.jxl"), "-d", "0", "--container=1"),
                 np.asarray(odd)),
                (X.encode_image(rgba, path("alpha_ll.jxl"), "-d", "0"),
                 np.asarray(rgba.convert("RGB"))),
                (X.encode_image(grey, path("grey_ll.jxl"), "-d", "0"),
                 np.asarray(grey.convert("RGB")))]
    got, fails = decode(*(f for f, _ in lossless))
    for i, (f, want) in enumerate(lossless):
        J.check(same(got.get(i), want), f"{os.path.basename(f)} {want.shape}: the "
                                        f"source's pixels exactly {fails.get(i, '')}")
    J.check(open(lossless[1][0], "rb").read(12) == b"\0\0\0\x0cJXL \r\n\x87\n" and
            open(lossless[0][0], "rb").read(2) == b"\xff\x0a",
            "both a container and a bare codestream were read")

    # more than 8 bits: rounded as libjxl rounds
    rng = np.random.default_rng(0)
    g16 = rng.integers(0, 65536, (37, 53), dtype=np.uint16)
    rgb16 = rng.integers(0, 65536, (29, 41, 3), dtype=np.uint16)
    ppm16 = path("rgb16.ppm")  # (PIL writes no 16-bit RGB: a binary PPM by hand)
    with open(ppm16, "wb") as f:
        f.write(b"P6\n41 29\n65535\n" + rgb16.astype(">u2").tobytes())
    deep = [(X.encode_image(Image.fromarray(g16), path("grey16.jxl"), "-d", "0"),
             np.repeat(g16[..., None], 3, axis=2)),
            (X.encode(ppm16, path("rgb16.jxl"), "-d", "0"), rgb16)]
    got, fails = decode(*(f for f, _ in deep))
    for i, (f, src) in enumerate(deep):
        want = np.round(src.astype(np.float64) * 255 / 65535).astype(np.uint8)
        J.check(same(got.get(i), want), f"{os.path.basename(f)}: 16-bit values v as "
                                        f"round(v * 255 / 65535) {fails.get(i, '')}")

    # lossy, progressive, alpha, grey, a JPEG recompressed: djxl's pixels exactly
    jpg = path("camera.jpg")
    rgb[1].save(jpg, quality=90)
    lossy = [X.encode_image(rgb[1], path("lossy.jxl"), "-d", "1"),
             X.encode_image(rgb[2], path("progressive.jxl"), "-d", "2", "-p"),
             X.encode_image(odd, path("odd_lossy.jxl"), "-d", "0.5"),
             X.encode_image(rgba, path("alpha.jxl"), "-d", "1.5"),
             X.encode_image(grey, path("grey.jxl"), "-d", "1"),
             X.encode(jpg, path("camera.jxl"))]
    got, fails = decode(*lossy)
    for i, f in enumerate(lossy):
        J.check(same(got.get(i), X.libjxl_rgb(f, tmp)),
                f"{os.path.basename(f)}: djxl's pixels exactly {fails.get(i, '')}")
    a = got.get(3)
    seen = np.asarray(rgba)[..., 3] >= 10  # (lossy coding may drop colour where alpha is ~0)
    J.check(a is not None and
            np.abs(a.astype(int) - np.asarray(rgba.convert("RGB")))[seen].max() <= 40,
            "alpha.jxl: the colours without compositing (a background would differ by up "
            "to 255 where alpha is low)")

    # an animation: its first frame
    pal = [im.resize((80, 60)).convert("P", palette=Image.ADAPTIVE) for im in rgb[:3]]
    gif = path("anim.gif")
    pal[0].save(gif, save_all=True, append_images=pal[1:], duration=80, loop=0)
    anim = X.encode(gif, path("anim.jxl"), "-d", "0")
    got, fails = decode(anim)
    J.check(same(got.get(0), np.asarray(pal[0].convert("RGB"))) and
            same(got.get(0), X.libjxl_rgb(anim, tmp)),
            f"anim.jxl (3 frames): the first, as the GIF's first {fails}")

    # the header's orientation: all eight, turned as exif_transpose turns the source
    src = rgb[3].resize((45, 32))
    turned = []
    for k in range(1, 9):
        exif = Image.Exif()
        exif[0x0112] = k
        turned.append(X.encode_image(src, path(f"orientation{k}.jxl"), "-d", "0",
                                     exif=exif.tobytes()))
    for opts in ((), ("--exif-rotate",)):
        got, fails = decode(*turned, opts=opts)
        for k, f in enumerate(turned, 1):
            exif = Image.Exif()
            exif[0x0112] = k
            tagged = src.copy()
            tagged.info["exif"] = exif.tobytes()
            want = np.asarray(ImageOps.exif_transpose(tagged))
            a = got.get(k - 1)
            J.check(same(a, want) and same(a, X.libjxl_rgb(f, tmp)),
                    f"orientation {k}{' --exif-rotate' if opts else ''}: turned as "
                    f"exif_transpose turns the source, as djxl does "
                    f"({None if a is None else a.shape}) {fails.get(k - 1, '')}")

    # damaged: the file's name and the cause
    data = open(lossy[0], "rb").read()
    bad = [(f"cut{n}.jxl", data[:n], "truncated JPEG XL data")
           for n in (len(data) // 3, len(data) // 2, len(data) - 10, 20)]
    D.check_damaged(TOOL, tmp, bad, J.check)
    flipped = []
    for seed in range(12):
        blob = bytearray(open(lossless[0][0] if seed % 2 else lossy[0], "rb").read())
        r = np.random.default_rng(seed)
        for at in r.integers(16, len(blob), 4):
            blob[at] ^= int(r.integers(1, 256))
        flipped.append(path(f"flipped{seed}.jxl"))
        with open(flipped[-1], "wb") as f:
            f.write(blob)
    p = subprocess.run([TOOL, "decode", path("flipped.npz"), *flipped], capture_output=True,
                       text=True)
    lines = [x for x in p.stdout.splitlines() if x.startswith("FAIL\t")]
    J.check(p.returncode in (0, 3) and all(
        x.split("\t")[2].startswith(flipped[int(x.split("\t")[1])] + ": ") and
        "JPEG XL data" in x for x in lines),
        f"12 files with bytes flipped: each an image or a failure naming it "
        f"(exit {p.returncode}, {len(lines)} failed) {p.stderr[-300:]}")
    _, fails = decode(lossless[0][0], opts=("--max-pixels", "1000"))
    J.check("exceeds --max-pixels" in fails.get(0, "") and
            fails[0].startswith(lossless[0][0]),
            f"more pixels than --max-pixels: refused from the header: {fails}")
    shutil.rmtree(tmp)
    return J.finish("test_jxl")


if __name__ == "__main__":
    sys.exit(main())
