"""image_cases.py — test pictures for the image decoder: real photos shipped by Debian
packages, and synthetic JPEG/PNG files covering every layout PIL reads.

PIL writes the JPEGs and the common PNGs; write_png() below writes what PIL cannot
(16-bit RGB/RGBA/LA, 1/2/4-bit grey and palette, Adam7 interlacing, every filter type,
palettes shorter than the indices used), byte by byte from the PNG specification.
Used by test_prepare_pil.py and fuzz/make_image_seeds.py.
"""
import glob
import io
import os
import struct
import zlib

import numpy as np
from PIL import Image

# Debian: python3-skimage (skimage/data) and python3-sklearn (sklearn/datasets/images).
PHOTO_GLOBS = [
    "/usr/lib/python3/dist-packages/skimage/data/*.png",
    "/usr/lib/python3/dist-packages/skimage/data/*.jpg",
    "/usr/lib/python3/dist-packages/sklearn/datasets/images/*.jpg",
]
PHOTO_PACKAGES = "python3-skimage python3-sklearn"
BROKEN_PHOTOS = {"truncated.jpg"}  # skimage's deliberately cut JPEG: PIL refuses it


def real_photos():
    """(readable photos, deliberately broken ones), sorted paths."""
    paths = sorted(p for g in PHOTO_GLOBS for p in glob.glob(g))
    good = [p for p in paths if os.path.basename(p) not in BROKEN_PHOTOS]
    bad = [p for p in paths if os.path.basename(p) in BROKEN_PHOTOS]
    return good, bad


# ---------------------------------------------------------------------- PNG writer

COLOR_TYPES = {"L": 0, "RGB": 2, "P": 3, "LA": 4, "RGBA": 6}
ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2),
         (0, 1, 1, 2)]  # (x0, y0, dx, dy)


def _chunk(kind, data):
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))


def _pack_rows(a, depth):
    """a: (h, w, c) integers -> list of raw scanlines (bytes) at bit depth."""
    h, w, c = a.shape
    if depth == 16:
        return [a[y].astype(">u2").tobytes() for y in range(h)]
    if depth == 8:
        return [a[y].astype(np.uint8).tobytes() for y in range(h)]
    rows = []
    per = 8 // depth
    for y in range(h):
        v = a[y, :, 0].astype(np.uint8)
        pad = (-len(v)) % per
        v = np.concatenate([v, np.zeros(pad, np.uint8)]).reshape(-1, per)
        shifts = np.arange(per - 1, -1, -1) * depth
        rows.append((v << shifts).sum(axis=1).astype(np.uint8).tobytes())
    return rows


def _paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = np.abs(p - a), np.abs(p - b), np.abs(p - c)
    return np.where((pa <= pb) & (pa <= pc), a, np.where(pb <= pc, b, c))


def _filter_rows(rows, bpp):
    """Applies filter types 0..4 in turn to the scanlines."""
    out, prev = [], None
    for i, row in enumerate(rows):
        x = np.frombuffer(row, np.uint8).astype(np.int32)
        up = np.zeros_like(x) if prev is None else prev
        left = np.concatenate([np.zeros(bpp, np.int32), x[:-bpp]]) if len(x) > bpp else \
            np.zeros_like(x)
        upleft = np.concatenate([np.zeros(bpp, np.int32), up[:-bpp]]) if len(x) > bpp else \
            np.zeros_like(x)
        kind = i % 5
        pred = [np.zeros_like(x), left, up, (left + up) // 2, _paeth(left, up, upleft)][kind]
        out.append(bytes([kind]) + ((x - pred) % 256).astype(np.uint8).tobytes())
        prev = x
    return out


def write_png(path, a, mode, depth=8, interlace=False, palette=None, trns=None, exif=None,
              cut_iend=False):
    """Writes a (h, w[, c]) integer array as a PNG of mode L/RGB/P/LA/RGBA."""
    a = np.asarray(a)
    if a.ndim == 2:
        a = a[:, :, None]
    h, w, c = a.shape
    bpp = max(1, c * depth // 8)
    ihdr = struct.pack(">IIBBBBB", w, h, depth, COLOR_TYPES[mode], 0, 0, int(interlace))
    png = b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr)
    if palette is not None:
        png += _chunk(b"PLTE", bytes(np.asarray(palette, np.uint8).reshape(-1)))
    if trns is not None:
        png += _chunk(b"tRNS", trns)
    if exif is not None:
        png += _chunk(b"eXIf", exif)
    raw = b""
    if interlace:
        for x0, y0, dx, dy in ADAM7:
            sub = a[y0::dy, x0::dx]
            if sub.shape[0] and sub.shape[1]:
                raw += b"".join(_filter_rows(_pack_rows(sub, depth), bpp))
    else:
        raw = b"".join(_filter_rows(_pack_rows(a, depth), bpp))
    z = zlib.compress(raw, 9)
    half = len(z) // 2  # two IDAT chunks: the decoder must join them
    png += _chunk(b"IDAT", z[:half]) + _chunk(b"IDAT", z[half:])
    if not cut_iend:
        png += _chunk(b"IEND", b"")
    with open(path, "wb") as f:
        f.write(png)


# ---------------------------------------------------------------------- synthetic cases

def _gradient(w, h, seed=0):
    """A smooth RGB picture with some noise: exercises both flat and busy blocks."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    r = (x * 255 // max(w - 1, 1))
    g = (y * 255 // max(h - 1, 1))
    b = ((x + y) * 3) % 256
    a = np.stack([r, g, b], -1) + rng.integers(-20, 21, (h, w, 3))
    return np.clip(a, 0, 255).astype(np.uint8)


def exif_bytes(orientation):
    e = Image.Exif()
    e[0x0112] = orientation
    return e.tobytes()


def synthetic_cases(d, photo=None, big=True):
    """Writes the synthetic files into d; returns {name: path}. `photo` (a path) gives
    JPEG variants real content; big=False skips the large ones (fuzz seeds)."""
    out = {}

    def put(name):
        out[name] = os.path.join(d, name)
        return out[name]

    src = Image.open(photo).convert("RGB") if photo else Image.fromarray(_gradient(96, 64))
    small = src.resize((61, 43))
    small.save(put("q90_420.jpg"), quality=90)
    small.save(put("q75_422.jpg"), quality=75, subsampling=1)
    small.save(put("q95_444.jpg"), quality=95, subsampling=0)
    Image.fromarray(_gradient(17, 13, 1)).save(put("odd_17x13.jpg"))
    src.save(put("progressive.jpg"), progressive=True, quality=85)
    src.convert("L").save(put("grey.jpg"))
    src.convert("L").save(put("grey_progressive.jpg"), progressive=True)
    src.convert("CMYK").save(put("cmyk_pil.jpg"))
    Image.fromarray(_gradient(1, 1, 2)).save(put("one_1x1.jpg"))
    Image.fromarray(_gradient(2, 3, 3)).save(put("tiny_2x3.jpg"))
    src.save(put("optimized.jpg"), optimize=True, quality=60)
    ex = src.resize((48, 30))
    for o in range(1, 9):
        ex.save(put(f"exif_orient{o}.jpg"), exif=exif_bytes(o))

    g = _gradient(45, 37, 4)
    Image.fromarray(g).save(put("rgb.png"))
    rgba = np.dstack([g, np.arange(45 * 37).reshape(37, 45) % 256]).astype(np.uint8)
    Image.fromarray(rgba, "RGBA").save(put("rgba.png"))
    Image.fromarray(g).convert("LA").save(put("la.png"))
    Image.fromarray(g).convert("L").save(put("grey8.png"))
    Image.fromarray(g).convert("1").save(put("bilevel_pil.png"))
    Image.fromarray(g).convert("P", palette=Image.ADAPTIVE, colors=200).save(put("palette.png"))
    Image.fromarray(g).convert("P", palette=Image.ADAPTIVE, colors=16).save(
        put("palette_trns.png"), transparency=bytes(range(0, 256, 16)))
    Image.fromarray(g).resize((64, 47)).save(put("exif_orient6.png"), exif=exif_bytes(6))
    Image.fromarray(_gradient(1, 1, 5)).save(put("one_1x1.png"))

    rng = np.random.default_rng(7)
    g16 = (np.arange(45 * 37).reshape(37, 45) * 39 % 65536).astype(np.uint16)
    Image.fromarray(g16.astype(np.int32), "I").convert("I;16").save(put("grey16_pil.png"))
    write_png(put("grey16.png"), g16, "L", 16)
    rgb16 = rng.integers(0, 65536, (23, 31, 3))
    write_png(put("rgb16.png"), rgb16, "RGB", 16)
    write_png(put("rgba16.png"), rng.integers(0, 65536, (23, 31, 4)), "RGBA", 16)
    write_png(put("la16.png"), rng.integers(0, 65536, (23, 31, 2)), "LA", 16)
    for depth in (1, 2, 4):
        n = 1 << depth
        write_png(put(f"grey{depth}.png"), rng.integers(0, n, (19, 29)), "L", depth)
        pal = rng.integers(0, 256, (n, 3))
        write_png(put(f"palette{depth}.png"), rng.integers(0, n, (19, 29)), "P", depth,
                  palette=pal)
    write_png(put("grey8_trns.png"), g[:, :, 0], "L", 8, trns=struct.pack(">H", 128))
    write_png(put("rgb_trns.png"), g, "RGB", 8, trns=struct.pack(">HHH", *g[0, 0]))
    # indices past a 5-entry PLTE: PIL's palette is the grey ramp there
    write_png(put("palette_short.png"), rng.integers(0, 256, (9, 11)), "P", 8,
              palette=rng.integers(0, 256, (5, 3)))
    write_png(put("no_iend.png"), g, "RGB", 8, cut_iend=True)
    for w, h in [(1, 1), (2, 3), (5, 1), (1, 9), (9, 11), (33, 17)]:
        a = _gradient(w, h, w * 100 + h)
        write_png(put(f"interlaced_rgb_{w}x{h}.png"), a, "RGB", 8, interlace=True)
    write_png(put("interlaced_grey2.png"), rng.integers(0, 4, (13, 14)), "L", 2,
              interlace=True)
    write_png(put("interlaced_palette4.png"), rng.integers(0, 16, (13, 14)), "P", 4,
              interlace=True, palette=rng.integers(0, 256, (16, 3)))
    write_png(put("interlaced_rgba16.png"), rng.integers(0, 65536, (12, 10, 4)), "RGBA", 16,
              interlace=True)

    # WebP as Pillow writes it (libwebp): lossy and lossless, alpha, odd sizes, grey (saved
    # as RGB), EXIF, animations (the first frame is read; an alpha one's first frame may
    # be stored as a sub-rectangle of the canvas)
    src.save(put("photo_q85.webp"), quality=85)
    Image.fromarray(g).save(put("lossy.webp"), quality=80)
    Image.fromarray(rgba, "RGBA").save(put("lossy_alpha.webp"), quality=70)
    Image.fromarray(g).save(put("lossless.webp"), lossless=True)
    Image.fromarray(rgba, "RGBA").save(put("lossless_alpha.webp"), lossless=True)
    Image.fromarray(_gradient(17, 13, 12)).save(put("odd_17x13.webp"))
    Image.fromarray(_gradient(1, 1, 13)).save(put("one_1x1.webp"))
    Image.fromarray(g).convert("L").save(put("grey.webp"))
    Image.fromarray(g).resize((64, 47)).save(put("exif_orient6.webp"), exif=exif_bytes(6))
    frames = [Image.fromarray(_gradient(40, 30, s)) for s in (14, 15)]
    frames[0].save(put("animated.webp"), save_all=True, append_images=frames[1:],
                   duration=100)
    bordered = np.zeros((30, 40, 4), np.uint8)
    bordered[8:20, 10:31, :3] = _gradient(21, 12, 16)
    bordered[8:20, 10:31, 3] = 255
    frames = [Image.fromarray(bordered, "RGBA"), Image.fromarray(_gradient(40, 30, 17))]
    frames[0].save(put("animated_alpha.webp"), save_all=True, append_images=frames[1:],
                   duration=100, lossless=True)
    if big:
        Image.fromarray(_gradient(5000, 20, 12)).save(put("wide_5000x20.webp"))
        Image.fromarray(_gradient(5000, 20, 8)).save(put("wide_5000x20.jpg"))
        Image.fromarray(_gradient(20, 5000, 9)).save(put("tall_20x5000.jpg"))
        Image.fromarray(_gradient(5000, 20, 10)).save(put("wide_5000x20.png"))
        Image.fromarray(_gradient(20, 5000, 11)).save(put("tall_20x5000.png"))
    return out


def sane_grey16(path):
    """The documented reference for 16-bit grey PNGs: the high byte, as RGB."""
    im = Image.open(path)
    v = np.asarray(im, dtype=np.uint32) >> 8
    return np.repeat(v.astype(np.uint8)[:, :, None], 3, axis=2)


def is_grey16(path):
    with open(path, "rb") as f:
        head = f.read(33)
    return head[:8] == b"\x89PNG\r\n\x1a\n" and head[24] == 16 and head[25] == 0


def jpeg_bytes(im, **kw):
    b = io.BytesIO()
    im.save(b, "JPEG", **kw)
    return b.getvalue()
