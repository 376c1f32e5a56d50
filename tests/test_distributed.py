#!/usr/bin/env python3
"""The main job under mpirun: `r50worker extract` on real photos plus broken files.

* -np 1, 2 and 3 (with different batch and chunk sizes) give bit-identical features and
  identical paths, labels and statuses; h5py reads shapes, dtypes and attributes.
* Kill tests: SIGKILL of one rank, and SIGTERM to mpirun, end the job non-zero within
  30 s; `--resume` then yields the uninterrupted file's features bit for bit.
* Edge cases: empty dataset, more ranks than images, only broken files, unwritable
  output, existing output without --resume, --resume with other weights or layers.

usage: test_distributed.py R50WORKER MODEL_TOOL
"""
import os
import signal
import subprocess
import sys
import tempfile
import time

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import photos  # noqa: E402

BIN, TOOL = sys.argv[1], sys.argv[2]
ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
           OMPI_MCA_rmaps_base_oversubscribe="1", HDF5_USE_FILE_LOCKING="FALSE")
FAILS = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        FAILS.append(what)


def mpirun(np_, *args, timeout=300):
    cmd = ["mpirun", "-np", str(np_), BIN, *args]
    t = time.time()
    p = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=timeout)
    print(f"  $ {' '.join(cmd)}  -> exit {p.returncode} in {time.time() - t:.1f}s", flush=True)
    return p


def read(path):
    with h5py.File(path, "r") as f:
        return {k: f[k][()] for k in ["features/pool5", "features/res5", "images/path",
                                       "images/label", "images/status", "images/error"]} | {
            "attrs": dict(f.attrs)}


def same_file(a, b, what):
    for k in ["features/pool5", "features/res5"]:
        check(a[k].tobytes() == b[k].tobytes(), f"{what}: {k} bit-identical")
    for k in ["images/path", "images/label", "images/status"]:
        check(np.array_equal(a[k], b[k]), f"{what}: {k} identical")


def main():
    tmp = tempfile.mkdtemp(prefix="r50-dist-")
    data = os.path.join(tmp, "photos")
    bad = photos.make_dataset(data)
    model = os.path.join(tmp, "m.npz")
    subprocess.run([TOOL, "init", "3", model], check=True)
    common = ["extract", "--model", model, "--layers", "pool5,res5", "--threads", "1", data]

    # ---- np 1 / 2 / 3 agree bit for bit
    runs = {}
    for np_, batch, chunk in [(1, 4, 8), (2, 3, 6), (3, 2, 4)]:
        out = os.path.join(tmp, f"np{np_}.h5")
        p = mpirun(np_, *common, "-o", out, "--batch", str(batch), "--chunk", str(chunk))
        check(p.returncode == 0, f"np {np_} exits 0 ({p.stderr[-600:]})")
        runs[np_] = read(out)
    ref = runs[1]
    n = len(ref["images/path"])
    check(n == len(photos.real_photos()[:40]) + len(bad), f"{n} rows")
    check(ref["features/pool5"].shape == (n, 2048) and ref["features/pool5"].dtype == np.float32,
          "pool5 (N, 2048) float32")
    check(ref["features/res5"].shape == (n, 2048, 7, 7), "res5 (N, 2048, 7, 7)")
    check(ref["images/label"].dtype == np.int32 and (ref["images/label"] == -1).all(),
          "labels int32, -1 for a flat folder")
    st = ref["images/status"]
    paths = [p.decode() for p in ref["images/path"]]
    check(paths == sorted(paths), "rows sorted by path")
    failed = sorted(p for p, s in zip(paths, st) if s == -1)
    check(st.dtype == np.int8 and set(bad) <= set(failed), f"broken files failed: {failed}")
    check(all(ref["images/error"][i] for i in range(n) if st[i] == -1) and
          all(not ref["images/error"][i] for i in range(n) if st[i] == 1),
          "an error message exactly for each failed row")
    check((st == 1).sum() >= 30, f"{(st == 1).sum()} photos done")
    a = ref["attrs"]
    check(a["arch"] == 50 and a["downsample_fb"] == 0 and list(a["size"]) == [224, 224] and
          a["layers"] == b"pool5,res5" and a["complete"] == 1 and len(a["model_sha256"]) == 64,
          f"root attributes {a}")
    check(np.allclose(a["mean"], [103.063, 115.903, 123.152]), "mean attribute")
    ok = st == 1
    check(np.abs(ref["features/pool5"][ok]).sum(axis=1).min() > 0, "done rows hold features")
    check(not ref["features/pool5"][~ok].any(), "failed rows hold zeros")
    for np_ in (2, 3):
        same_file(ref, runs[np_], f"np {np_} vs np 1")

    # ---- kill tests
    for how in ["kill-rank", "term-mpirun"]:
        out = os.path.join(tmp, f"{how}.h5")
        cmd = ["mpirun", "-np", "3", BIN, *common, "-o", out, "--batch", "1", "--chunk", "2"]
        p = subprocess.Popen(cmd, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, start_new_session=True)
        time.sleep(4.0)
        if how == "kill-rank":
            kids = subprocess.run(["pgrep", "-P", str(p.pid)], capture_output=True,
                                  text=True).stdout.split()
            check(len(kids) == 3, f"3 rank processes ({kids})")
            os.kill(int(kids[1]), signal.SIGKILL)
        else:
            p.send_signal(signal.SIGTERM)
        t = time.time()
        try:
            _, err = p.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            _, err = p.communicate()
        dt = time.time() - t
        check(p.returncode != 0 and dt < 30, f"{how}: exit {p.returncode} after {dt:.1f}s")
        with h5py.File(out, "r") as f:
            done = int((f["images/status"][()] != 0).sum())
            check(f.attrs["complete"] == 0, f"{how}: file not marked complete ({done} rows done)")
        r = mpirun(2, *common, "-o", out, "--batch", "4", "--chunk", "8", "--resume")
        check(r.returncode == 0, f"{how}: --resume exits 0 ({r.stderr[-600:]})")
        same_file(ref, read(out), f"{how} + resume")
        check(read(out)["attrs"]["complete"] == 1, f"{how}: complete after resume")

    # ---- edge cases
    empty = os.path.join(tmp, "empty")
    os.makedirs(empty)
    out = os.path.join(tmp, "e.h5")
    p = mpirun(2, "extract", "--model", model, empty, "-o", out)
    check(p.returncode == 1 and "no images in" in p.stderr and not os.path.exists(out),
          f"empty dataset: exit {p.returncode}, no file")

    few = os.path.join(tmp, "few")
    os.makedirs(few)
    for src in photos.real_photos()[:2]:
        os.symlink(src, os.path.join(few, os.path.basename(src)))
    out = os.path.join(tmp, "few.h5")
    p = mpirun(3, "extract", "--model", model, "--threads", "1", few, "-o", out)
    check(p.returncode == 0, f"3 ranks, 2 images: exit {p.returncode} {p.stderr[-300:]}")
    with h5py.File(out, "r") as f:
        check((f["images/status"][()] == 1).all() and f.attrs["complete"] == 1,
              "3 ranks, 2 images: both done")

    onlybad = os.path.join(tmp, "onlybad")
    photos.make_dataset(onlybad, n_photos=0)
    out = os.path.join(tmp, "bad.h5")
    p = mpirun(2, "extract", "--model", model, onlybad, "-o", out)
    with h5py.File(out, "r") as f:
        check(p.returncode == 3 and f.attrs["complete"] == 0 and
              (f["images/status"][()] == -1).all(),
              f"only broken files: exit {p.returncode}, file not complete")
    check("no image of" in p.stderr and "zz_text.jpg" in p.stderr, "only broken: names them")

    same = os.path.join(tmp, "same")  # --size none: no resize, one size for all
    os.makedirs(same)
    coffee = [p for p in photos.real_photos() if p.endswith("coffee.png")][0]
    for i in range(2):
        os.symlink(coffee, os.path.join(same, f"c{i}.png"))
    os.symlink(photos.real_photos()[0], os.path.join(same, "z.png"))
    out = os.path.join(tmp, "none.h5")
    p = mpirun(2, "extract", "--model", model, "--size", "none", "--layers", "res5",
               "--threads", "1", same, "-o", out)
    with h5py.File(out, "r") as f:
        check(p.returncode == 0 and f["features/res5"].shape == (3, 2048, 13, 19) and
              list(f["images/status"][()]) == [1, 1, -1] and list(f.attrs["size"]) == [0, 0]
              and b"every image must be 600x400" in f["images/error"][2],
              f"--size none: 600x400 kept, another size fails ({p.returncode})")

    p = mpirun(1, "extract", "--model", model, few, "-o", "/nonexistent/dir/x.h5")
    check(p.returncode == 1 and "/nonexistent/dir" in p.stderr, "unwritable output: exit 1")

    out = os.path.join(tmp, "np1.h5")
    before = os.path.getmtime(out)
    p = mpirun(1, *common, "-o", out)
    check(p.returncode == 1 and "--resume" in p.stderr and "--overwrite" in p.stderr and
          os.path.getmtime(out) == before, "existing output untouched without --resume")

    other = os.path.join(tmp, "other.npz")
    subprocess.run([TOOL, "init", "4", other], check=True)
    p = mpirun(1, "extract", "--model", other, "--layers", "pool5,res5", data, "-o", out,
               "--resume")
    check(p.returncode == 1 and "other weights" in p.stderr, "--resume with other weights")
    p = mpirun(1, "extract", "--model", model, "--layers", "pool5", data, "-o", out, "--resume")
    check(p.returncode == 1 and "layers" in p.stderr, "--resume with other layers")
    same_file(ref, read(out), "refused resumes left the file")

    if FAILS:
        print(f"test_distributed: {len(FAILS)} failure(s)")
        return 1
    print("test_distributed: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
