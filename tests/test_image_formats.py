#!/usr/bin/env python3
"""WebP, GIF, BMP, PNM, TIFF, JPEG 2000, HEIF, AVIF and JPEG XL datasets end to end, as users
have them (web crawls, img2dataset shards, old collections of GIFs, inspection cameras'
BMPs, face sets' PGMs, scanners' and microscopes' TIFFs, digital libraries' and medical
archives' JPEG 2000, phones' HEIC photos, AVIF from the web, JPEG XL):

* an ImageFolder tree (class subfolders) mixing JPEG, PNG, WebP — lossy, lossless,
  with alpha, animated, `.WEBP` in capitals, one named without an extension, one cut
  short —, GIF — animated, interlaced, with transparency, `.GIF`, one named without an
  extension, one cut short —, BMP — 24-bit, 8-bit palette, grey, 1-bit, `.BMP`, one
  without an extension, one cut short —, PNM (`.pgm`, `.PPM`) and TIFF — LZW, JPEG in
  YCbCr `.TIFF`, 1-bit CCITT G4, a multi-page one without an extension, one cut
  short — and JPEG 2000 — a lossless `.jp2`, a lossy layered codestream `.J2K`, a tiled
  `.jpx`, one without an extension, one cut short — and HEIF/AVIF — `.HEIC`, `.heif`
  with alpha, `.avif`, a HEIC without an extension, one cut short — and JPEG XL — lossy
  `.jxl`, lossless `.JXL` with alpha, a recompressed JPEG, a progressive one without an
  extension, one cut short —, under -np 1 and
  -np 2: every such row's features are bit-identical to those of its PNG twin (Pillow's
  Image.open(f).convert('RGB') saved as PNG; for HEIF, AVIF and JPEG XL, which Pillow
  does not read, libheif's heif-convert's and libjxl's djxl's), the cut ones are failed
  rows naming the file and "truncated WebP/GIF/BMP/TIFF/JPEG 2000/HEIF/JPEG XL data",
  labels follow the class folders;
* the same files through a list file name the same rows with the same features;
* `predict` of one .webp file prints the lines its folder's run prints for it;
* a WebDataset tar shard whose samples are .webp, .tiff, .ppm and .jp2 members gives
  the features of the same files in a folder.
(test_prepare_pil checks the decoded pixels themselves against Pillow.)

usage: test_image_formats.py R50WORKER MODEL_TOOL
"""
import io
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import heif_cases as H  # noqa: E402
import jxl_cases as X  # noqa: E402
import jobutil as J  # noqa: E402
import photos  # noqa: E402
from jobutil import check, run  # noqa: E402

BIN, TOOL = sys.argv[1], sys.argv[2]
COMMON = ["--threads", "1", "--size", "128", "--layers", "pool5,fc6"]


def encoded(im, fmt, **kw):
    b = io.BytesIO()
    im.save(b, fmt, **kw)
    return b.getvalue()


def webp_bytes(im, **kw):
    return encoded(im, "WEBP", **kw)


def gif_bytes(im, **kw):
    return encoded(im, "GIF", **kw)


def heif_bytes(tmp, im, fmt, *opts):
    """im encoded by libheif's heif-enc (HEIC with x265, AVIF with aom)."""
    out = H.encode_image(im, os.path.join(tmp, f"heif_out.{fmt}"), *opts)
    with open(out, "rb") as f:
        return f.read()


def jxl_bytes(tmp, im, *opts):
    """im encoded by libjxl's cjxl."""
    out = X.encode_image(im, os.path.join(tmp, "jxl_out.jxl"), *opts)
    with open(out, "rb") as f:
        return f.read()


def recompressed_jpeg(tmp, im):
    """im as a JPEG, recompressed losslessly by cjxl (a container holding the JPEG's
    reconstruction data)."""
    jpg = os.path.join(tmp, "jxl_src.jpg")
    im.save(jpg, quality=85)
    with open(X.encode(jpg, os.path.join(tmp, "jxl_out.jxl")), "rb") as f:
        return f.read()


def make_tree(tmp):
    """tmp/tree: classes 'birds' and 'cats' (WebP, GIF, BMP, JPEG and PNG files) and
    tmp/twins: a PNG of Pillow's decoding of each WebP, GIF and BMP. Returns ({row:
    twin png}, {cut file's row: cause}, every row)."""
    real = photos.good_photos()
    tree, twins = os.path.join(tmp, "tree"), os.path.join(tmp, "twins")
    for d in ("birds", "cats"):
        os.makedirs(os.path.join(tree, d))
    os.makedirs(twins)
    im = [Image.open(p).convert("RGB") for p in real[:6]]
    pal = [x.convert("P", palette=Image.ADAPTIVE) for x in im]
    rgba = im[4].convert("RGBA")
    rgba.putalpha(Image.linear_gradient("L").resize(rgba.size))
    files = {
        "birds/lossy.webp": webp_bytes(im[0], quality=80),
        "birds/lossless.webp": webp_bytes(im[1], lossless=True),
        "birds/UPPER.WEBP": webp_bytes(im[2], quality=60),
        "cats/alpha.webp": webp_bytes(rgba, quality=75),
        "cats/anim.webp": webp_bytes(im[3], save_all=True, duration=50,
                                     append_images=[im[5].resize(im[3].size)]),
        "cats/d41d8cd98f00b204": webp_bytes(im[5], quality=90),  # named by hash
        "birds/anim.gif": gif_bytes(pal[0], save_all=True, duration=50,
                                    append_images=[pal[1].resize(pal[0].size)]),
        "birds/LOGO.GIF": gif_bytes(pal[2], transparency=7, interlace=False),
        "cats/interlaced.gif": gif_bytes(pal[3], interlace=True),
        "cats/frame0001": gif_bytes(pal[4]),  # a GIF without an extension
        "birds/scan.bmp": encoded(im[0], "BMP"),
        "birds/PALETTE.BMP": encoded(pal[1], "BMP"),
        "cats/grey.bmp": encoded(im[2].convert("L"), "BMP"),
        "cats/mask.bmp": encoded(im[3].convert("1"), "BMP"),
        "cats/cam0001": encoded(im[4], "BMP"),  # a BMP without an extension
        "birds/face.pgm": encoded(im[5].convert("L"), "PPM"),
        "cats/face.PPM": encoded(im[0], "PPM"),
        "birds/slide.tif": encoded(im[1], "TIFF", compression="tiff_lzw"),
        "cats/PAGE.TIFF": encoded(im[2].convert("YCbCr"), "TIFF", compression="jpeg"),
        "cats/fax.tif": encoded(im[3].convert("1"), "TIFF", compression="group4"),
        "birds/stack0001": encoded(im[4], "TIFF", compression="tiff_adobe_deflate",
                                   save_all=True, append_images=[im[5]]),
        "birds/raw.tif": encoded(im[5], "TIFF"),
        "birds/scan.jp2": encoded(im[0], "JPEG2000"),
        "cats/MRI.J2K": encoded(im[1].convert("L"), "JPEG2000", no_jp2=True,
                                quality_mode="dB", quality_layers=[30, 40]),
        "cats/atlas.jpx": encoded(im[2], "JPEG2000", tile_size=(64, 64),
                                  num_resolutions=3),
        "birds/folio0001": encoded(im[3], "JPEG2000", irreversible=True,
                                   quality_mode="rates", quality_layers=[12]),
    }
    heif = {"birds/IMG_0001.HEIC": heif_bytes(tmp, im[0], "heic", "-q", "60"),
            "cats/photo.heif": heif_bytes(tmp, rgba, "heic", "-q", "80"),
            "birds/web.avif": heif_bytes(tmp, im[2], "avif", "-q", "50"),
            "cats/upload0001": heif_bytes(tmp, im[3], "heic", "-q", "70")}  # no extension
    files.update(heif)
    jxl = {"birds/photo.jxl": jxl_bytes(tmp, im[4], "-d", "1"),
           "cats/LOSSLESS.JXL": jxl_bytes(tmp, rgba, "-d", "0"),
           "birds/camera.jxl": recompressed_jpeg(tmp, im[0]),
           "cats/scan0002": jxl_bytes(tmp, im[1], "-d", "2", "-p")}  # no extension
    files.update(jxl)
    twin_of = {}
    for rel, data in files.items():
        with open(os.path.join(tree, rel), "wb") as f:
            f.write(data)
        twin = os.path.join(twins, rel.replace("/", "_") + ".png")
        if rel in heif:  # Pillow has no HEIF decoder: libheif's own heif-convert
            Image.fromarray(H.libheif_rgb(os.path.join(tree, rel), twins)).save(twin)
        elif rel in jxl:  # nor a JPEG XL one: libjxl's own djxl
            Image.fromarray(X.libjxl_rgb(os.path.join(tree, rel), twins)).save(twin)
        else:
            Image.open(io.BytesIO(data)).convert("RGB").save(twin)
        twin_of[rel] = twin
    cut = {"cats/cut.webp": ("birds/lossy.webp", "truncated WebP data"),
           "birds/cut.gif": ("birds/anim.gif", "truncated GIF data"),
           "cats/cut.bmp": ("birds/scan.bmp", "truncated BMP data"),
           "cats/cut.tif": ("birds/raw.tif", "truncated TIFF data (strip 0 ends at byte"),
           "birds/cut.jp2": ("birds/scan.jp2", "truncated JPEG 2000 data"),
           "cats/cut.heic": ("birds/IMG_0001.HEIC", "truncated HEIF data"),
           "birds/cut.jxl": ("birds/photo.jxl", "truncated JPEG XL data")}
    for rel, (src, _) in cut.items():
        with open(os.path.join(tree, rel), "wb") as f:
            f.write(files[src][:1500])
    cut = {rel: cause for rel, (_, cause) in cut.items()}
    plain = [f"{c}/plain{os.path.splitext(src)[1]}" for c, src in
             (("birds", real[6]), ("cats", real[7]))]
    for rel, src in zip(plain, real[6:8]):
        shutil.copy(src, os.path.join(tree, rel))
    return twin_of, cut, sorted(list(twin_of) + list(cut) + plain, key=str.encode)


def rows(d):
    return [p.decode() for p in d["images/path"]]


def test_folder_and_list(tmp, model):
    twin_of, cut, all_rows = make_tree(tmp)
    tree = os.path.join(tmp, "tree")
    twins_h5 = os.path.join(tmp, "twins.h5")
    p = run(1, BIN, "extract", "--model", model, *COMMON, os.path.join(tmp, "twins"),
            "-o", twins_h5)
    check(p.returncode == 0, f"the PNG twins: exit {p.returncode} {p.stderr[-300:]}")
    tw = J.read(twins_h5, ("pool5", "fc6"))
    twin_row = {os.path.join(tmp, "twins", q): i for i, q in enumerate(rows(tw))}
    outs = []
    for np_ in (1, 2):
        out = os.path.join(tmp, f"tree{np_}.h5")
        p = run(np_, BIN, "extract", "--model", model, *COMMON, tree, "-o", out)
        check(p.returncode == 0, f"np {np_}: exit {p.returncode} {p.stderr[-400:]}")
        check("does not read" not in p.stderr, f"np {np_}: no file left out: {p.stderr[-400:]}")
        if p.returncode:
            continue
        d = J.read(out, ("pool5", "fc6"))
        outs.append(d)
        names = rows(d)
        check(names == all_rows, f"np {np_}: the rows are the tree's {len(all_rows)} files, "
                                 f"sorted: {names}")
        check(d["classes"] == ["birds", "cats"], f"np {np_}: classes {d['classes']}")
        for i, rel in enumerate(names):
            want_label = 0 if rel.startswith("birds/") else 1
            check(d["images/label"][i] == want_label, f"np {np_}: {rel} label")
            if rel in cut:
                e = d["images/error"][i].decode()
                check(d["images/status"][i] == -1 and e.startswith(cut[rel]) and
                      e.endswith(f": {rel}"),
                      f"np {np_}: {rel}, cut, is a failed row: {d['images/error'][i]}")
                continue
            check(d["images/status"][i] == 1, f"np {np_}: {rel} read "
                                              f"({d['images/error'][i]})")
            if rel in twin_of:
                j = twin_row[twin_of[rel]]
                for layer in ("pool5", "fc6"):
                    same = np.array_equal(d[f"features/{layer}"][i], tw[f"features/{layer}"][j])
                    check(same, f"np {np_}: {rel} {layer} equals its PNG twin's")
    if len(outs) == 2:
        check(rows(outs[0]) == rows(outs[1]) and
              np.array_equal(outs[0]["features/fc6"], outs[1]["features/fc6"]),
              "np 1 and np 2 give the same rows and features")
    # a list file of the same images (paths relative to the list's folder)
    lst = os.path.join(tree, "list.txt")
    with open(lst, "w") as f:
        for rel in sorted(twin_of):
            f.write(f"{rel} {0 if rel.startswith('birds/') else 1}\n")
    out = os.path.join(tmp, "list.h5")
    p = run(2, BIN, "extract", "--model", model, *COMMON, lst, "-o", out)
    check(p.returncode == 0, f"list: exit {p.returncode} {p.stderr[-300:]}")
    if p.returncode == 0 and outs:
        d, ref = J.read(out, ("pool5", "fc6")), outs[0]
        at = {q: i for i, q in enumerate(rows(ref))}
        same = all(np.array_equal(d["features/fc6"][i], ref["features/fc6"][at[q]])
                   for i, q in enumerate(rows(d)))
        check(rows(d) == sorted(twin_of, key=str.encode) and same and
              (d["images/status"] == 1).all(),
              f"list: the WebP rows, features as in the folder run: {rows(d)}")
    # predict of one .webp file: the lines its folder's run prints for it
    folder = run(1, BIN, "predict", "--model", model, "--threads", "1", "--top", "3",
                 os.path.join(tree, "birds"))
    one = run(1, BIN, "predict", "--model", model, "--threads", "1", "--top", "3",
              os.path.join(tree, "birds", "UPPER.WEBP"))
    mine = [x for x in folder.stdout.splitlines() if x.startswith("UPPER.WEBP\t")]
    check(one.returncode == 0 and len(mine) == 3 and one.stdout.splitlines() == mine,
          f"predict of one .webp: {one.returncode} {one.stdout!r} vs {mine} {one.stderr[-300:]}")


def test_shard(tmp, model):
    real = photos.good_photos()[8:14]
    sd, flat = os.path.join(tmp, "shards"), os.path.join(tmp, "webp_flat")
    os.makedirs(sd)
    os.makedirs(flat)
    with tarfile.open(os.path.join(sd, "shard-000.tar"), "w") as t:
        for i, src in enumerate(real):
            rgb = Image.open(src).convert("RGB")
            ext = ("webp", "tiff", "ppm", "jp2")[i % 4]  # webdataset's decoder reads ppm
            data = (webp_bytes(rgb, quality=70 + i), encoded(rgb, "TIFF", compression="tiff_lzw"),
                    encoded(rgb, "PPM"), encoded(rgb, "JPEG2000"))[i % 4]
            for name, blob in ((f"{i:06d}.{ext}", data), (f"{i:06d}.cls", b"%d" % (i % 3))):
                ti = tarfile.TarInfo(name)
                ti.size = len(blob)
                t.addfile(ti, io.BytesIO(blob))
            with open(os.path.join(flat, f"{i:06d}.{ext}"), "wb") as f:
                f.write(data)
    a, b = os.path.join(tmp, "shard.h5"), os.path.join(tmp, "webp_flat.h5")
    p = run(2, BIN, "extract", "--model", model, *COMMON, os.path.join(sd, "shard-000.tar"),
            "-o", a)
    q = run(1, BIN, "extract", "--model", model, *COMMON, flat, "-o", b)
    check(p.returncode == 0 and q.returncode == 0,
          f"shard and folder: exit {p.returncode} {q.returncode} {p.stderr[-300:]}")
    if p.returncode == 0 and q.returncode == 0:
        s, f = J.read(a, ("fc6",)), J.read(b, ("fc6",))
        check((s["images/status"] == 1).all() and len(s["images/status"]) == len(real),
              f"the shard's {len(real)} .webp, .tiff, .ppm and .jp2 samples read: "
              f"{s['images/error']}")
        check(s["images/label"].tolist() == [i % 3 for i in range(len(real))],
              "their .cls labels")
        check(np.array_equal(s["features/fc6"], f["features/fc6"]),
              "the shard's features equal the folder's")


def main():
    tmp = tempfile.mkdtemp(prefix="r50-formats-")
    model = os.path.join(tmp, "m.npz")
    subprocess.run([TOOL, "init", "5", model], check=True)
    test_folder_and_list(tmp, model)
    test_shard(tmp, model)
    rc = J.finish("test_image_formats")
    if rc == 0:
        shutil.rmtree(tmp)
    return rc


if __name__ == "__main__":
    sys.exit(main())
