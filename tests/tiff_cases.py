"""TIFF test files: as Pillow writes them (through libtiff: every compression), as
tifffile writes them (tiles, planes, associated alpha, 16 and 32 bits, big-endian,
orientation) and by hand (2- and 4-bit samples, FillOrder 2, small palettes, several
strips), with the reference each must decode to where Pillow 9.4 is deliberately not
followed (see src/data/image_tiff.c)."""
import struct
import zlib

import numpy as np
import tifffile
from PIL import Image

from bitpack import pack_bits, reverse_bits

SHORT, LONG = 3, 4


def write_tiff(path, w, h, bps, spp, photometric, strips, extra=None, be=False,
               rows_per_strip=None):
    """A baseline uncompressed TIFF by hand: `strips` (bytes each, already packed) and
    IFD0 with the usual tags plus `extra` {tag: (type, [values])}."""
    e = ">" if be else "<"
    tags = {256: (LONG, [w]), 257: (LONG, [h]), 258: (SHORT, [bps] * spp),
            259: (SHORT, [1]), 262: (SHORT, [photometric]), 277: (SHORT, [spp]),
            278: (LONG, [rows_per_strip or h])}
    tags.update(extra or {})
    data = b"".join(strips)
    offsets, at = [], 8
    for s in strips:
        offsets.append(at)
        at += len(s)
    tags[273] = (LONG, offsets)
    tags[279] = (LONG, [len(s) for s in strips])
    ifd_at = 8 + len(data) + (len(data) & 1)
    values_at = ifd_at + 2 + 12 * len(tags) + 4
    entries, values = b"", b""
    for tag in sorted(tags):
        kind, vals = tags[tag]
        packed = struct.pack(e + ("H" if kind == SHORT else "I") * len(vals), *vals)
        if len(packed) <= 4:
            field = packed.ljust(4, b"\0")
        else:
            field = struct.pack(e + "I", values_at + len(values))
            values += packed + b"\0" * (len(packed) & 1)
        entries += struct.pack(e + "HHI", tag, kind, len(vals)) + field
    head = (b"MM\0*" if be else b"II*\0") + struct.pack(e + "I", ifd_at)
    with open(path, "wb") as f:
        f.write(head + data + b"\0" * (len(data) & 1) + struct.pack(e + "H", len(tags)) +
                entries + b"\0\0\0\0" + values)


def pack_rows(a, bits, reverse=False):
    """Rows of a (h, w) array of small values packed MSB first, each row to whole
    bytes; reverse: FillOrder 2 (each byte's bits reversed)."""
    out = b"".join(pack_bits(a, bits))
    return reverse_bits(out) if reverse else out


def synthetic_tiffs(d, src, put):
    """Writes the TIFF cases into d; returns {name: reference RGB array or None} —
    None: compare with PIL's convert('RGB')."""
    ref = {}
    rng = np.random.default_rng(21)
    small = src.resize((37, 23))
    rgb = np.asarray(small)
    for comp in ("raw", "tiff_lzw", "tiff_adobe_deflate", "packbits", "jpeg", "lzma",
                 "zstd", "webp"):
        small.save(put(f"rgb_{comp}.tif"), compression=comp)
    small.convert("YCbCr").save(put("ycbcr_jpeg.tif"), compression="jpeg")
    small.convert("YCbCr").save(put("ycbcr_lzw.tif"), compression="tiff_lzw")
    small.convert("L").save(put("grey_lzw.tif"), compression="tiff_lzw")
    small.convert("1").save(put("bits_group4.tif"), compression="group4")
    small.convert("1").save(put("bits_raw.tif"))
    small.convert("P", palette=Image.ADAPTIVE, colors=50).save(put("pal_deflate.tif"),
                                                              compression="tiff_adobe_deflate")
    small.convert("LA").save(put("la.tif"))
    small.convert("RGBA").save(put("rgba_lzw.tif"), compression="tiff_lzw")
    small.convert("CMYK").save(put("cmyk_pil.tif"))
    small.save(put("multipage.tif"), save_all=True,
               append_images=[small.transpose(Image.Transpose.ROTATE_180)])
    grey = np.asarray(small.convert("L")).astype(np.int32)
    Image.fromarray(grey * 200 - 9000).save(put("int32.tif"))
    Image.fromarray((grey - 60).astype(np.float32) * 1.37).save(put("float32.tif"))

    # tifffile: layouts Pillow does not write
    g16 = (grey * 257 + rng.integers(0, 257, grey.shape)).astype(np.uint16)
    for be in ("<", ">"):
        tag = "be" if be == ">" else "le"
        tifffile.imwrite(put(f"grey16_{tag}.tif"), g16, byteorder=be)
        ref[f"grey16_{tag}.tif"] = np.repeat((g16 >> 8).astype(np.uint8)[..., None], 3, 2)
        rgb16 = rgb.astype(np.uint16) * 257 + 100
        tifffile.imwrite(put(f"rgb16_{tag}.tif"), rgb16, byteorder=be, photometric="rgb")
    tifffile.imwrite(put("grey16_zlib_predictor.tif"), g16, compression="zlib",
                     predictor=True)
    ref["grey16_zlib_predictor.tif"] = ref["grey16_le.tif"]
    tifffile.imwrite(put("rgb_zlib_predictor.tif"), rgb, photometric="rgb",
                     compression="zlib", predictor=True)
    tifffile.imwrite(put("int16.tif"), (grey - 100).astype(np.int16))
    f = (grey.astype(np.float32) - 20.5)
    f[0, :5] = [np.nan, np.inf, -np.inf, 254.99, 255.0]
    tifffile.imwrite(put("float32_nan.tif"), f)
    tifffile.imwrite(put("grey_miniswhite.tif"), grey.astype(np.uint8),
                     photometric="miniswhite")
    for planar, comp in (("separate", None), ("separate", "zlib")):
        n = f"rgb_{planar}_{comp or 'raw'}.tif"
        tifffile.imwrite(put(n), rgb.transpose(2, 0, 1), photometric="rgb", planarconfig=planar,
                         compression=comp, rowsperstrip=5)
        ref[n] = rgb  # Pillow 9.4 misplaces or refuses the planes
    big = np.asarray(src.resize((53, 41)))
    tifffile.imwrite(put("tiled.tif"), big, photometric="rgb", tile=(16, 16))
    tifffile.imwrite(put("tiled_zlib.tif"), big, photometric="rgb", tile=(16, 32),
                     compression="zlib")
    tifffile.imwrite(put("tiled_separate.tif"), big.transpose(2, 0, 1), photometric="rgb",
                     tile=(16, 16),
                     planarconfig="separate")
    ref["tiled_separate.tif"] = big
    alpha = rng.integers(0, 256, grey.shape).astype(np.uint8)
    alpha[0, :3] = [0, 255, 1]
    premul = (rgb.astype(np.uint16) * alpha[..., None] // 255).astype(np.uint8)
    tifffile.imwrite(put("rgba_assoc.tif"), np.dstack([premul, alpha]), photometric="rgb",
                     extrasamples=["assocalpha"])
    tifffile.imwrite(put("rgba_unassoc.tif"), np.dstack([rgb, alpha]), photometric="rgb",
                     extrasamples=["unassalpha"])
    tifffile.imwrite(put("rgba16_assoc.tif"),
                     np.dstack([premul, alpha]).astype(np.uint16) * 257, photometric="rgb",
                     extrasamples=["assocalpha"])
    tifffile.imwrite(put("rgbx.tif"), np.dstack([rgb, alpha]), photometric="rgb",
                     extrasamples=["unspecified"])
    cmap = rng.integers(0, 65536, (3, 256)).astype(np.uint16)
    tifffile.imwrite(put("pal8_tifffile.tif"), rng.integers(0, 256, grey.shape, np.uint8),
                     photometric="palette", colormap=cmap)
    cmyk = np.asarray(small.convert("CMYK"))
    tifffile.imwrite(put("cmyk_extra.tif"), np.dstack([cmyk, alpha]),
                     photometric="separated", extrasamples=["unspecified"])
    for o in range(1, 9):
        tifffile.imwrite(put(f"orient{o}.tif"), rgb[:7, :11], photometric="rgb",
                         extratags=[(274, "H", 1, o, True)])

    # by hand: sub-byte samples, FillOrder 2, small palettes, strips, big-endian
    h, w = 5, 13
    for bits in (2, 4):
        v = rng.integers(0, 1 << bits, (h, w))
        for photo, pname in ((0, "miniswhite"), (1, "minisblack")):
            write_tiff(put(f"grey{bits}_{pname}.tif"), w, h, bits, 1, photo,
                       [pack_rows(v, bits)])
        cm = rng.integers(0, 65536, 3 << bits).tolist()
        write_tiff(put(f"pal{bits}.tif"), w, h, bits, 1, 3, [pack_rows(v, bits)],
                   {320: (SHORT, cm)})
    v1 = rng.integers(0, 2, (h, w))
    write_tiff(put("bits_fillorder2_miniswhite.tif"), w, h, 1, 1, 0,
               [pack_rows(v1, 1, reverse=True)], {266: (SHORT, [2])})
    write_tiff(put("pal1.tif"), w, h, 1, 1, 3, [pack_rows(v1, 1)],
               {320: (SHORT, [65535, 0, 30000, 200, 65535, 40000])})
    g12 = rng.integers(0, 4096, (h, w))  # a camera's or a scanner's 12-bit grey
    g12[0, :4] = (4095, 4094, 16, 15)
    write_tiff(put("grey12.tif"), w, h, 12, 1, 1, [pack_rows(g12, 12)])
    half = (h + 1) // 2  # Deflate, two strips
    write_tiff(put("grey12_deflate.tif"), w, h, 12, 1, 1,
               [zlib.compress(pack_rows(g12[i:i + half], 12)) for i in (0, half)],
               {259: (SHORT, [8])}, rows_per_strip=half)
    for name in ("grey12.tif", "grey12_deflate.tif"):
        ref[name] = np.repeat((g12 >> 4).astype(np.uint8)[..., None], 3, 2)
    rows = rgb[:7, :9]
    write_tiff(put("rgb_strips_be.tif"), 9, 7, 8, 3, 2,
               [rows[i:i + 3].tobytes() for i in range(0, 7, 3)], be=True,
               rows_per_strip=3)
    return ref


def damaged_tiffs(put, photo_tif, photo_lzw, tmp):
    """Damaged and refused TIFFs: put(name, bytes, must_fail, cause) for each, must_fail
    None where PIL's answer (read or fail) is the one to equal, "refused" where PIL
    reads what r50worker deliberately does not."""
    raw = open(photo_tif, "rb").read()  # Pillow's: IFD first, then one strip
    lzw = open(photo_lzw, "rb").read()  # Pillow's through libtiff: strips, then IFD
    for frac in (0.001, 0.1, 0.5, 0.9, 0.999):
        put(f"cut{frac}.tif", raw[:int(len(raw) * frac)], True, "")
        put(f"cut{frac}_lzw.tif", lzw[:int(len(lzw) * frac)], frac < 0.99 or None, "")
    put("cut_mid.tif", raw[:len(raw) // 2], True, "truncated TIFF data (strip ")
    put("cut_mid_lzw.tif", lzw[:len(lzw) // 2], True, "corrupt TIFF data")  # its IFD gone
    bad = bytearray(raw)
    bad[4:8] = struct.pack("<I", len(raw) + 100)
    put("ifd_past_end.tif", bytes(bad), True, "corrupt TIFF data")
    scrambled = bytearray(lzw)
    mid = len(lzw) // 3
    scrambled[mid:mid + 64] = bytes(64 * [0xFF])
    put("lzw_scrambled.tif", bytes(scrambled), None, "")
    p = f"{tmp}/scratch.bin"
    write_tiff(p, 40000, 40000, 8, 3, 2, [b"\0" * 12])
    put("huge.tif", open(p, "rb").read(), True, "40000x40000 = 1600000000 pixels exceeds")
    write_tiff(p, 4, 2, 3, 1, 1, [b"\0" * 4])  # 3-bit grey: neither reads it
    put("grey3.tif", open(p, "rb").read(), True, "TIFF layout not supported: grey "
        "pixels, 1 sample of 3-bit unsigned integers (photometric 1")
    write_tiff(p, 4, 2, 12, 1, 0, [b"\0" * 12])  # 12-bit MinIsWhite: neither reads it
    put("grey12_miniswhite.tif", open(p, "rb").read(), True, "TIFF layout not supported: "
        "grey (MinIsWhite) pixels, 1 sample of 12-bit unsigned integers (photometric 0")
    write_tiff(p, 4, 2, 8, 3, 6, [b"\0" * 24])  # uncompressed YCbCr: PIL misreads it
    put("ycbcr_raw.tif", open(p, "rb").read(), "refused", "uncompressed YCbCr")
