#!/usr/bin/python3
"""test_heif.py — HEIF (HEIC) and AVIF decoding through image_tool, on files made by
libheif's own encoder (heif-enc: x265 for HEIC, aom for AVIF) from real photos:

  * lossless HEIC and AVIF (4:4:4, identity matrix) decode to the source photo's RGB
    within 1 (the encoder's colour conversion), so rows, columns and channels are in
    place and nothing is cropped or padded;
  * lossy HEIC and AVIF, odd sizes, alpha (dropped, never composited, as Pillow's
    convert('RGB') does), 10-bit monochrome: exactly the pixels libheif's own
    heif-convert writes (its PNG read back, alpha dropped);
  * damaged files fail with the file's name and the cause: cut at several points
    ("truncated HEIF data" / "truncated AVIF data"), a HEIF header with nothing after
    it ("corrupt HEIF data"), a grid whose data lies past the end of its idat box
    (refused before libheif reads the boxes after it as the canvas size), more pixels
    than --max-pixels (refused from the header);
  * HEIF's own transformations (irot, imir: what a phone writes for a photo taken
    sideways) are applied, in the order of their associations: irot's angle
    anticlockwise, imir as libheif reads it (axis 0 flips top to bottom) — against
    numpy's rotations and flips of the same file without them, and against
    heif-convert;
  * --exif-rotate turns nothing: an EXIF orientation beside those transformations is
    not applied a second time.

Usage: test_heif.py IMAGE_TOOL
"""
import os
import shutil
import sys
import tempfile

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import decode_tool as D  # noqa: E402
import jobutil as J  # noqa: E402
import heif_cases as H  # noqa: E402
import photos  # noqa: E402

TOOL = os.path.abspath(sys.argv[1])


def decode(*files, opts=()):
    return D.decode(TOOL, *files, opts=opts)


def boxes(data, start, end):
    """(type, payload start, payload end) of the boxes in data[start:end]."""
    out = []
    while start + 8 <= end:
        size = int.from_bytes(data[start:start + 4], "big")
        if size < 8 or start + size > end:
            break
        out.append((data[start + 4:start + 8].decode("latin-1"), start + 8, start + size))
        start += size
    return out


def iloc_items(b):
    """The items of an iloc box's payload b (versions 0 to 2): for each, its construction
    method (0: file offsets, 1: in idat), where its base offset lies in b and its size
    in bytes (0: none), and where each extent's offset lies in b and their size."""
    v = b[0]
    off, length, base, index = b[4] >> 4, b[4] & 15, b[5] >> 4, (b[5] & 15) if v else 0
    count_size = 4 if v == 2 else 2
    p = 6 + count_size
    for _ in range(int.from_bytes(b[6:6 + count_size], "big")):
        p += 4 if v == 2 else 2  # item_ID
        method = 0
        if v:
            method = int.from_bytes(b[p:p + 2], "big") & 15
            p += 2
        p += 2  # data_reference_index
        base_at = p
        p += base
        extents = []
        for _ in range(int.from_bytes(b[p:p + 2], "big")):
            extents.append(p + 2 + index)
            p += index + off + length
        p += 2
        yield method, base_at, base, extents, off


def grid_past_idat(data):
    """data with its grid item's idat extent moved 7 bytes on, past the end of idat (as
    the fuzzer's 757-byte HEIC that made libde265 allocate 2.4 GB had it); None when data
    has no grid in idat. iloc version 1, as heif-enc writes it."""
    meta = [b for b in boxes(data, 0, len(data)) if b[0] == "meta"][0]
    kids = {t: (a, z) for t, a, z in boxes(data, meta[1] + 4, meta[2])}
    if "idat" not in kids or "iloc" not in kids:
        return None
    a, z = kids["iloc"]
    if data[a] != 1:
        return None
    out = bytearray(data)
    for method, base_at, base, _, _ in iloc_items(data[a:z]):
        if method == 1 and base == 4:
            v = int.from_bytes(data[a + base_at:a + base_at + 4], "big") + 7
            out[a + base_at:a + base_at + 4] = v.to_bytes(4, "big")
            return bytes(out)
    return None


def box(kind, payload):
    return (8 + len(payload)).to_bytes(4, "big") + kind.encode() + payload


def with_transforms(data, props):
    """data (a single-image HEIF as heif-enc writes it: meta before mdat) with the
    transformative properties props, [(kind, byte)] such as ("irot", 1), appended to
    ipco and associated with the primary item in that order (HEIF applies them in the
    order of its associations), every file offset in iloc moved by the bytes added."""
    top = boxes(data, 0, len(data))
    meta = [b for b in top if b[0] == "meta"][0]
    pitm = {t: (a, z) for t, a, z in boxes(data, meta[1] + 4, meta[2])}["pitm"]
    primary = int.from_bytes(data[pitm[0] + 4:pitm[0] + 6], "big")  # version 0
    kids = []
    for kind, a, z in boxes(data, meta[1] + 4, meta[2]):
        body = data[a:z]
        if kind == "iprp":
            parts = []
            for k2, a2, z2 in boxes(data, a, z):
                b2 = data[a2:z2]
                if k2 == "ipco":
                    first = len(boxes(data, a2, z2)) + 1  # 1-based property indices
                    b2 += b"".join(box(k, bytes([v])) for k, v in props)
                elif k2 == "ipma":
                    version, flags = b2[0], b2[3]
                    idsz, asz = (4 if version else 2), (2 if flags & 1 else 1)
                    p, out = 8, bytearray(b2[:8])
                    for _ in range(int.from_bytes(b2[4:8], "big")):
                        item = int.from_bytes(b2[p:p + idsz], "big")
                        n = b2[p + idsz]
                        assoc = b2[p + idsz + 1:p + idsz + 1 + n * asz]
                        if item == primary:
                            assoc += b"".join((0x8000 | (first + i)).to_bytes(asz, "big")
                                              if asz == 2 else bytes([0x80 | (first + i)])
                                              for i in range(len(props)))
                            n += len(props)
                        out += b2[p:p + idsz] + bytes([n]) + assoc
                        p += idsz + 1 + b2[p + idsz] * asz
                    b2 = bytes(out)
                parts.append(box(k2, b2))
            body = b"".join(parts)
        kids.append([kind, bytearray(body)])
    delta = sum(len(b) + 8 for _, b in kids) + 4 - (meta[2] - meta[1])
    for kind, b in kids:  # iloc: file offsets (construction method 0) move by delta
        if kind != "iloc":
            continue
        for method, base_at, base, extents, off in iloc_items(bytes(b)):
            if method != 0:
                continue
            for at, size in [(base_at, base)] if base else [(e, off) for e in extents]:
                if size:
                    x = int.from_bytes(b[at:at + size], "big") + delta
                    b[at:at + size] = x.to_bytes(size, "big")
    meta_box = box("meta", data[meta[1]:meta[1] + 4] + b"".join(box(k, bytes(b))
                                                                 for k, b in kids))
    return data[:meta[1] - 8] + meta_box + data[meta[2]:]


def worst(a, b):
    if a.shape != b.shape:
        return float("inf")
    return int(np.abs(a.astype(int) - b.astype(int)).max())


def main():
    if not shutil.which("heif-enc") or not shutil.which("heif-convert"):
        J.check(False, "heif-enc and heif-convert (Debian's libheif-examples) are installed")
        return J.finish("test_heif")
    tmp = tempfile.mkdtemp(prefix="r50-heif-")
    real = [Image.open(p).convert("RGB") for p in photos.good_photos()]
    rgb = [im for im in real if min(im.size) >= 200][:4]
    srcs = [H.plain_png(im, os.path.join(tmp, f"src{i}.png")) for i, im in enumerate(rgb)]
    lossless = ["-L", "-p", "chroma=444", "--matrix_coefficients=0"]

    # lossless: the source's pixels
    files = [H.encode(srcs[0], os.path.join(tmp, "lossless.heic"), *lossless),
             H.encode(srcs[1], os.path.join(tmp, "lossless.avif"), *lossless)]
    got, fails = decode(*files)
    for i, (f, src) in enumerate(zip(files, rgb[:2])):
        w = worst(got.get(i, np.zeros(0)), np.asarray(src))
        J.check(not fails and w <= 1, f"{os.path.basename(f)} {src.size}: the source's "
                                      f"pixels within 1 (worst {w}) {fails}")

    # lossy, odd sizes, alpha, 10 bits: heif-convert's pixels exactly
    odd = H.plain_png(rgb[2].resize((97, 61)), os.path.join(tmp, "odd.png"))
    rgba = rgb[3].convert("RGBA")
    rgba.putalpha(Image.linear_gradient("L").resize(rgba.size))
    alpha = H.plain_png(rgba, os.path.join(tmp, "alpha.png"))
    grey16 = os.path.join(tmp, "grey16.png")
    Image.fromarray((np.asarray(rgb[0].convert("L")).astype(np.uint16) * 257)).save(grey16)
    cases = [H.encode(srcs[2], os.path.join(tmp, "phone.heic"), "-q", "70"),
             H.encode(srcs[3], os.path.join(tmp, "web.avif"), "-q", "50"),
             H.encode(odd, os.path.join(tmp, "odd.heic"), "-q", "90"),
             H.encode(odd, os.path.join(tmp, "odd.avif"), "-q", "90"),
             H.encode(alpha, os.path.join(tmp, "alpha.heic"), "-q", "80"),
             H.encode(grey16, os.path.join(tmp, "grey10.heic"), "-b", "10", "-q", "85")]
    got, fails = decode(*cases)
    for i, f in enumerate(cases):
        w = worst(got.get(i, np.zeros(0)), H.libheif_rgb(f, tmp))
        J.check(i not in fails and w == 0,
                f"{os.path.basename(f)}: heif-convert's pixels exactly (worst {w}) "
                f"{fails.get(i, '')}")
    a = got.get(4)
    J.check(a is not None and worst(a, np.asarray(rgba.convert("RGB"))) <= 40,
            "alpha.heic: the colours without compositing (a white or black background "
            "would differ by up to 255 where alpha is low)")
    g = got.get(5)
    J.check(g is not None and (g[..., 0] == g[..., 1]).all() and (g[..., 1] == g[..., 2]).all(),
            "grey10.heic: grey RGB")

    # --exif-rotate turns nothing more (an EXIF orientation 6 beside the image)
    exif = Image.Exif()
    exif[0x0112] = 6
    rot_jpg = os.path.join(tmp, "rot.jpg")
    rgb[2].resize((97, 61)).save(rot_jpg, exif=exif.tobytes(), quality=95)
    rot = H.encode(rot_jpg, os.path.join(tmp, "rot.heic"), "-q", "90")
    plain, _ = decode(rot)
    turned, fails = decode(rot, opts=("--exif-rotate",))
    J.check(not fails and 0 in plain and 0 in turned and plain[0].shape == (61, 97, 3) and
            np.array_equal(plain[0], turned[0]),
            f"--exif-rotate: the same pixels, {plain[0].shape if 0 in plain else None}")

    # irot and imir (added to a file heif-enc wrote): applied, in association order
    even = H.encode_image(rgb[1].resize((96, 64)), os.path.join(tmp, "even.heic"), "-q", "90")
    data = open(even, "rb").read()
    sideways = [(os.path.join(tmp, f"{name}.heic"), props, want) for name, props, want in (
        ("irot1", [("irot", 1)], lambda a: np.rot90(a, 1)),
        ("irot3", [("irot", 3)], lambda a: np.rot90(a, 3)),
        ("imir0", [("imir", 0)], np.flipud),
        ("imir1", [("imir", 1)], np.fliplr),
        ("irot1_imir0", [("irot", 1), ("imir", 0)], lambda a: np.flipud(np.rot90(a, 1))))]
    for path, props, _ in sideways:
        with open(path, "wb") as f:
            f.write(with_transforms(data, props))
    got, fails = decode(even, *(path for path, _, _ in sideways))
    base = got.get(0)
    for i, (path, props, want) in enumerate(sideways, 1):
        a = got.get(i)
        J.check(base is not None and a is not None and np.array_equal(a, want(base)) and
                np.array_equal(a, H.libheif_rgb(path, tmp)),
                f"{os.path.basename(path)} {props}: the untransformed pixels turned so "
                f"({None if a is None else a.shape}), as heif-convert reads it {fails}")
    turned = with_transforms(open(rot, "rb").read(), [("irot", 1)])  # EXIF orientation 6 too
    rot90 = os.path.join(tmp, "rot_irot1.heic")
    with open(rot90, "wb") as f:
        f.write(turned)
    plain, _ = decode(rot90)
    exif_too, fails = decode(rot90, opts=("--exif-rotate",))
    J.check(not fails and 0 in plain and 0 in exif_too and plain[0].shape == (97, 61, 3) and
            np.array_equal(plain[0], exif_too[0]),
            f"irot 1 and an EXIF orientation 6: turned once, with --exif-rotate too "
            f"({plain[0].shape if 0 in plain else None})")

    # damaged: the file's name and the cause
    data = open(cases[0], "rb").read()
    avif = open(cases[1], "rb").read()
    bad = []
    for n in (len(data) // 3, len(data) // 2, len(data) - 10):
        bad.append((f"cut{n}.heic", data[:n], "truncated HEIF data"))
    bad.append(("cut.avif", avif[:len(avif) // 2], "truncated AVIF data"))
    bad.append(("header.heic", data[:24] if data[3] == 24 else data[:32], "corrupt HEIF data"))
    D.check_damaged(TOOL, tmp, bad, J.check)
    odd_heic = open(cases[2], "rb").read()  # 97x61: a grid of padded tiles
    moved = grid_past_idat(odd_heic)
    if J.check(moved is not None, "odd.heic (97x61) holds a grid in idat"):
        path = os.path.join(tmp, "grid_past_idat.heic")
        with open(path, "wb") as f:
            f.write(moved)
        _, fails = decode(path)
        J.check(fails.get(0, "").startswith(
            f"{path}: corrupt HEIF data (a grid whose data lies outside its box)"),
            f"a grid whose data lies past idat's end: refused before libheif reads it "
            f"(it would read the next boxes as the canvas size): {fails}")
    _, fails = decode(cases[0], opts=("--max-pixels", "1000"))
    J.check("exceeds --max-pixels" in fails.get(0, "") and fails[0].startswith(cases[0]),
            f"more pixels than --max-pixels: refused from the header: {fails}")
    return J.finish("test_heif")


if __name__ == "__main__":
    sys.exit(main())
