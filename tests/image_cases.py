"""image_cases.py — test pictures for the image decoder: real photos shipped by Debian
packages, and synthetic JPEG/PNG/WebP/GIF files covering every layout PIL reads.

PIL writes the JPEGs, WebPs and the common PNGs and GIFs; write_png() below writes what
PIL cannot (16-bit RGB/RGBA/LA, 1/2/4-bit grey and palette, Adam7 interlacing, every
filter type, palettes shorter than the indices used), byte by byte from the PNG
specification, write_gif() the GIF layouts PIL does not write (a frame placed inside or
reaching past the screen, no colour table, indices past the table, extensions and stray
bytes before the image, code sizes 2 to 12) and write_bmp() the BMP ones (OS/2 and V4/V5
headers, 1/4-bit colour, 16-bit, bit fields, top-down rows, RLE8/RLE4, short palettes).
Used by test_prepare_pil.py and fuzz/make_image_seeds.py.
"""
import glob
import io
import os
import struct
import zlib

import numpy as np
from PIL import Image

import jp2_cases
import tiff_cases
from bitpack import pack_bits

# Debian: python3-skimage (skimage/data) and python3-sklearn (sklearn/datasets/images).
PHOTO_GLOBS = [
    "/usr/lib/python3/dist-packages/skimage/data/*.png",
    "/usr/lib/python3/dist-packages/skimage/data/*.jpg",
    "/usr/lib/python3/dist-packages/skimage/data/*.tif",
    "/usr/lib/python3/dist-packages/skimage/data/*.gif",
    "/usr/lib/python3/dist-packages/sklearn/datasets/images/*.jpg",
]
PHOTO_PACKAGES = "python3-skimage python3-sklearn"
# the files PIL refuses, each with the cause r50worker gives
BROKEN_PHOTOS = {"truncated.jpg": "truncated JPEG data",  # skimage's deliberately cut JPEG
                 "multipage_rgb.tif": "RGB pixels, 3 samples of 64-bit floats"}  # float64 RGB planes


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
    return pack_bits(a[:, :, 0], depth)


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

def lzw_literals(indices, code_bits):
    """GIF LZW data (sub-blocks, terminator included) that codes each index as a literal,
    with a clear code before the table would grow the code size: valid, uncompressed."""
    clear, size = 1 << code_bits, code_bits + 1
    codes, run = [clear], 0
    for v in indices:
        if run == max(clear - 2, 1):
            codes.append(clear)
            run = 0
        codes.append(int(v))
        run += 1
    codes.append(clear + 1)
    acc = nbits = 0
    out = bytearray()
    for c in codes:
        acc |= c << nbits
        nbits += size
        while nbits >= 8:
            out.append(acc & 255)
            acc >>= 8
            nbits -= 8
    if nbits:
        out.append(acc & 255)
    blocks = b"".join(bytes([len(out[i:i + 255])]) + bytes(out[i:i + 255])
                      for i in range(0, len(out), 255))
    return bytes([code_bits]) + blocks + b"\0"


def _table(pal):
    """A GIF colour table (padded to a power of two entries) and its size field."""
    bits = max(1, (len(pal) - 1).bit_length())
    return bytes(np.asarray(pal, np.uint8).reshape(-1)) + bytes(3 * ((1 << bits) - len(pal))), \
        bits - 1


def write_gif(path, indices, screen=None, offset=(0, 0), global_pal=None, local_pal=None,
              code_bits=8, transparency=None, interlace=False, before=b"", data=None,
              version=b"GIF89a"):
    """A one-frame GIF of (h, w) indices, byte by byte from the GIF89a specification."""
    h, w = indices.shape
    sw, sh = screen or (w, h)
    flags, gtab = 0, b""
    if global_pal is not None:
        gtab, size = _table(global_pal)
        flags = 0x80 | size
    out = version + struct.pack("<HHBBB", sw, sh, flags, 0, 0) + gtab + before
    if transparency is not None:
        out += b"!\xf9\x04" + struct.pack("<BHB", 1, 0, transparency) + b"\0"
    lflags, ltab = 0, b""
    if local_pal is not None:
        ltab, size = _table(local_pal)
        lflags = 0x80 | size
    rows = list(range(h))
    if interlace:
        lflags |= 0x40
        rows = list(range(0, h, 8)) + list(range(4, h, 8)) + list(range(2, h, 4)) + \
            list(range(1, h, 2))
    out += b"," + struct.pack("<HHHHB", offset[0], offset[1], w, h, lflags) + ltab
    out += data if data is not None else lzw_literals(indices[rows].reshape(-1), code_bits)
    with open(path, "wb") as f:
        f.write(out + b";")


def write_bmp(path, rows, w, bits, palette=None, entry=4, hsize=40, compression=0,
              masks=None, top_down=False, colors=None, offset=None, data=None):
    """A BMP from its rows (bytes each, top row first, unpadded) or, for RLE, `data`,
    byte by byte from Microsoft's BITMAPINFOHEADER family."""
    h = len(rows) if data is None else rows
    stride = ((w * bits + 31) >> 3) & ~3
    if data is None:
        order = rows if top_down else rows[::-1]
        data = b"".join(r + bytes(stride - len(r)) for r in order)
    pal = b""
    if palette is not None:
        pal = b"".join(bytes((b, g, r)) + (b"\0" if entry == 4 else b"")
                       for r, g, b in palette)
    if hsize == 12:
        info = struct.pack("<IHHHH", 12, w, h, 1, bits)
    else:
        info = struct.pack("<IiiHHIIiiII", hsize, w, -h if top_down else h, 1, bits,
                           compression, len(data), 2835, 2835,
                           len(palette) if colors is None and palette is not None
                           else colors or 0, 0)
        extra = b""
        if masks is not None and hsize == 40:
            extra = struct.pack("<III", *masks[:3])
        elif hsize > 40:
            m = list(masks or (0, 0, 0, 0)) + [0] * 4
            info += struct.pack("<IIII", *m[:4])
        info += bytes(hsize - len(info)) + extra
    head_len = 14 + len(info) + len(pal)
    out = b"BM" + struct.pack("<IHHI", head_len + len(data), 0, 0,
                              head_len if offset is None else offset) + info + pal + data
    with open(path, "wb") as f:
        f.write(out)


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


def synthetic_cases(d, photo=None, big=True, refs=None):
    """Writes the synthetic files into d; returns {name: path}. `photo` (a path) gives
    JPEG variants real content; big=False skips the large ones (fuzz seeds); refs, a
    dict, gets {path: RGB array} for the files whose reference is not PIL's."""
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

    # GIF: as Pillow writes it (adaptive palettes, interlaced from 16 rows, grey, two
    # colours, transparency, an animation), then write_gif's layouts
    Image.fromarray(g).convert("P", palette=Image.ADAPTIVE, colors=200).save(put("pil.gif"))
    src.convert("P", palette=Image.ADAPTIVE).save(put("photo.gif"))
    Image.fromarray(g).convert("P", palette=Image.ADAPTIVE, colors=16).save(
        put("pil_flat.gif"), interlace=False)
    Image.fromarray(g).convert("L").save(put("grey.gif"))
    Image.fromarray(g).convert("1").save(put("bilevel.gif"))
    Image.fromarray(g).convert("P", palette=Image.ADAPTIVE, colors=16).save(
        put("pil_trns.gif"), transparency=3)
    Image.fromarray(_gradient(1, 1, 18)).save(put("one_1x1.gif"))
    frames = [Image.fromarray(_gradient(40, 30, s)).convert("P", palette=Image.ADAPTIVE)
              for s in (19, 20)]
    frames[0].save(put("animated.gif"), save_all=True, append_images=frames[1:], duration=80)
    pal = rng.integers(0, 256, (16, 3))
    idx = rng.integers(0, 16, (13, 17))
    write_gif(put("offset.gif"), idx, screen=(30, 25), offset=(5, 7), global_pal=pal,
              code_bits=4)
    write_gif(put("offset_trns.gif"), idx, screen=(30, 25), offset=(5, 7), global_pal=pal,
              code_bits=4, transparency=9)
    write_gif(put("past_screen.gif"), idx, screen=(10, 5), offset=(3, 2), global_pal=pal,
              code_bits=4)
    write_gif(put("local_only.gif"), idx, local_pal=pal, code_bits=4, interlace=True)
    write_gif(put("no_table.gif"), rng.integers(0, 256, (9, 11)), code_bits=8)
    write_gif(put("grey_local.gif"), idx, global_pal=pal, local_pal=[(i, i, i) for i in
                                                                    range(16)], code_bits=4)
    write_gif(put("past_table.gif"), rng.integers(0, 256, (9, 11)), global_pal=pal[:4],
              code_bits=8)
    write_gif(put("code12.gif"), rng.integers(0, 256, (6, 70)), global_pal=rng.integers(
        0, 256, (256, 3)), code_bits=12)
    write_gif(put("code2.gif"), rng.integers(0, 4, (7, 9)), global_pal=pal[:4], code_bits=2)
    for h in (1, 2, 3, 5, 9, 17):
        write_gif(put(f"interlaced_{h}.gif"), rng.integers(0, 16, (h, 6)), global_pal=pal,
                  code_bits=4, interlace=True)
    ext = (b"!\xfe\x05hello\x03abc\0"  # a comment
           b"!\xff\x0bNETSCAPE2.0\x03\x01\x00\x00\0"  # a loop count
           b"!\x01\x0c" + bytes(12) + b"\0"  # plain text
           b"\x00\x07junk")  # stray bytes, skipped
    write_gif(put("extensions.gif"), idx, global_pal=pal, code_bits=4, before=ext,
              version=b"GIF87a")

    # BMP: as Pillow writes it (1-bit, grey, palette, 24-bit, 32-bit), then write_bmp's
    for mode in ("1", "L", "P", "RGB", "RGBA"):
        im = Image.fromarray(g)
        im = im.convert("P", palette=Image.ADAPTIVE, colors=50) if mode == "P" else \
            im.convert(mode)
        im.save(put(f"pil_{mode.lower()}.bmp"))
    src.save(put("photo.bmp"))
    src.save(put("photo.tif"))
    src.save(put("photo_lzw.tif"), compression="tiff_lzw")
    src.save(put("photo.jp2"))  # lossless
    src.save(put("photo.j2k"), quality_mode="dB", quality_layers=[38], irreversible=True)
    w7 = rng.integers(0, 256, (5, 7, 3)).astype(np.uint8)
    bgr = [bytes(r[:, ::-1].reshape(-1)) for r in w7]
    bgrx = [bytes(np.hstack([r[:, ::-1], np.full((7, 1), 9, np.uint8)]).reshape(-1))
            for r in w7]
    pal16 = [tuple(int(v) for v in c) for c in rng.integers(0, 256, (16, 3))]
    i4 = rng.integers(0, 16, (6, 9))
    write_bmp(put("os2_24.bmp"), bgr, 7, 24, hsize=12)
    write_bmp(put("os2_4.bmp"), pack_bits(i4, 4), 9, 4, palette=pal16, entry=3, hsize=12)
    write_bmp(put("top_down_24.bmp"), bgr, 7, 24, top_down=True)
    write_bmp(put("bgrx_32.bmp"), bgrx, 7, 32)
    write_bmp(put("pal4.bmp"), pack_bits(i4, 4), 9, 4, palette=pal16)
    write_bmp(put("pal4_short.bmp"), pack_bits(i4, 4), 9, 4, palette=pal16[:5])
    write_bmp(put("pal4_colors0.bmp"), pack_bits(i4, 4), 9, 4, palette=pal16, colors=0)
    write_bmp(put("pal1.bmp"), pack_bits(rng.integers(0, 2, (5, 11)), 1), 11, 1,
              palette=[(200, 10, 10), (10, 10, 200)])
    write_bmp(put("grey8_ramp.bmp"), pack_bits(rng.integers(0, 256, (4, 6)), 8), 6, 8,
              palette=[(i, i, i) for i in range(256)])
    write_bmp(put("grey4_ramp_narrow.bmp"), pack_bits(i4[:, :2], 4), 2, 4,
              palette=[(i, i, i) for i in range(16)])  # Pillow reads the bytes as grey
    write_bmp(put("pal8_offset_at_header.bmp"), pack_bits(i4, 8), 9, 8, palette=pal16,
              offset=14 + 40)  # Pillow skips 4 * colours bytes: the palette
    v16 = rng.integers(0, 65536, (4, 5))
    rows16 = [bytes(r.astype("<u2").tobytes()) for r in v16]
    write_bmp(put("rgb555.bmp"), rows16, 5, 16)
    write_bmp(put("rgb565_fields.bmp"), rows16, 5, 16, compression=3,
              masks=(0xF800, 0x7E0, 0x1F))
    write_bmp(put("rgb555_fields.bmp"), rows16, 5, 16, compression=3,
              masks=(0x7C00, 0x3E0, 0x1F))
    write_bmp(put("bgr_fields_24.bmp"), bgr, 7, 24, compression=3,
              masks=(0xFF0000, 0xFF00, 0xFF))
    for k, m in enumerate([(0xFF0000, 0xFF00, 0xFF, 0), (0xFF000000, 0xFF0000, 0xFF00, 0),
                           (0xFF000000, 0xFF0000, 0xFF00, 0xFF),
                           (0xFF, 0xFF00, 0xFF0000, 0xFF000000),
                           (0xFF0000, 0xFF00, 0xFF, 0xFF000000)]):
        write_bmp(put(f"fields32_{k}_v5.bmp"), bgrx, 7, 32, compression=3, masks=m,
                  hsize=124 if k % 2 else 108)
    write_bmp(put("fields32_v3.bmp"), bgrx, 7, 32, compression=3,
              masks=(0xFF0000, 0xFF00, 0xFF))
    # RLE8: runs (one past the row's end, cut), literals (odd: padded), end of line,
    # end of bitmap; RLE4 likewise
    rle8 = bytes([3, 5, 0, 3, 7, 8, 9, 0, 2, 1, 0, 0,   # row: 5 5 5 7 8 9 | 1 1 (cut)
                  9, 4, 0, 0,                          # 4 x 7 (cut at 7)
                  0, 4, 1, 2, 3, 4, 3, 6, 0, 0,        # literal 1 2 3 4, run 6 6 6
                  7, 11, 0, 1])
    write_bmp(put("rle8.bmp"), 4, 7, 8, palette=pal16, compression=1, data=rle8)
    rle4 = bytes([5, 0x12, 0, 4, 0x34, 0x56, 0, 0,     # 1 2 1 2 1, literal 3 4 5 6 (cut)
                  0, 6, 0x78, 0x9A, 0xBC, 0, 0, 0,     # literal 7 8 9 A B C, end of line
                  9, 0xDE, 0, 0,                       # D E D E D E (cut at 6)
                  0, 1])
    write_bmp(put("rle4.bmp"), 3, 6, 4, palette=pal16, compression=2, data=rle4)

    # PNM: as Pillow writes it (P4, P5, P6, and P5 at maxval 65535), then by hand: the
    # plain P1-P3 (comments, a comment inside a token, halves that round to even, int()),
    # binary samples at maxval 7 and 1000, data past the last pixel
    for mode, ext in (("1", "pbm"), ("L", "pgm"), ("RGB", "ppm")):
        Image.fromarray(g).convert(mode).save(put(f"pil_{mode.lower()}.{ext}"))
    Image.fromarray((g[:, :, 0].astype(np.int32) * 257 + 3)).save(put("pil_i16.pgm"))
    pnm = {
        "plain_bits.pbm": b"P1\n# a comment\n5 2\n01010\n1 0 1 1 0\n",
        "plain_grey.pgm": b"P2\n3 2\n15\n0 1 2\n15 14 7\n",
        "plain_rgb.ppm": b"P3 2 2 100 0 50 100 10 30 70 99 98 97 33 66 100\n",
        "plain_comments.ppm": b"P3\n#c1\n2 1#c2\n 10\n1 2 3 4 1#x\n0 7\n",  # 1#x\n0: 10
        # tokens as Python's int() reads them: signs, underscores, zeros, negative
        # samples (kept to 8 bits by Pillow's o8: -1 at maxval 10 is 230)
        "int_tokens.pgm": b"P2 +3 1 1_0 +3 1_0 0000000001\n",
        "int_header.pgm": b"P5 +1 0_1 +25_5\n\x07",
        "negative.pgm": b"P2 4 1 10 -1 -0 -5 -11\n",
        "int_rgb.ppm": b"P3 1 1 255 +1_0_0 -20_0 0_0\n",
        "maxval7.pgm": b"P5 3 2 7\n" + bytes([0, 1, 2, 3, 7, 6]),
        "maxval1000.ppm": b"P6 2 1 1000\n" + struct.pack(">6H", 0, 1, 500, 999, 1000, 2),
        "header_comment.ppm": b"P6\n# made by a camera\n2 1\n255\n" + bytes(range(6)) +
        b"trailing",
    }
    for name, data in pnm.items():
        with open(put(name), "wb") as f:
            f.write(data)
    own_refs = tiff_cases.synthetic_tiffs(d, src, put)
    own_refs.update(jp2_cases.synthetic_jp2s(d, src, put))
    if refs is not None:
        refs.update({out[n]: a for n, a in own_refs.items() if a is not None})
    if big:
        Image.fromarray(_gradient(5000, 20, 13)).save(put("wide_5000x20.tif"),
                                                      compression="tiff_adobe_deflate")
        Image.fromarray(_gradient(5000, 20, 12)).save(put("wide_5000x20.webp"))
        Image.fromarray(_gradient(20, 5000, 14)).save(put("tall_20x5000.jp2"))
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


def is_wide_pgm(path):
    """A PGM of maxval 65535 (Pillow: mode I, saturated by convert('RGB'))."""
    with open(path, "rb") as f:
        head = f.read(2)
    return head in (b"P2", b"P5") and Image.open(path).mode == "I" and \
        b"65535" in open(path, "rb").read(64)


def sane_wide_pgm(path):
    """The documented reference for PGMs of maxval 65535: round(v / 65535 * 255)."""
    v = np.asarray(Image.open(path), dtype=np.float64)
    return np.repeat(np.rint(v / 65535 * 255).astype(np.uint8)[:, :, None], 3, axis=2)


def jpeg_bytes(im, **kw):
    b = io.BytesIO()
    im.save(b, "JPEG", **kw)
    return b.getvalue()
