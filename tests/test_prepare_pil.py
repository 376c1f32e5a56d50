#!/usr/bin/python3
"""test_prepare_pil.py — PIL (Debian's Pillow 9.4) as the oracle of image decoding,
resizing and Chainer's prepare, through image_tool.

On real photos (Debian's python3-skimage and python3-sklearn data) and on synthetic
files covering every JPEG and PNG layout PIL reads, WebP (lossy, lossless, alpha,
animated) and GIF (Pillow's and hand-made: frames placed inside or past the screen,
transparency, no or grey colour tables, indices past the table, interlacing, code sizes
2 to 12, extensions; the first frame of an animation) and BMP (Pillow's and hand-made:
OS/2 and V3-V5 headers, 1/4/8/16/24/32 bits, bit fields, top-down, RLE8/RLE4, short or
grey palettes) and PNM (P1-P6 as Pillow writes them and by hand: plain, comments, maxval
7, 100 and 1000) and TIFF (tests/tiff_cases.py: every compression, strips and tiles,
planes, 1 to 32 bits, palettes, CMYK, YCbCr, alpha, orientation):
  * decode: RGB equals Image.open(p).convert('RGB') exactly; 16-bit grey PNGs and
    TIFFs equal the documented high byte instead (12-bit grey TIFFs their top 8 bits) (PIL saturates them to white), and
    planar TIFFs their samples (Pillow 9.4 misreads them);
  * resize: equals .resize((W, H)) exactly, at 224x224, 200x160 (W x H) and upscaled;
  * prepare: float32 (3, H, W) against Chainer's prepare in numpy: max and mean |diff|
    are printed and must be <= 1 and <= 0.01 (they are 0 when the above hold);
  * --exif-rotate equals ImageOps.exif_transpose, for the 8 orientations (a TIFF's
    Orientation is applied on opening, as Pillow does, and not a second time);
  * --fast-decode keeps big JPEGs at least the target size and close to the exact path;
  * damaged files (cut at many points, empty, text, too many pixels, missing) fail with
    the path and the cause in the message exactly where PIL fails, and read the same
    where PIL reads them.

Usage: test_prepare_pil.py IMAGE_TOOL
"""
import os
import struct
import subprocess
import sys
import tempfile
import warnings

import numpy as np
from PIL import Image, ImageOps

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import image_cases  # noqa: E402
import jp2_cases  # noqa: E402
import tiff_cases  # noqa: E402

warnings.simplefilter("ignore")  # PIL's palette-transparency notice
TOOL = None
MEAN = np.array([103.063, 115.903, 123.152], dtype=np.float32)
failures = []
passed = 0


def check(cond, msg):
    global passed
    if cond:
        passed += 1
    else:
        failures.append(msg)
        print("FAIL:", msg)


def run_tool(args, out_npz):
    """Runs image_tool; returns ({index: array}, {index: failure message})."""
    r = subprocess.run([TOOL] + args, capture_output=True, text=True)
    if r.returncode not in (0, 3):
        raise RuntimeError(f"image_tool {' '.join(args[:4])}: exit {r.returncode}\n"
                           f"{r.stdout}{r.stderr}")
    fails = {}
    for line in r.stdout.splitlines():
        if line.startswith("FAIL\t"):
            _, i, msg = line.split("\t", 2)
            fails[int(i)] = msg
    with np.load(out_npz) as z:
        arrays = {int(k): z[k] for k in z.files}
    return arrays, fails


REFS = {}  # {path: RGB array} where the reference is not PIL's (image_cases)


def pil_rgb(path, exif_rotate=False):
    if path in REFS:
        return Image.fromarray(REFS[path])
    im = Image.open(path)
    if im.format == "TIFF" and im.mode in ("I;16", "I;16B"):  # documented: the high byte
        v = (np.asarray(im).astype(np.uint32) >> 8).astype(np.uint8)
        return Image.fromarray(np.repeat(v[:, :, None], 3, axis=2))
    if exif_rotate:
        im = ImageOps.exif_transpose(im)
    if image_cases.is_grey16(path):
        return Image.fromarray(image_cases.sane_grey16(path))
    if image_cases.is_wide_pgm(path):
        return Image.fromarray(image_cases.sane_wide_pgm(path))
    return im.convert("RGB")


def chainer_prepare(rgb_image, size):
    a = np.asarray(rgb_image.resize(size), dtype=np.float32)
    a = a[:, :, ::-1] - MEAN
    return a.transpose(2, 0, 1)


def name(p):
    return os.path.basename(p)


# ---------------------------------------------------------------------- checks

def check_decode(files, tmp):
    arrays, fails = run_tool(["decode", f"{tmp}/dec.npz"] + files, f"{tmp}/dec.npz")
    for i, p in enumerate(files):
        if i in fails:
            check(False, f"decode {name(p)}: {fails[i]}")
            continue
        want = np.asarray(pil_rgb(p))
        got = arrays[i]
        same = got.shape == want.shape and np.array_equal(got, want)
        detail = "" if got.shape != want.shape or same else \
            f", max|diff| {np.abs(got.astype(int) - want).max()}"
        check(same, f"decode {name(p)}: {got.shape} vs PIL {want.shape}{detail}")


def check_resize_prepare(files, size, tmp):
    w, h = size
    arrays, fails = run_tool(["resize", str(w), str(h), f"{tmp}/rs.npz"] + files,
                             f"{tmp}/rs.npz")
    prepared, pfails = run_tool(["prepare", str(w), str(h), f"{tmp}/pp.npz"] + files,
                                f"{tmp}/pp.npz")
    worst, total, count, exact = 0.0, 0.0, 0, 0
    for i, p in enumerate(files):
        if i in fails or i in pfails:
            check(False, f"resize {name(p)} to {w}x{h}: {fails.get(i) or pfails.get(i)}")
            continue
        rgb = pil_rgb(p)
        want = np.asarray(rgb.resize(size))
        same = np.array_equal(arrays[i], want)
        exact += same
        check(same, f"resize {name(p)} to {w}x{h}: max|diff| "
                    f"{np.abs(arrays[i].astype(int) - want).max()}")
        ref = chainer_prepare(rgb, size)
        got = prepared[i]
        check(got.shape == ref.shape and got.dtype == np.float32,
              f"prepare {name(p)}: {got.shape} {got.dtype}")
        d = np.abs(got.astype(np.float64) - ref)
        worst, total, count = max(worst, d.max()), total + d.sum(), count + d.size
    mean = total / max(count, 1)
    print(f"prepare {w}x{h} (W x H): {len(files)} images, {exact} resized bit-exact, "
          f"max|diff| {worst:g}, mean|diff| {mean:g}")
    check(worst <= 1 and mean <= 0.01, f"prepare {w}x{h}: max {worst} mean {mean}")


def check_exif(files, tmp):
    arrays, fails = run_tool(["--exif-rotate", "decode", f"{tmp}/ex.npz"] + files,
                             f"{tmp}/ex.npz")
    for i, p in enumerate(files):
        # a TIFF's orientation is applied on load, flag or not (exif_transpose would
        # turn it a second time: Pillow 9.4 reads the same tag as EXIF)
        want = np.asarray(pil_rgb(p, exif_rotate=not p.endswith(".tif")))
        ok = i not in fails and np.array_equal(arrays[i], want)
        check(ok, f"exif-rotate {name(p)}: {fails.get(i, '')} "
                  f"{arrays[i].shape if i in arrays else ''} vs {want.shape}")
    # without the flag the orientation is ignored, as in Chainer
    arrays, _ = run_tool(["decode", f"{tmp}/ex0.npz"] + files, f"{tmp}/ex0.npz")
    for i, p in enumerate(files):
        check(np.array_equal(arrays[i], np.asarray(pil_rgb(p))), f"no-rotate {name(p)}")


def check_fast_decode(big_jpegs, small, tmp):
    files = big_jpegs + small
    exact, _ = run_tool(["prepare", "224", "224", f"{tmp}/fx.npz"] + files, f"{tmp}/fx.npz")
    fast, fails = run_tool(["--fast-decode", "prepare", "224", "224", f"{tmp}/ff.npz"] +
                           files, f"{tmp}/ff.npz")
    for i, p in enumerate(files):
        if i in fails:
            check(False, f"fast-decode {name(p)}: {fails[i]}")
            continue
        d = np.abs(fast[i] - exact[i])
        if p in small:
            check(d.max() == 0, f"fast-decode {name(p)} (no DCT scaling) differs")
        else:
            print(f"fast-decode {name(p)} {Image.open(p).size}: mean|diff| {d.mean():.3f} "
                  f"vs exact")
            check(0 < d.mean() < 4, f"fast-decode {name(p)}: mean|diff| {d.mean()}")


def damaged_files(tmp, photo_jpeg, photo_png, photo_webp, photo_gif, photo_bmp, photo_tif,
                  photo_lzw_tif, photo_jp2, photo_j2k):
    """(path, must_fail, cause) for damaged inputs; must_fail None: agree with PIL;
    "refused": r50worker fails whatever PIL does."""
    cases = []

    def put(fname, data, must_fail, cause):
        p = os.path.join(tmp, fname)
        with open(p, "wb") as f:
            f.write(data)
        cases.append((p, must_fail, cause))

    jpg = open(photo_jpeg, "rb").read()
    prog = image_cases.jpeg_bytes(Image.open(photo_jpeg), progressive=True)
    png = open(photo_png, "rb").read()
    for frac in (0.002, 0.05, 0.3, 0.6, 0.9, 0.999):
        put(f"cut{frac}.jpg", jpg[:int(len(jpg) * frac)], True, "")
        put(f"cut{frac}_progressive.jpg", prog[:int(len(prog) * frac)], True, "")
        put(f"cut{frac}.png", png[:int(len(png) * frac)], True, "")
    put("no_eoi.jpg", jpg[:-2], True, "truncated JPEG data")
    put("cut_mid.jpg", jpg[:len(jpg) // 2], True, "truncated JPEG data")
    put("cut_mid.png", png[:len(png) // 2], True, "truncated PNG data")
    webp = open(photo_webp, "rb").read()
    for frac in (0.002, 0.05, 0.3, 0.6, 0.9, 0.999):
        put(f"cut{frac}.webp", webp[:int(len(webp) * frac)], True, "")
    put("cut_mid.webp", webp[:len(webp) // 2], True, "truncated WebP data")
    put("riff_not_webp.webp", webp[:8] + b"WEBX" + webp[12:], True,
        "not a JPEG, PNG, WebP, GIF, BMP, PNM, TIFF, JPEG 2000, HEIF, AVIF or JPEG XL")
    put("bad_chunk.webp", webp[:12] + b"VP9 " + webp[16:], True, "corrupt WebP data")
    # a VP8 frame header declaring 16383 x 16383: refused before the canvas is allocated
    vp8 = webp.find(b"\x9d\x01\x2a")
    hugewebp = bytearray(webp)
    hugewebp[vp8 + 3:vp8 + 7] = (0x3FFF).to_bytes(2, "little") * 2
    put("huge.webp", bytes(hugewebp), True, "16383x16383 = 268402689 pixels exceeds")
    for k in (1, 4, 8, 12):  # inside IEND: PIL reads the image all the same
        put(f"cut_tail{k}.png", png[:-k], None, "")
    put("empty.jpg", b"", True, "empty file")
    put("text.jpg", b"this is not a picture\n" * 10, True, "not a JPEG, PNG, WebP, GIF, BMP, PNM, TIFF, JPEG 2000, HEIF, AVIF or JPEG XL")
    put("gif.png", b"GIF89a" + bytes(20), True, "GIF file without an image")
    gif = open(photo_gif, "rb").read()
    for frac in (0.002, 0.05, 0.3, 0.6, 0.9, 0.99):
        put(f"cut{frac}.gif", gif[:int(len(gif) * frac)], True, "")
    put("cut_mid.gif", gif[:len(gif) // 2], True, "truncated GIF data")
    put("no_trailer.gif", gif[:-1], None, "")  # complete at its last pixel: PIL reads it
    idx = np.arange(12, dtype=np.uint8).reshape(3, 4) % 4
    pal = [(9, 9, 9), (200, 0, 0), (0, 200, 0), (0, 0, 200)]
    lzw = image_cases.lzw_literals(idx.reshape(-1), 2)
    bad = bytearray(lzw)
    bad[2] = 0x7C  # after the clear code (4): a code (7) past the table's next entry
    for fname, data, cause in [("past_next.gif", bytes(bad), "a code past the table"),
                               ("early_end.gif", lzw[:2] + b"\x4d\x00", ""),
                               ("code_size13.gif", b"\x0d" + lzw[1:], "bad LZW code size")]:
        p = os.path.join(tmp, fname)
        image_cases.write_gif(p, idx, global_pal=pal, code_bits=2, data=data)
        cases.append((p, None if not cause else True, cause))
    bmp = open(photo_bmp, "rb").read()
    for frac in (0.002, 0.05, 0.3, 0.6, 0.9, 0.999):
        put(f"cut{frac}.bmp", bmp[:int(len(bmp) * frac)], True, "")
    put("cut_mid.bmp", bmp[:len(bmp) // 2], True, "truncated BMP data")
    w = Image.open(photo_bmp).size[0]
    put("no_last_padding.bmp", bmp[:-((-3 * w) % 4) or None], None, "")  # PIL reads it
    hugebmp = bytearray(bmp)
    hugebmp[18:26] = struct.pack("<ii", 40000, 40000)
    put("huge.bmp", bytes(hugebmp), True, "40000x40000 = 1600000000 pixels exceeds")
    for fname, off, value, cause in [("jpeg_in.bmp", 30, 4, "compression 4"),
                                     ("bits2.bmp", 28, 2, "2 bits a pixel"),
                                     ("header_20.bmp", 14, 20, "header of 20 bytes")]:
        b = bytearray(bmp)
        b[off:off + 2] = struct.pack("<H", value)
        put(fname, bytes(b), True, cause)
    rgb = Image.open(photo_bmp)
    ppm = b"P6\n%d %d\n255\n" % rgb.size + np.asarray(rgb).tobytes()
    for frac in (0.001, 0.3, 0.999):
        put(f"cut{frac}.ppm", ppm[:int(len(ppm) * frac)], True, "")
    put("cut_mid.ppm", ppm[:len(ppm) // 2], True, "truncated PNM data")
    for fname, data in [("above_maxval.pgm", b"P2 2 1 10 3 11\n"),
                        ("not_number.pgm", b"P2 2 1 10 3 x\n"),
                        ("double_underscore.pgm", b"P2 2 1 10 1__0 3\n"),
                        ("lone_sign.pgm", b"P2 2 1 10 3 +\n"),
                        ("trailing_underscore.pgm", b"P2 1 1 10 1_\n"),
                        ("long_sample.pgm", b"P2 1 1 10 -0000000001\n"),
                        ("negative_width.pgm", b"P5 -1 1 255\n\0"),
                        ("short_plain.ppm", b"P3 2 1 10 3 4 5 6\n"),
                        ("maxval0.pgm", b"P5 1 1 0\n\0"),
                        ("long_token.pgm", b"P5 00000000001 1 255\n\0"),
                        ("bad_bit.pbm", b"P1 3 1 0 2 1\n"),
                        ("huge.pgm", b"P5 30000 30000 255\n\0")]:
        put(fname, data, None if fname != "huge.pgm" else True,
            "" if fname != "huge.pgm" else "30000x30000 = 900000000 pixels exceeds")
    pal = [(9, 9, 9), (200, 0, 0), (0, 200, 0), (0, 0, 200)]
    for fname, data in [("rle8_delta.bmp", bytes([2, 1, 0, 2, 1, 0, 3, 2, 0, 0, 0, 1])),
                        ("rle8_short.bmp", bytes([2, 1, 0, 1])),
                        ("rle8_cut.bmp", bytes([2, 1, 0, 0, 4]))]:
        p = os.path.join(tmp, fname)
        image_cases.write_bmp(p, 3, 4, 8, palette=pal, compression=1, data=data)
        cases.append((p, None, ""))
    huge = bytearray(gif)
    huge[6:10] = b"\xff\xff\xff\xff"
    put("huge.gif", bytes(huge), True, "65535x65535 = 4294836225 pixels exceeds")
    # a SOF declaring 30000 x 30000: refused from the header, before any allocation
    sof = jpg.find(b"\xff\xc0")
    big = bytearray(jpg)
    big[sof + 5:sof + 9] = (30000).to_bytes(2, "big") * 2
    put("huge.jpg", bytes(big), True, "30000x30000 = 900000000 pixels exceeds --max-pixels")
    bigpng = bytearray(png)
    bigpng[16:24] = (20000).to_bytes(4, "big") * 2
    import zlib
    bigpng[29:33] = zlib.crc32(bytes(bigpng[12:29])).to_bytes(4, "big")
    put("huge.png", bytes(bigpng), True, "20000x20000 = 400000000 pixels exceeds")
    tiff_cases.damaged_tiffs(put, photo_tif, photo_lzw_tif, tmp)
    jp2_cases.damaged_jp2s(put, photo_jp2, photo_j2k, tmp)
    cases.append((os.path.join(tmp, "missing.jpg"), True, "cannot open"))
    return cases


def check_damaged(cases, tmp):
    files = [c[0] for c in cases]
    arrays, fails = run_tool(["decode", f"{tmp}/bad.npz"] + files, f"{tmp}/bad.npz")
    for i, (p, must_fail, cause) in enumerate(cases):
        try:
            want = np.asarray(Image.open(p).convert("RGB"))
        except Exception:  # noqa: BLE001 — any PIL failure
            want = None
        if want is None or must_fail:
            msg = fails.get(i, "")
            check(want is None or must_fail == "refused",
                  f"{name(p)}: PIL read it, expected a failure")
            check(i in fails and msg.startswith(p + ": ") and cause in msg,
                  f"{name(p)}: expected failure '{p}: ...{cause}...', got '{msg}'")
        else:
            check(i in arrays and np.array_equal(arrays[i], want),
                  f"{name(p)}: PIL reads it; r50 {fails.get(i, 'differs')}")


def main():
    global TOOL
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    TOOL = os.path.abspath(sys.argv[1])
    photos, broken = image_cases.real_photos()
    if len(photos) < 10:
        print(f"FAIL: real photos missing: install {image_cases.PHOTO_PACKAGES}")
        return 1
    with tempfile.TemporaryDirectory() as tmp:
        syn_dir = os.path.join(tmp, "syn")
        os.mkdir(syn_dir)
        chelsea = [p for p in photos if name(p) == "chelsea.png"][0]
        syn = image_cases.synthetic_cases(syn_dir, photo=chelsea, refs=REFS)
        for fmt in ("cmyk", "ycck"):
            p = os.path.join(syn_dir, f"{fmt}_libjpeg.jpg")
            subprocess.run([TOOL, "cmyk-jpeg", p, "83", "57", fmt], check=True)
            syn[name(p)] = p
        synthetic = sorted(syn.values())
        every = photos + synthetic
        print(f"{len(photos)} photos, {len(synthetic)} synthetic files")

        check_decode(every, tmp)
        for size in [(224, 224), (200, 160)]:
            check_resize_prepare(every, size, tmp)
        small = [p for p in every if max(Image.open(p).size) <= 512]
        check_resize_prepare(small, (613, 577), tmp)  # upscaling

        exif = [syn[f"exif_orient{o}.jpg"] for o in range(1, 9)] + [
            syn[f"orient{o}.tif"] for o in range(1, 9)] + [
            syn["exif_orient6.png"], syn["exif_orient6.webp"]] + [
            p for p in photos if name(p) == "hubble_deep_field.jpg"]
        check_exif(exif, tmp)

        big = [p for p in photos if p.endswith(".jpg") and min(Image.open(p).size) >= 448]
        check_fast_decode(big, [syn["q90_420.jpg"], syn["odd_17x13.jpg"]], tmp)

        rocket = [p for p in photos if name(p) == "rocket.jpg"][0]
        cases = damaged_files(tmp, rocket, chelsea, syn["photo_q85.webp"], syn["photo.gif"],
                              syn["photo.bmp"], syn["photo.tif"], syn["photo_lzw.tif"],
                              syn["photo.jp2"], syn["photo.j2k"])
        cases += [(p, True, image_cases.BROKEN_PHOTOS[name(p)]) for p in broken]
        check_damaged(cases, tmp)

    print(f"{passed} passed, {len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
