#!/usr/bin/env python3
"""WebDataset tar shards in: shards written by Python's tarfile from the real test
photos (plain and gzip-compressed, with .cls labels, extra members, HEIC and AVIF
members where libheif's heif-enc is installed, a JPEG XL member where libjxl's cjxl is, a sample without an image, a damaged shard, a shard cut inside its last image, a file that is no tar) give
features bit-identical to extracting the same images from a folder, under -np 1 and
-np 3 (and -np 2 where no shared-memory window can be had); a brace pattern, a folder of shards and a list of shards name the same rows;
every bad sample is a failed row naming shard and key, never a failed job; a killed
job's --resume reproduces the file. finetune on shards (plain, and gzip-compressed,
which it warns are slow to shuffle) trains the model a list of the same images in the
same order trains, bit for bit, under -np 2.

usage: test_tar_shards.py R50WORKER MODEL_TOOL
"""
import io
import os
import shutil
import signal
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


def add(t, name, data):
    ti = tarfile.TarInfo(name)
    ti.size = len(data)
    ti.mtime = 1700000000
    t.addfile(ti, io.BytesIO(data))


def make_shards(tmp, n_photos=14):
    """Shards in tmp/shards and the same images in tmp/flat. Returns (want, bad):
    want {row path: (flat file, label)}, bad {row path: expected message part}."""
    real = photos.real_photos()[:n_photos]
    flat, sd = os.path.join(tmp, "flat"), os.path.join(tmp, "shards")
    os.makedirs(flat)
    os.makedirs(sd)
    want, bad = {}, {}
    plan = [("shard-0000.tar", "w", real[0:5]), ("shard-0001.tar.gz", "w:gz", real[5:9]),
            ("shard-0002.tar", "w", real[9:14])]
    for si, (name, mode, srcs) in enumerate(plan):
        with tarfile.open(os.path.join(sd, name), mode, format=tarfile.PAX_FORMAT) as t:
            for i, src in enumerate(srcs):
                ext = os.path.splitext(src)[1].lower()
                key = f"s{si}/{i:06d}"
                if si == 2 and i == 1:
                    key = "s2/ünïcode name"  # a non-ASCII key with a space
                data = open(src, "rb").read()
                add(t, key + ".json", b'{"src": "%s"}' % os.path.basename(src).encode())
                add(t, key + ext, data)
                label = (si * 7 + i) % 5
                if not (si == 0 and i == 2):  # one sample without .cls: label -1
                    add(t, key + ".cls", b"%d\n" % label)
                else:
                    label = -1
                fl = os.path.join(flat, f"{si}_{i:02d}{ext}")
                shutil.copy(src, fl)
                want[f"{name}/{key}"] = (fl, label)
            if si == 0:  # a sample with no image
                add(t, "s0/noimage.txt", b"caption only")
                add(t, "s0/noimage.cls", b"3")
                bad["shard-0000.tar/s0/noimage"] = (
                    "no image member (.jpg, .png, .webp, .gif, .bmp, .ppm, .tif...; "
                    "members: .txt, .cls)")
            if si == 2 and shutil.which("heif-enc"):  # HEIC and AVIF members (libheif)
                for k, ext in enumerate((".heic", ".avif")):
                    fl = os.path.join(flat, f"{si}_h{k}{ext}")
                    H.encode_image(Image.open(srcs[k]).convert("RGB").resize((160, 120)),
                                   fl, "-q", "80")
                    add(t, f"s2/phone{k}{ext}", open(fl, "rb").read())
                    add(t, f"s2/phone{k}.cls", b"%d" % k)
                    want[f"{name}/s2/phone{k}"] = (fl, k)
            if si == 2 and X.have_tools():  # a JPEG XL member (libjxl)
                fl = os.path.join(flat, f"{si}_x0.jxl")
                X.encode_image(Image.open(srcs[2]).convert("RGB").resize((150, 110)), fl,
                               "-d", "1")
                add(t, "s2/camera.jxl", open(fl, "rb").read())
                add(t, "s2/camera.cls", b"4")
                want[f"{name}/s2/camera"] = (fl, 4)
            if si == 1:
                add(t, "s1/badcls.png", open(real[0], "rb").read())
                add(t, "s1/badcls.cls", b"cat")
                bad["shard-0001.tar.gz/s1/badcls"] = ".cls member holds 'cat'"
    # a shard whose third header is garbage: two samples, then a damaged-shard row
    with tarfile.open(os.path.join(sd, "shard-0003.tar"), "w") as t:
        for i, src in enumerate(real[:3]):
            add(t, f"d/{i:06d}.jpg" if src.lower().endswith(".jpg") else f"d/{i:06d}.png",
                open(src, "rb").read())
    raw = bytearray(open(os.path.join(sd, "shard-0003.tar"), "rb").read())
    with tarfile.open(os.path.join(sd, "shard-0003.tar")) as t:
        third = t.getmembers()[2].offset
        for i, m in enumerate(t.getmembers()[:2]):
            fl = os.path.join(flat, f"3_{i:02d}{os.path.splitext(real[i])[1].lower()}")
            shutil.copy(real[i], fl)
            want[f"shard-0003.tar/{os.path.splitext(m.name)[0]}"] = (fl, -1)
    raw[third:third + 512] = b"\x7f" * 512
    open(os.path.join(sd, "shard-0003.tar"), "wb").write(bytes(raw))
    bad["shard-0003.tar"] = "damaged shard after 2 samples"
    # a shard cut inside its last image
    with tarfile.open(os.path.join(sd, "shard-0004.tar"), "w") as t:
        add(t, "t/000000.jpg", open(real[0], "rb").read())
        add(t, "t/000001.jpg", open(real[0], "rb").read())
    raw = open(os.path.join(sd, "shard-0004.tar"), "rb").read()
    with tarfile.open(os.path.join(sd, "shard-0004.tar")) as t:
        last = t.getmembers()[1]
    open(os.path.join(sd, "shard-0004.tar"), "wb").write(raw[:last.offset_data + 1000])
    fl = os.path.join(flat, "4_00.jpg")
    shutil.copy(real[0], fl)
    want["shard-0004.tar/t/000000"] = (fl, -1)
    bad["shard-0004.tar/t/000001"] = "truncated shard"
    # not a tar at all
    open(os.path.join(sd, "shard-0005.tar"), "wb").write(b"this is not a tar archive\n" * 40)
    bad["shard-0005.tar"] = "not a readable tar shard"
    return want, bad


def rows_of(d):
    return [p.decode() if isinstance(p, bytes) else p for p in d["images/path"]]


def test_equal_to_folder(tmp, model):
    want, bad = make_shards(tmp)
    common = ["extract", "--model", model, "--threads", "1", "--size", "96",
              "--layers", "pool5,res5"]
    flat_h5 = os.path.join(tmp, "flat.h5")
    check(run(1, BIN, *common, os.path.join(tmp, "flat"), "-o", flat_h5).returncode == 0,
          "folder extract: exit 0")
    f = J.read(flat_h5, ("pool5", "res5"))
    by_file = {os.path.join(tmp, "flat", p): i for i, p in enumerate(rows_of(f))}
    outs = {}
    sd = os.path.join(tmp, "shards")
    # -np 2 without Open MPI's shared-memory windows: the list falls back to a copy per
    # rank (with a warning) and nothing else changes
    no_shm = dict(J.ENV, OMPI_MCA_osc="^sm")
    for np_, batch, chunk, env in [(1, 4, 0, None), (3, 2, 3, None), (2, 3, 1, no_shm)]:
        out = os.path.join(tmp, f"tar{np_}.h5")
        p = run(np_, BIN, *common, "--batch", str(batch), "--chunk", str(chunk),
                "-o", out, sd, timeout=600, env=env)
        if env:
            check("every rank keeps its own copy" in p.stderr,
                  "no shared-memory window: the fallback is announced")
        p_ok = p.returncode == 0
        check(p_ok, f"-np {np_}: shards extract exit 0 ({p.stderr[-300:] if not p_ok else ''})")
        if not p_ok:
            continue
        d = outs[np_] = J.read(out, ("pool5", "res5"))
        paths = rows_of(d)
        check(set(paths) == set(want) | set(bad),
              f"-np {np_}: rows are the samples and the bad ones "
              f"(extra {sorted(set(paths) - set(want) - set(bad))}, "
              f"missing {sorted((set(want) | set(bad)) - set(paths))})")
        for i, path in enumerate(paths):
            if path in want:
                fl, label = want[path]
                j = by_file[fl]
                ok = (d["images/status"][i] == 1 and d["images/label"][i] == label and
                      all(d[f"features/{k}"][i].tobytes() == f[f"features/{k}"][j].tobytes()
                          for k in ("pool5", "res5")))
                check(ok, f"-np {np_}: {path} = {os.path.basename(fl)} bit for bit, label "
                      f"{d['images/label'][i]} (want {label})")
            elif path in bad:
                msg = d["images/error"][i]
                msg = msg.decode("utf-8", "replace") if isinstance(msg, bytes) else str(msg)
                check(d["images/status"][i] == -1 and bad[path] in msg and path in msg,
                      f"-np {np_}: {path} failed: {msg!r}")
        check("failed" in p.stderr and "shard-0003.tar" in p.stderr,
              f"-np {np_}: the failures are reported on stderr")
    if 1 in outs and 3 in outs:
        J.same_file(outs[1], outs[3], "-np 1 vs -np 3", ("pool5", "res5"))
    if 1 in outs and 2 in outs:
        J.same_file(outs[1], outs[2], "-np 1 vs -np 2 without shared memory", ("pool5", "res5"))
    with J.h5py.File(os.path.join(tmp, "tar1.h5"), "r") as h:
        names = h["images/path"].asstr()[()].tolist()
        check("shard-0002.tar/s2/ünïcode name" in names,
              "h5py .asstr() reads the non-ASCII key")
    # the same rows named three ways: a brace pattern, a list of shards, a single shard
    lst = os.path.join(sd, "shards.txt")  # a list's paths are relative to its folder
    with open(lst, "w") as fh:
        fh.write("# the shards\n" + "".join(f"{n}\n" for n in sorted(os.listdir(sd))
                                              if n != "shards.txt"))
    cwd = os.getcwd()
    os.chdir(sd)  # a pattern's rows keep the shard paths as written
    try:
        brace = run(1, BIN, *common, "-o", "../brace.h5", "shard-{0000..0002}.tar")
        listed = run(1, BIN, *common, "-o", "../list.h5", "shards.txt")
        single = run(1, BIN, *common, "-o", "../one.h5", "shard-0001.tar.gz")
    finally:
        os.chdir(cwd)
    check(brace.returncode == 0 and listed.returncode == 0 and single.returncode == 0,
          "brace pattern, list of shards and one shard: exit 0")
    if 1 not in outs:
        return
    all_rows = rows_of(outs[1])
    if listed.returncode == 0:
        J.same_file(outs[1], J.read(os.path.join(tmp, "list.h5"), ("pool5", "res5")),
                    "list of shards vs folder of shards", ("pool5", "res5"))
    if brace.returncode == 0:
        b = J.read(os.path.join(tmp, "brace.h5"))
        # shard-0001 is a .tar.gz: the pattern's shard-0001.tar is a missing-shard row
        wantb = ([r for r in all_rows if r.startswith("shard-0000.tar/")] +
                 ["shard-0001.tar"] +
                 [r for r in all_rows if r.startswith("shard-0002.tar/")])
        i = rows_of(b).index("shard-0001.tar") if "shard-0001.tar" in rows_of(b) else 0
        msg = b["images/error"][i].decode("utf-8", "replace")
        check(rows_of(b) == wantb and b["images/status"][i] == -1 and "No such file" in msg,
              f"brace pattern {{0000..0002}}: those shards' rows in order, the missing one a "
              f"failed row ({msg!r})")
    if single.returncode == 0:
        one = J.read(os.path.join(tmp, "one.h5"))
        check(rows_of(one) == [r for r in all_rows if r.startswith("shard-0001.tar.gz/")],
              "a single compressed shard: its rows, in order")


def test_resume(tmp, model):
    """A long shard job killed midway, then --resume on another rank count: the same
    file as a job that ran straight through."""
    real = photos.real_photos()
    sd = os.path.join(tmp, "many")
    os.makedirs(sd)
    n = 0
    for s in range(3):
        mode = "w:gz" if s == 1 else "w"
        name = f"m-{s:03d}.tar" + (".gz" if s == 1 else "")
        with tarfile.open(os.path.join(sd, name), mode) as t:
            for i in range(60):
                src = real[(s * 60 + i) % len(real)]
                add(t, f"{i:06d}{os.path.splitext(src)[1].lower()}", open(src, "rb").read())
                add(t, f"{i:06d}.cls", b"%d" % (i % 4))
                n += 1
    common = ["extract", "--model", model, "--threads", "1", "--size", "32",
              "--batch", "2", "--chunk", "4", sd]
    straight = os.path.join(tmp, "straight.h5")
    check(run(2, BIN, *common, "-o", straight, timeout=900).returncode == 0,
          "straight run: exit 0")
    out = os.path.join(tmp, "killed.h5")
    job = J.start(2, BIN, *common, "-o", out)
    midway = J.wait_for_rows(out, 30, 300)
    kids = J.rank_pids(job)
    for k in kids:
        os.kill(k, signal.SIGKILL)
    rc, _, _, timed_out = J.wait(job, 60)
    d = J.read(out)
    done = int((d["images/status"] == 1).sum())
    check(midway and rc != 0 and not timed_out and 0 < done < n,
          f"killed midway: exit {rc}, {done}/{n} rows done")
    p = run(3, BIN, *common, "-o", out, "--resume", timeout=900)
    check(p.returncode == 0, f"--resume on 3 ranks: exit 0 ({p.stderr[-300:]})")
    J.same_file(J.read(straight), J.read(out), "killed + --resume vs straight")


def test_many_shards(tmp, model):
    """20 shards, listed eight at a time: the rows in shard order, and each broken
    sample's cause its own (the causes of all shards gathered into one table)."""
    sd = os.path.join(tmp, "twenty")
    os.makedirs(sd)
    jpg = open(photos.real_photos()[0], "rb").read()
    want, bad = [], {}
    for k in range(20):
        with tarfile.open(os.path.join(sd, f"m-{k:02d}.tar"), "w") as t:
            for i in range(3):
                key = f"k{k:02d}_{i}"
                if k % 7 == 3 and i == 1:
                    add(t, key + ".txt", b"no image")
                    bad[f"m-{k:02d}.tar/{key}"] = "no image member"
                elif k % 5 == 1 and i == 2:
                    add(t, key + ".jpg", jpg)
                    add(t, key + ".cls", b"k%d" % k)
                    bad[f"m-{k:02d}.tar/{key}"] = f".cls member holds 'k{k}'"
                else:
                    add(t, key + ".jpg", jpg)
                want.append(f"m-{k:02d}.tar/{key}")
    out = os.path.join(tmp, "twenty.h5")
    p = run(2, BIN, "extract", "--model", model, "--threads", "1", "--size", "32",
            os.path.join(sd, "m-{00..19}.tar"), "-o", out)
    if not check(p.returncode == 0, f"20 shards: exit 0 ({p.stderr[-300:]})"):
        return
    d = J.read(out)
    rows = rows_of(d)
    errs = {}
    for i, r in enumerate(rows):
        if d["images/status"][i] == -1:
            m = d["images/error"][i]
            errs[r] = m.decode("utf-8", "replace") if isinstance(m, bytes) else str(m)
    check(rows == [os.path.join(sd, r) for r in want] and
          set(errs) == {os.path.join(sd, r) for r in bad} and
          all(bad[r] in errs[os.path.join(sd, r)] and r.split("/")[1] in
              errs[os.path.join(sd, r)] for r in bad),
          f"20 shards: {len(rows)} rows in shard order, the {len(bad)} broken ones each "
          f"with its own cause ({sorted(errs.items())[:3]})")


def test_finetune(tmp, model):
    real = photos.real_photos()[:12]
    root = os.path.join(tmp, "ft")
    plain, packed, flat = (os.path.join(root, d) for d in ("plain", "packed", "flat"))
    for d in (plain, packed, flat):
        os.makedirs(d)
    rows = []  # the list's rows, in the shards' row order
    for si in range(2):
        for folder, mode, ext in ((plain, "w", ".tar"), (packed, "w:gz", ".tar.gz")):
            with tarfile.open(os.path.join(folder, f"train-{si}{ext}"), mode) as t:
                for i, src in enumerate(real[6 * si:6 * si + 6]):
                    key, label = f"k{si}/{i:03d}", (si * 6 + i) % 3
                    add(t, key + os.path.splitext(src)[1].lower(), open(src, "rb").read())
                    add(t, key + ".cls", b"%d" % label)
        for i, src in enumerate(real[6 * si:6 * si + 6]):
            name = f"{si}_{i:02d}{os.path.splitext(src)[1].lower()}"
            shutil.copy(src, os.path.join(flat, name))
            rows.append((os.path.join("flat", name), (si * 6 + i) % 3))
    lst = os.path.join(root, "train.txt")
    with open(lst, "w") as f:
        f.write("".join(f"{r} {label}\n" for r, label in rows))
    common = ["finetune", "--model", model, "--threads", "1", "--size", "64", "--crop", "56",
              "--batch", "2", "--steps", "4", "--lr", "0.01"]
    got = {}
    for what, data in (("list", lst), ("plain shards", plain), ("packed shards", packed)):
        out = os.path.join(root, what.replace(" ", "_"))
        p = run(2, BIN, *common, data, "--out", out, timeout=600,
                env=dict(J.RUN_ENV, R50_PROGRESS_SECONDS="0"))
        warned = "shards are compressed" in p.stderr and "decompress them" in p.stderr
        if what != "list":
            check("info: listing tar shards: 1 of 2, 6 samples so far, ETA" in p.stderr
                  and "info: listed 2 tar shards: 12 samples\n" in p.stderr,
                  f"R50_PROGRESS_SECONDS=0: the listing of the {what} said how far it was")
        if check(p.returncode == 0 and warned == (what == "packed shards"),
                 f"finetune on the {what}, -np 2: exit {p.returncode}, "
                 f"{'a' if warned else 'no'} warning about compressed shards "
                 f"({p.stderr[-300:]})"):
            with np.load(os.path.join(out, "model.npz")) as z:
                got[what] = {k: z[k] for k in z.files}
    for what in ("plain shards", "packed shards"):
        if "list" in got and what in got:
            same = got[what].keys() == got["list"].keys() and all(
                np.array_equal(got[what][k], got["list"][k]) for k in got["list"])
            check(same, f"finetune on the {what}: the model the list trained, bit for bit")


def main():
    tmp = tempfile.mkdtemp(prefix="r50-tar-")
    model = os.path.join(tmp, "m.npz")
    subprocess.run([TOOL, "init", "7", model], check=True)
    test_equal_to_folder(tmp, model)
    test_resume(tmp, model)
    test_many_shards(tmp, model)
    test_finetune(tmp, model)
    rc = J.finish("test_tar_shards")
    if rc == 0:
        shutil.rmtree(tmp)
    return rc


if __name__ == "__main__":
    sys.exit(main())
