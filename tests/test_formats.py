#!/usr/bin/env python3
"""Output formats of extract, predict and export: --dtype float16 features equal the
float32 features' numpy astype(np.float16) bit for bit (any rank count), h5py reads
them as '<f2', --resume refuses another --dtype, predict stores float16 probabilities;
export --npy writes the done rows as .npy shards numpy loads, with CSV metadata; the
HDF5 layout: xarray (h5netcdf) opens every group with named dimensions, feature
chunks of at least 1 MiB whatever --chunk is, contiguous row metadata, non-ASCII
paths through .asstr(), and the table of failed rows, merged across --resume.

usage: test_formats.py R50WORKER MODEL_TOOL
"""
import os
import pty
import re
import select
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import jobutil as J  # noqa: E402
from jobutil import check, h5py, run  # noqa: E402

BIN, TOOL = sys.argv[1], sys.argv[2]


def attr(f, name):
    v = f.attrs[name]
    return v.decode() if isinstance(v, bytes) else str(v)


def test_float16(tmp, model):
    data = os.path.join(tmp, "tree")
    rows, bad = J.make_tree(data, n_photos=14)
    common = ["extract", "--model", model, "--threads", "1", "--size", "112",
              "--layers", "pool5,res5", data]
    f32, f16 = os.path.join(tmp, "f32.h5"), os.path.join(tmp, "f16.h5")
    check(run(2, BIN, *common, "-o", f32).returncode == 0, "float32 extract (-np 2): exit 0")
    check(run(3, BIN, *common, "--dtype", "float16", "--chunk", "3", "-o", f16).returncode == 0,
          "float16 extract (-np 3): exit 0")
    a, b = J.read(f32, ("pool5", "res5")), J.read(f16, ("pool5", "res5"))
    with h5py.File(f16, "r") as f:
        check(f["features/pool5"].dtype == np.dtype("<f2") and
              f["features/res5"].dtype == np.dtype("<f2"),
              f"h5py reads float16 features as <f2: {f['features/pool5'].dtype}")
        check(attr(f, "dtype") == "float16", f"attribute dtype: {attr(f, 'dtype')}")
    with h5py.File(f32, "r") as f:
        check(f["features/pool5"].dtype == np.dtype("<f4") and attr(f, "dtype") == "float32",
              "float32 features stay <f4")
    done = a["images/status"] == 1
    check(done.sum() == len(rows) - len(bad) and
          np.array_equal(a["images/status"], b["images/status"]),
          f"the same rows done ({int(done.sum())})")
    for layer in ("pool5", "res5"):
        want = a[f"features/{layer}"][done].astype(np.float16)
        got = b[f"features/{layer}"][done]
        check(got.tobytes() == want.tobytes(),
              f"{layer}: float16 == float32.astype(np.float16) bit for bit "
              f"({int((got.view(np.uint16) != want.view(np.uint16)).sum())} differ)")
    p = run(1, BIN, *common, "--dtype", "float32", "-o", f16, "--resume")
    check(p.returncode == 1 and "holds float16 features, this job asks for --dtype float32"
          in p.stderr, "--resume with another --dtype is refused, naming both")
    p = run(0, BIN, *common, "--dtype", "float64", "-o", os.path.join(tmp, "x.h5"))
    check(p.returncode == 2 and "float32|float16" in p.stderr, "--dtype float64: usage error")
    # predict: float16 probabilities, the same top class as float32's
    pr = ["predict", "--model", model, "--threads", "1", "--top", "1", data]
    p32 = run(1, BIN, *pr, "-o", os.path.join(tmp, "p32.h5"))
    p16 = run(1, BIN, *pr, "--dtype", "float16", "-o", os.path.join(tmp, "p16.h5"))
    check(p32.returncode == 0 and p16.returncode == 0, "predict float32 and float16: exit 0")
    with h5py.File(os.path.join(tmp, "p16.h5"), "r") as f16p, \
            h5py.File(os.path.join(tmp, "p32.h5"), "r") as f32p:
        q16, q32 = f16p["features/prob"][()], f32p["features/prob"][()]
        ok = f32p["images/status"][()] == 1
        check(q16.dtype == np.float16 and
              q16[ok].tobytes() == q32[ok].astype(np.float16).tobytes(),
              "predict --dtype float16: prob == float32 prob.astype(float16)")
    top = lambda out: [line.split("\t")[1] for line in out.splitlines()]  # noqa: E731
    same = sum(x == y for x, y in zip(top(p32.stdout), top(p16.stdout)))
    check(same >= len(top(p32.stdout)) - 1 and len(top(p32.stdout)) > 0,
          f"printed top-1 classes agree ({same}/{len(top(p32.stdout))})")


def read_export(out):
    """The export's shards, in order: (concatenated rows, csv rows, the npy files)."""
    import csv
    embs = sorted(os.listdir(os.path.join(out, "img_emb")))
    metas = sorted(os.listdir(os.path.join(out, "metadata")))
    x = [np.load(os.path.join(out, "img_emb", e)) for e in embs]
    rows = []
    for m in metas:
        with open(os.path.join(out, "metadata", m), newline="", encoding="utf-8",
                  errors="surrogateescape") as f:
            r = list(csv.reader(f))
        rows.append(r)
    return x, rows, embs, metas


def test_export(tmp, model):
    """export --npy: every done row, in the file's order, across shards; CSV metadata
    matching /images/path and labels; float16 kept; --normalize; refusal to overwrite."""
    data = os.path.join(tmp, "tree_export")
    rows, bad = J.make_tree(data, n_photos=11, classes=("cat", "dog, with comma", "zebra fish"))
    h5 = os.path.join(tmp, "e.h5")
    p = run(2, BIN, "extract", "--model", model, "--threads", "1", "--size", "64", "--batch",
            "4", "--layers", "pool5,res5", data, "-o", h5,
            env=dict(J.RUN_ENV, R50_PROGRESS_SECONDS="0"))
    check(p.returncode == 0, "extract: exit 0")
    shown = [int(k) for k in re.findall(r"info: progress (\d+)/\d+ images", p.stderr)]
    check(len(shown) >= 3 and shown == sorted(shown),
          f"extract with R50_PROGRESS_SECONDS=0: a progress line at every batch ({shown})")
    walked = [int(k) for k in re.findall(r"info: listing \S+: (\d+) images? in \d+ folders? "
                                         r"so far", p.stderr)]
    listed = re.findall(r"info: listed \S+: (\d+) images in (\d+) folders\n", p.stderr)
    check(len(walked) == 4 and walked == sorted(walked)  # (cat/nested the fourth)
          and listed == [(str(len(rows)), "4")],
          f"extract with R50_PROGRESS_SECONDS=0: the walk said how far it was at each "
          f"folder, then what it found ({walked}, {listed})")
    d = J.read(h5, ("pool5", "res5"))
    ok = d["images/status"] == 1
    with h5py.File(h5, "r") as f:
        paths = f["images/path"].asstr()[()]
    out = os.path.join(tmp, "exp")
    p = run(0, BIN, "export", h5, "--npy", out, "--rows-per-file", "4",
            env=dict(J.RUN_ENV, R50_PROGRESS_SECONDS="0"))
    check(p.returncode == 0, f"export --rows-per-file 4: exit 0 ({p.stderr.strip()[-200:]})")
    x, meta, embs, metas = read_export(out)
    n_ok = int(ok.sum())
    shown = re.findall(r"info: progress (\d+)/(\d+) rows \(\d+%\), [0-9.]+ rows/s, ETA \d+s",
                       p.stderr)
    check(shown == [(str(k), str(n_ok)) for k in range(1, n_ok)],
          f"R50_PROGRESS_SECONDS=0: a progress line after each row but the last, then the "
          f"summary ({shown[:3]}...)")
    check(embs == [f"img_emb_{i:05d}.npy" for i in range((n_ok + 3) // 4)] and
          metas == [f"metadata_{i:05d}.csv" for i in range(len(embs))],
          f"{n_ok} rows in {len(embs)} shards named as embedding-reader expects: {embs}")
    allx = np.concatenate(x) if x else np.zeros((0, 2048))
    check(all(a.ndim == 2 and a.dtype == np.float32 for a in x) and
          allx.tobytes() == d["features/pool5"][ok].tobytes(),
          "np.load of the shards, concatenated, equals the HDF5 rows with status 1")
    header = all(m[0] == ["path", "label", "row"] for m in meta)
    body = [r for m in meta for r in m[1:]]
    want = [[paths[i], str(d["images/label"][i]), str(i)] for i in np.nonzero(ok)[0]]
    check(header and body == want and [len(m) - 1 for m in meta] == [len(a) for a in x],
          "metadata rows (path, label, row) match /images/path, labels and the shards "
          "(a class name with a comma is quoted)")
    # a metadata CSV is a dataset list again (--root: the paths' folder): the rows it
    # names, with their labels and the same features
    again = os.path.join(tmp, "again.h5")
    p = run(2, BIN, "extract", "--model", model, "--threads", "1", "--size", "64",
            os.path.join(out, "metadata", "metadata_00001.csv"), "--root", data, "-o", again)
    if check(p.returncode == 0, f"extract of an export's metadata CSV: exit {p.returncode} "
                                f"({p.stderr.strip()[-200:]})"):
        e = J.read(again)
        rows_ = np.nonzero(ok)[0][4:8]
        check([x.decode() for x in e["images/path"]] == [paths[i] for i in rows_] and
              e["images/label"].tolist() == d["images/label"][rows_].tolist() and
              e["features/pool5"].tobytes() == d["features/pool5"][rows_].tobytes(),
              "the metadata CSV read back: its 4 rows, labels and features")
    p = run(0, BIN, "export", h5, "--npy", out)
    check(p.returncode == 1 and "--overwrite" in p.stderr,
          "a second export into the same folder is refused without --overwrite")
    p = run(0, BIN, "export", h5, "-o", out, "--overwrite", "--normalize", "--layer", "res5")
    x, meta, embs, _ = read_export(out)
    ref = d["features/res5"][ok].reshape(n_ok, -1).astype(np.float32)
    ref = ref / np.linalg.norm(ref, axis=1, keepdims=True)
    check(p.returncode == 0 and len(embs) == 1 and x[0].shape == ref.shape and
          np.allclose(x[0], ref, rtol=1e-5, atol=1e-7),
          f"-o (as --npy) --overwrite --normalize --layer res5: one shard {x[0].shape if x else None} of "
          "L2-normalised flattened rows; the earlier shards are gone")
    p = run(0, BIN, "export", h5, "--npy", out, "--overwrite", "--layer", "res4")
    check(p.returncode == 1 and "has no layer 'res4' (it holds: pool5,res5)" in p.stderr,
          "an absent layer is named with the ones the file holds")
    h16 = os.path.join(tmp, "e16.h5")
    run(1, BIN, "extract", "--model", model, "--threads", "1", "--size", "64", "--dtype",
        "float16", data, "-o", h16)
    out16 = os.path.join(tmp, "exp16")
    p = run(0, BIN, "export", h16, "--npy", out16)
    x16, _, _, _ = read_export(out16)
    check(p.returncode == 0 and len(x16) == 1 and x16[0].dtype == np.float16 and
          x16[0].tobytes() == d["features/pool5"][ok].astype(np.float16).tobytes(),
          "a float16 file exports float16 shards, bit for bit")
    # a stopped extract's file (rows still pending): the done rows, and a warning
    part = os.path.join(tmp, "part.h5")
    shutil.copy(h5, part)
    with h5py.File(part, "r+") as f:
        st = f["images/status"][()]
        st[np.nonzero(st == 1)[0][:3]] = 0
        f["images/status"][...] = st
        f.attrs["complete"] = 0
    p = run(0, BIN, "export", part, "--npy", os.path.join(tmp, "exp_part"))
    x, _, _, _ = read_export(os.path.join(tmp, "exp_part"))
    check(p.returncode == 0 and sum(len(a) for a in x) == n_ok - 3 and
          f"{part} is not finished: 3 of its {len(ok)} rows are still pending" in p.stderr,
          f"export of an unfinished file: its done rows, with a warning "
          f"({p.stderr.strip()[-200:]})")


def test_layout(tmp, model):
    import xarray as xr
    data = os.path.join(tmp, "tree_layout")
    rows, bad = J.make_tree(data, n_photos=9, classes=("cät", "dog", "zebra fish"))
    long_name = "dog/" + "l" * 240 + ".jpg"  # one long name: the path column is as wide
    shutil.copy(J.photos.real_photos()[1], os.path.join(data, long_name))
    h5 = os.path.join(tmp, "layout.h5")
    p = run(2, BIN, "extract", "--model", model, "--threads", "1", "--size", "64",
            "--layers", "pool5,res5,res4", "--chunk", "2", data, "-o", h5)
    check(p.returncode == 0, "extract pool5,res5,res4 --chunk 2: exit 0")
    n = len(rows) + 1
    with h5py.File(h5, "r") as f:
        for layer in ("pool5", "res5", "res4"):
            d = f[f"features/{layer}"]
            row_bytes = d.dtype.itemsize * int(np.prod(d.shape[1:]))
            want = min(n, -(-(1 << 20) // row_bytes))
            check(d.chunks is not None and d.chunks[0] == want and d.chunks[1:] == d.shape[1:],
                  f"{layer}: chunks of {d.chunks} rows ({want} rows: >= 1 MiB or the whole "
                  "dataset), not --chunk")
        check(all(f[k].chunks is None for k in ("images/label", "images/status")),
              "label and status are contiguous")
        dp = f["images/path"]
        stored, padded = dp.id.get_storage_size(), dp.shape[0] * dp.dtype.itemsize
        check(dp.compression == "gzip" and dp.dtype.itemsize == len(long_name) and
              stored < padded / 3,
              f"path: deflated chunks, {dp.dtype.itemsize} bytes wide (the long name), "
              f"{stored} bytes stored of {padded} padded")
        paths = f["images/path"].asstr()[()].tolist()
        check(any(p.startswith("cät/") for p in paths), "h5py .asstr() reads a non-ASCII path")
        st = f["images/status"][()]
        er, msg = f["errors/row"][()], f["errors/message"].asstr()[()].tolist()
        check(sorted(er.tolist()) == er.tolist() and
              set(er.tolist()) == set(np.nonzero(st == -1)[0].tolist()) and len(bad) == len(er)
              and all(paths[r] in m for r, m in zip(er, msg)),
              f"/errors: one entry per failed row, naming its path ({msg})")
    feats = xr.open_dataset(h5, engine="h5netcdf", group="features")
    dims = {k: v.dims for k, v in feats.data_vars.items()}
    check(dims == {"pool5": ("image", "channel"), "res5": ("image", "channel", "y", "x"),
                   "res4": ("image", "channel_1024", "y_4", "x_4")},
          f"xarray opens /features with named dimensions: {dims}")
    check(feats["pool5"].shape == (n, 2048) and
          np.array_equal(feats["pool5"].values, J.read(h5)["features/pool5"]),
          "xarray reads the same pool5 values as h5py")
    imgs = xr.open_dataset(h5, engine="h5netcdf", group="images")
    check({k: v.dims for k, v in imgs.data_vars.items()} ==
          {"path": ("image",), "label": ("image",), "status": ("image",)},
          "xarray opens /images on the image dimension")
    root = xr.open_dataset(h5, engine="h5netcdf")
    check(root["classes"].dims == ("class",) and root.sizes["class"] == 3,
          f"xarray opens the root: classes on the class dimension ({dict(root.sizes)})")
    errs = xr.open_dataset(h5, engine="h5netcdf", group="errors")
    check(errs["row"].dims == ("failed",) and errs.sizes["failed"] == len(bad),
          "xarray opens /errors on the failed dimension")
    for x in (feats, imgs, root, errs):
        x.close()
    # --resume retries the failed rows: a repaired file leaves the table, the other stays
    fixed = sorted(bad)[0]
    shutil.copy(J.photos.real_photos()[0], os.path.join(data, fixed))
    p = run(1, BIN, "extract", "--model", model, "--threads", "1", "--size", "64",
            "--layers", "pool5,res5,res4", "--chunk", "2", data, "-o", h5, "--resume")
    with h5py.File(h5, "r") as f:
        paths = f["images/path"].asstr()[()].tolist()
        er, msg = f["errors/row"][()].tolist(), f["errors/message"].asstr()[()].tolist()
        st = f["images/status"][()]
    check(p.returncode == 0 and st[paths.index(fixed)] == 1 and
          [paths[r] for r in er] == sorted(set(bad) - {fixed}) and
          set(er) == set(np.nonzero(st == -1)[0].tolist()),
          f"--resume after repairing {fixed}: done, and /errors holds only the others ({msg})")


def on_terminal(*args, timeout=300):
    """Runs the program alone (no mpirun), its stderr a terminal (a pty); returns its exit
    code and what it wrote there, the terminal's "\\r\\n" read back as "\\n"."""
    master, slave = pty.openpty()
    cmd = [str(a) for a in args]
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=slave, env=dict(J.RUN_ENV, R50_PROGRESS_SECONDS="0"),
                         start_new_session=True)
    os.close(slave)
    out, end = b"", time.time() + timeout
    while time.time() < end:
        if not select.select([master], [], [], 1)[0]:
            continue
        try:
            chunk = os.read(master, 1 << 16)
        except OSError:  # EIO: every holder of the terminal is gone
            break
        if not chunk:
            break
        out += chunk
    os.close(master)
    if p.poll() is None:
        p.kill()
    rc = p.wait()
    print(f"  $ {' '.join(cmd)}  (stderr a terminal) -> exit {rc}", flush=True)
    return rc, out.replace(b"\r\n", b"\n")


def log_lines_start_clean(out):
    """Whether every log line starts a line: at the start or after a newline."""
    starts = [m.start() for m in re.finditer(rb"\[0/1 [^\]]*\] (?:info|warning|error):", out)]
    return bool(starts) and all(k == 0 or out[k - 1:k] == b"\n" for k in starts)


def test_terminal(tmp, model):
    """On a terminal a progress line is redrawn in place and cleared to its end; the last
    one is kept; a log line never runs on after one: it ends it first."""
    data = os.path.join(tmp, "tree_tty")
    J.make_tree(data, n_photos=7)
    h5 = os.path.join(tmp, "tty.h5")
    rc, out = on_terminal(BIN, "extract", "--model", model, "--threads", "1", "--size", "64",
                          "--batch", "2", data, "-o", h5)
    bars = re.findall(rb"\r[#.]{30} (\d+)/(\d+) images \(\d+ failed\), [0-9.]+ img/s, "
                      rb"ETA \d+s\x1b\[K(\n?)", out)
    check(rc == 0 and len(bars) >= 3 and [int(b[0]) for b in bars] == sorted(int(b[0]) for b in bars)
          and bars[-1][0] == bars[-1][1] and bars[-1][2] == b"\n"
          and all(not b[2] for b in bars[:-1]) and log_lines_start_clean(out),
          f"extract: a bar redrawn ({len(bars)} times), cleared to the line end, the last "
          f"kept; log lines each on a line of their own ({out[-300:]!r})")
    rc, out = on_terminal(BIN, "export", h5, "-o", os.path.join(tmp, "tty_npy"))
    shown = re.findall(rb"\rexport (\d+)/(\d+) rows \(\d+%\), [0-9.]+ rows/s, ETA \d+s"
                       rb"\x1b\[K(\n?)", out)
    check(rc == 0 and len(shown) >= 2 and shown[-1][0] == shown[-1][1]
          and shown[-1][2] == b"\n" and log_lines_start_clean(out),
          f"export: its line redrawn ({len(shown)} times), the last kept, then the summary "
          f"on a line of its own ({out[-300:]!r})")
    rc, out = on_terminal(BIN, "finetune", data, "--model", model, "--size", 64, "--crop", 56,
                          "--batch", 2, "--steps", 4, "--log-every", 1, "--checkpoint-every",
                          2, "--threads", 1, "--out", os.path.join(tmp, "tty_run"))
    steps = re.findall(rb"\repoch \d iter (\d)/4 loss [0-9.]+ acc [0-9.]+ lr \S+ [0-9.]+ img/s "
                       rb"ETA \d+s\x1b\[K", out)
    kept = re.findall(rb"ETA \d+s\x1b\[K\n\[0/1 [^\]]*\] info: checkpoint", out)
    check(rc == 0 and steps == [b"1", b"2", b"3", b"4"] and len(kept) == 2
          and log_lines_start_clean(out),
          f"finetune: a line a step, redrawn; a checkpoint's log line ends it, rather than "
          f"run on after it ({out[-400:]!r})")


def main():
    tmp = tempfile.mkdtemp(prefix="r50-formats-")
    model = os.path.join(tmp, "m.npz")
    subprocess.run([TOOL, "init", "7", model], check=True)
    test_float16(tmp, model)
    test_export(tmp, model)
    test_layout(tmp, model)
    test_terminal(tmp, model)
    rc = J.finish("test_formats")
    if rc == 0:
        shutil.rmtree(tmp)
    return rc


if __name__ == "__main__":
    sys.exit(main())
