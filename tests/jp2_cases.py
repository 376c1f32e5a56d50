"""JPEG 2000 test files: as Pillow writes them (JP2 and bare J2K codestreams; grey, grey
+ alpha, RGB, RGBA; tiles, lossy, the multi-component transform, signed samples,
resolution-first progression, several quality layers) and as OpenJPEG's opj_compress
writes them from raw samples (1 to 16 bits, signed and unsigned, 2 and 4 components,
tiles, precincts), with the reference each must decode to where Pillow 9.4 is
deliberately not followed (see src/data/image_jp2.c): samples of more than 8 bits
whose rounding would carry past 255 (Pillow wraps them to 0) and grey of 10 bits or
more (Pillow saturates it)."""
import os
import shutil
import subprocess

import numpy as np
from PIL import Image

H, W = 23, 37


def opj_compress():
    tool = shutil.which("opj_compress")
    if not tool:
        raise RuntimeError("opj_compress missing: install libopenjp2-tools "
                           "(scripts/setup.sh does)")
    return tool


def to8(planes, bits, signed):
    """The documented reference: each sample (+ 2^(bits-1) when signed) to 8 bits by
    Pillow's rounded shift, kept at 255 at the top; grey replicated."""
    out = []
    for v in planes:
        v = v.astype(np.int64) + ((1 << (bits - 1)) if signed else 0)
        v = v << (8 - bits) if bits <= 8 else (v + (1 << (bits - 9))) >> (bits - 8)
        out.append(np.minimum(v, 255).astype(np.uint8))
    if len(out) < 3:
        out = [out[0]] * 3
    return np.dstack(out[:3])


def write_raw(path, planes, bits, signed, extra=(), sub=None):
    """opj_compress from raw samples (planar, big-endian above 8 bits)."""
    data = b""
    for a in planes:
        if bits > 8:
            data += a.astype(">i2" if signed else ">u2").tobytes()
        else:
            data += a.astype(np.int8 if signed else np.uint8).tobytes()
    raw = path + ".raw"
    with open(raw, "wb") as f:
        f.write(data)
    h, w = planes[0].shape
    fmt = f"{w},{h},{len(planes)},{bits},{'s' if signed else 'u'}"
    if sub:
        fmt += "@" + sub
    subprocess.run([opj_compress(), "-i", raw, "-o", path, "-F", fmt, "-n", "3", *extra],
                   check=True, capture_output=True)
    os.remove(raw)


def write_pnm(path, planes, bits):
    """opj_compress from a PGM/PPM of maxval 2^bits - 1: a precision raw input lacks."""
    top = (1 << bits) - 1
    a = planes[0] if len(planes) == 1 else np.dstack(planes)
    head = b"P5" if len(planes) == 1 else b"P6"
    pnm = path + ".pnm"
    with open(pnm, "wb") as f:
        f.write(head + f"\n{W} {H}\n{top}\n".encode() +
                a.astype(">u2" if top > 255 else np.uint8).tobytes())
    subprocess.run([opj_compress(), "-i", pnm, "-o", path, "-n", "3"], check=True,
                   capture_output=True)
    os.remove(pnm)


def synthetic_jp2s(d, src, put):
    """Writes the JPEG 2000 cases into d; returns {name: reference RGB array or None} —
    None: compare with PIL's convert('RGB')."""
    ref = {}
    rng = np.random.default_rng(2000)
    small = src.resize((W, H))
    for name, im, kw in [
            ("rgb.jp2", small, {}), ("rgb.j2k", small, {}),
            ("grey.jp2", small.convert("L"), {}), ("grey_alpha.jp2", small.convert("LA"), {}),
            ("rgba.jp2", small.convert("RGBA"), {}),
            ("tiles.jp2", small, dict(tile_size=(32, 32), num_resolutions=3)),
            ("lossy.jp2", small, dict(quality_mode="rates", quality_layers=[20],
                                      irreversible=True)),
            ("layers.j2k", small, dict(quality_mode="dB", quality_layers=[30, 40, 50])),
            ("mct.jp2", small, dict(mct=1)), ("signed.jp2", small, dict(signed=True)),
            ("rpcl.jp2", small, dict(num_resolutions=3, progression="RPCL"))]:
        im.save(put(name), **kw)
        ref[name] = None
    grey16 = np.asarray(small.convert("L")).astype(np.uint16) * 257
    for name in ("grey16_pil.jp2", "grey16_pil.j2k"):
        Image.fromarray(grey16).save(put(name))
        ref[name] = to8([grey16], 16, False)
    for bits in (12, 16):
        top = (1 << bits) - 1
        planes = [rng.integers(0, top + 1, (H, W)) for _ in range(3)]
        for p in planes:  # the top values, which Pillow's rounding wraps to black
            p[0, :5], p[1, :5] = top, top - (1 << (bits - 9))
        write_raw(put(f"rgb{bits}.jp2"), planes, bits, False)
        ref[f"rgb{bits}.jp2"] = to8(planes, bits, False)
        write_raw(put(f"grey{bits}.j2k"), planes[:1], bits, False)
        ref[f"grey{bits}.j2k"] = to8(planes[:1], bits, False)
        low = [p // 2 for p in planes]  # no top values: Pillow's own answer
        write_raw(put(f"rgb{bits}_low.jp2"), low, bits, False)
        ref[f"rgb{bits}_low.jp2"] = None
    for bits in (1, 4, 9):
        top = (1 << bits) - 1
        planes = [rng.integers(0, top + 1, (H, W)) for _ in range(3)]
        write_pnm(put(f"rgb{bits}.jp2"), planes, bits)
        write_pnm(put(f"grey{bits}.jp2"), planes[:1], bits)
        ref[f"rgb{bits}.jp2"] = to8(planes, bits, False) if bits == 9 else None
        ref[f"grey{bits}.jp2"] = to8(planes[:1], bits, False) if bits == 9 else None
    for bits in (8, 12):
        lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
        planes = [rng.integers(lo, hi + 1, (H, W)) for _ in range(3)]
        for p in planes:
            p[0, :3], p[1, :3] = hi, lo
        write_raw(put(f"signed_rgb{bits}.jp2"), planes, bits, True)
        ref[f"signed_rgb{bits}.jp2"] = to8(planes, bits, True)
        write_raw(put(f"signed_grey{bits}.jp2"), planes[:1], bits, True)
        ref[f"signed_grey{bits}.jp2"] = to8(planes[:1], bits, True)
    planes = [rng.integers(0, 256, (H, W)) for _ in range(4)]
    write_raw(put("four.jp2"), planes, 8, False)  # sRGB + a fourth (alpha) component
    write_raw(put("two.j2k"), planes[:2], 8, False)  # grey + alpha
    write_raw(put("tiles16.j2k"), planes[:3], 8, False, extra=("-t", "16,16"))
    write_raw(put("precincts.jp2"), planes[:3], 8, False,
              extra=("-c", "[16,16],[16,16],[16,16]", "-b", "8,8"))
    for name in ("four.jp2", "two.j2k", "tiles16.j2k", "precincts.jp2"):
        ref[name] = None
    return ref


def damaged_jp2s(put, photo_jp2, photo_j2k, tmp):
    """Damaged and refused JPEG 2000 files: put(name, bytes, must_fail, cause) for each
    (must_fail None where PIL's answer is the one to equal, "refused" where PIL reads what
    r50worker deliberately does not: subsampled components, which Pillow upsamples and
    takes for YCbCr). A colr box saying sYCC, CMYK, grey or an unknown space over 3
    components changes nothing, in PIL (OpenJPEG 2.5 reports no colour space before
    decoding) as here."""
    jp2 = open(photo_jp2, "rb").read()
    j2k = open(photo_j2k, "rb").read()
    for frac in (0.002, 0.01, 0.05, 0.3, 0.6, 0.9, 0.999):
        put(f"cut{frac}.jp2", jp2[:int(len(jp2) * frac)], True, "")
        put(f"cut{frac}.j2k", j2k[:int(len(j2k) * frac)], True, "")
    put("cut_mid.jp2", jp2[:len(jp2) // 2], True, "truncated JPEG 2000 data")
    put("no_eoc.j2k", j2k[:-2], True, "truncated JPEG 2000 data")
    bad = bytearray(j2k)  # SIZ's component count (Csiz) of 0
    siz = bad.find(b"\xff\x51")
    bad[siz + 38:siz + 40] = b"\0\0"
    put("no_components.j2k", bytes(bad), True, "corrupt JPEG 2000 data (its header")
    huge = bytearray(j2k)  # Xsiz, Ysiz of 40000 x 40000
    huge[siz + 6:siz + 14] = (40000).to_bytes(4, "big") * 2
    put("huge.j2k", bytes(huge), True, "40000x40000 = 1600000000 pixels exceeds")
    colr = jp2.find(b"colr") + 4  # METH PREC APPROX EnumCS: sRGB (16) as another space
    for enumcs, space in ((18, "sycc"), (12, "cmyk"), (17, "grey"), (99, "unknown")):
        put(f"colr_{space}.jp2", jp2[:colr + 3] + enumcs.to_bytes(4, "big") + jp2[colr + 7:],
            None, "")
    rng = np.random.default_rng(5)
    five = os.path.join(tmp, "five.jp2")
    write_raw(five, [rng.integers(0, 256, (H, W)) for _ in range(5)], 8, False)
    put("five.jp2", open(five, "rb").read(), True, "5 components not supported")
    sub = os.path.join(tmp, "sub.jp2")  # 4:2:0 chroma, as video frames store it
    planes = [rng.integers(0, 256, (H, W))] + [rng.integers(0, 256, ((H + 1) // 2,
                                                                      (W + 1) // 2))] * 2
    write_raw(sub, planes, 8, False, sub="1x1:2x2:2x2")
    put("subsampled.jp2", open(sub, "rb").read(), "refused", "subsampled components")
