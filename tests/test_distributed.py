#!/usr/bin/env python3
"""The main job under mpirun: `r50worker extract` on the dataset shapes users have.

* An ImageFolder tree (class subfolders, one nested, a class name with a space, broken
  files inside classes) on -np 1, 2 and 3 with different batch and chunk sizes gives
  bit-identical features and identical paths, labels (checked against the folders on
  every row, whichever rank computed it) and statuses; h5py reads shapes, dtypes,
  attributes and the class names.
* The same images as a flat folder and as a `path label` list file, on -np 2, give the
  same features row for row.
* Kill tests: SIGKILL of one rank, and SIGTERM to mpirun, in the middle of a longer job,
  end it non-zero within 30 s; `--resume` then yields the uninterrupted file.
* Edge cases: empty dataset, more ranks than images, only broken files, unwritable
  output, existing output without --resume, --resume with other weights or layers.
* Ranks mpirun leaves unbound (--bind-to none) divide the node's CPUs among them by
  default; bound ones (--bind-to core) say nothing of it. In a control group with a
  CPU quota of 1 CPU (made for the test where it runs as root), one thread.

usage: test_distributed.py R50WORKER MODEL_TOOL
"""
import base64
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import photos  # noqa: E402
from jobutil import (RUN_ENV, check, finish, make_list, make_many, make_tree, read,  # noqa: E402
                     remove_group, run, same_file, start, wait, rank_pids, wait_for_rows)

BIN, TOOL = sys.argv[1], sys.argv[2]
BOTH = ("pool5", "res5")


def test_tree(tmp, model):
    data = os.path.join(tmp, "tree")
    rows, bad = make_tree(data)
    common = ["extract", "--model", model, "--layers", "pool5,res5", "--threads", "1"]
    runs = {}
    for np_, batch, chunk in [(1, 4, 8), (2, 3, 6), (3, 2, 4)]:
        out = os.path.join(tmp, f"tree{np_}.h5")
        p = run(np_, BIN, *common, data, "-o", out, "--batch", str(batch), "--chunk", str(chunk))
        check(p.returncode == 0, f"tree, np {np_}: exit 0 ({p.stderr[-600:]})")
        runs[np_] = read(out, BOTH)
    ref = runs[1]
    paths = ref["images/path"].astype(str).tolist()
    n = len(paths)
    check(sorted(rows) == paths, f"tree: rows are the {len(rows)} image files in path order")
    check(ref["classes"] == ["cat", "dog", "zebra fish"], f"tree: classes {ref['classes']}")
    for np_ in (1, 2, 3):
        labels = runs[np_]["images/label"].tolist()
        want = [rows[p] for p in paths]
        check(labels == want, f"tree, np {np_}: every row's label is its class folder's index")
    check(ref["features/pool5"].shape == (n, 2048) and ref["features/pool5"].dtype == np.float32,
          "pool5 (N, 2048) float32")
    check(ref["features/res5"].shape == (n, 2048, 7, 7), "res5 (N, 2048, 7, 7)")
    st = ref["images/status"]
    failed = sorted(p for p, s in zip(paths, st) if s == -1)
    check(st.dtype == np.int8 and bad <= set(failed), f"broken files failed: {failed}")
    errs = ref["images/error"]
    check(all(errs[i] for i in range(n) if st[i] == -1) and
          all(not errs[i] for i in range(n) if st[i] == 1),
          "an error message exactly for each failed row")
    i_text = paths.index(os.path.join("dog", "zz_text.jpg"))
    check(errs[i_text].decode() == "not a JPEG, PNG, WebP, GIF, BMP, PNM, TIFF, JPEG 2000, HEIF, AVIF or JPEG XL file: dog/zz_text.jpg",
          f"error: cause first, path relative to the root: {errs[i_text]!r}")
    check((st == 1).sum() >= 30, f"{(st == 1).sum()} photos done")
    a = ref["attrs"]
    check(a["arch"] == 50 and a["downsample_fb"] == 0 and list(a["size"]) == [224, 224] and
          a["layers"] == b"pool5,res5" and a["complete"] == 1 and len(a["model_sha256"]) == 64
          and a["n_images"] == n and a["format"] == b"r50worker-features/3",
          f"root attributes {a}")
    check(np.allclose(a["mean"], [103.063, 115.903, 123.152]), "mean attribute")
    ok = st == 1
    check(np.abs(ref["features/pool5"][ok]).sum(axis=1).min() > 0, "done rows hold features")
    check(not ref["features/pool5"][~ok].any(), "failed rows hold zeros")
    for np_ in (2, 3):
        same_file(ref, runs[np_], f"tree, np {np_} vs np 1", BOTH)

    # The same images as a flat folder and as a list file (labels from the list).
    flat = os.path.join(tmp, "flat")
    os.makedirs(flat)
    for p in paths:
        os.symlink(os.path.join(data, p), os.path.join(flat, p.replace("/", "__")))
    lst = make_list(tmp, "list.txt", [(os.path.join("tree", p), 7) for p in paths])
    for name, spec, extra in [("flat", flat, []), ("list", lst, ["--root", tmp])]:
        out = os.path.join(tmp, f"{name}.h5")
        p = run(2, BIN, *common, spec, *extra, "-o", out, "--batch", "5")
        check(p.returncode == 0, f"{name}, np 2: exit 0 ({p.stderr[-400:]})")
        got = read(out, BOTH)
        order = np.argsort([q.replace("/", "__") for q in paths]) if name == "flat" else \
            np.arange(n)
        check(got["features/pool5"].tobytes() == ref["features/pool5"][order].tobytes() and
              got["features/res5"].tobytes() == ref["features/res5"][order].tobytes(),
              f"{name}: features equal the tree's row for row")
        want_labels = [-1] * n if name == "flat" else [7] * n
        check(got["images/label"].tolist() == want_labels, f"{name}: labels {want_labels[:1]}")
    return ref


def test_kills(tmp, model):
    data = os.path.join(tmp, "many")
    make_many(data, 320)
    common = ["extract", "--model", model, "--threads", "1", "--size", "112", data]
    ref_out = os.path.join(tmp, "many_ref.h5")
    p = run(3, BIN, *common, "-o", ref_out, "--batch", "4")
    check(p.returncode == 0, f"uninterrupted reference: exit 0 ({p.stderr[-300:]})")
    ref = read(ref_out)
    for how in ["kill-rank", "term-mpirun"]:
        out = os.path.join(tmp, f"{how}.h5")
        job = start(3, BIN, *common, "-o", out, "--batch", "1", "--chunk", "2")
        midway = wait_for_rows(out, 12, 120)
        if how == "kill-rank":
            kids = rank_pids(job)
            check(len(kids) == 3, f"3 rank processes ({kids})")
            os.kill(kids[1], signal.SIGKILL)
        else:
            job.send_signal(signal.SIGTERM)
        rc, err, dt, timed_out = wait(job, 30)
        check(midway and rc != 0 and not timed_out,
              f"{how}: exit {rc} after {dt:.1f}s (stopped midway: {midway})")
        d = read(out)
        done = int((d["images/status"] == 1).sum())
        check(d["attrs"]["complete"] == 0 and 0 < done < 160,
              f"{how}: file not complete, {done} of 160 rows done")
        r = run(2, BIN, *common, "-o", out, "--batch", "4", "--chunk", "8", "--resume")
        check(r.returncode == 0, f"{how}: --resume exits 0 ({r.stderr[-600:]})")
        same_file(ref, read(out), f"{how} + resume")
        check(read(out)["attrs"]["complete"] == 1, f"{how}: complete after resume")


def test_edges(tmp, model, ref_file):
    empty = os.path.join(tmp, "empty")
    os.makedirs(empty)
    out = os.path.join(tmp, "e.h5")
    p = run(2, BIN, "extract", "--model", model, empty, "-o", out)
    check(p.returncode == 1 and "no images in" in p.stderr and not os.path.exists(out),
          f"empty dataset: exit {p.returncode}, no file")

    few = os.path.join(tmp, "few")
    os.makedirs(os.path.join(few, "a"))
    os.makedirs(os.path.join(few, "b"))
    for cls, src in zip("ab", photos.real_photos()[:2]):
        os.symlink(src, os.path.join(few, cls, os.path.basename(src)))
    out = os.path.join(tmp, "few.h5")
    p = run(3, BIN, "extract", "--model", model, "--threads", "1", few, "-o", out)
    check(p.returncode == 0, f"3 ranks, 2 images: exit {p.returncode} {p.stderr[-300:]}")
    d = read(out)
    check((d["images/status"] == 1).all() and d["attrs"]["complete"] == 1 and
          d["images/label"].tolist() == [0, 1], "3 ranks, 2 images in 2 classes: both done")

    onlybad = os.path.join(tmp, "onlybad")
    photos.make_dataset(onlybad, n_photos=0)
    out = os.path.join(tmp, "bad.h5")
    p = run(2, BIN, "extract", "--model", model, onlybad, "-o", out)
    d = read(out)
    check(p.returncode == 3 and d["attrs"]["complete"] == 0 and
          (d["images/status"] == -1).all(),
          f"only broken files: exit {p.returncode}, file not complete")
    check("no image of" in p.stderr and "zz_text.jpg" in p.stderr and
          "0 through the network" in p.stderr, "only broken: names them, runs no forward")

    same = os.path.join(tmp, "same")  # --size none: no resize, one size for all
    os.makedirs(same)
    coffee = [p for p in photos.real_photos() if p.endswith("coffee.png")][0]
    for i in range(2):
        os.symlink(coffee, os.path.join(same, f"c{i}.png"))
    os.symlink(photos.real_photos()[0], os.path.join(same, "z.png"))
    # first in order, an image too small for the network (a 1x1 PNG): not the size
    # every image must have (it made every other one fail, then the job end)
    with open(os.path.join(same, "a_tiny.png"), "wb") as f:
        f.write(base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42"
                                 "mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="))
    out = os.path.join(tmp, "none.h5")
    p = run(2, BIN, "extract", "--model", model, "--size", "none", "--layers", "res5",
            "--threads", "1", same, "-o", out)
    d = read(out, ("res5",))
    check(p.returncode == 0 and d["features/res5"].shape == (4, 2048, 13, 19) and
          list(d["images/status"]) == [-1, 1, 1, -1] and list(d["attrs"]["size"]) == [0, 0]
          and all(b"every image must be 600x400" in d["images/error"][i] for i in (0, 3)),
          f"--size none: 600x400 kept (not a first 1x1 image's size), another size fails "
          f"({p.returncode}: {p.stderr[-300:]})")

    p = run(1, BIN, "extract", "--model", model, few, "-o", "/nonexistent/dir/x.h5")
    check(p.returncode == 1 and "/nonexistent/dir" in p.stderr, "unwritable output: exit 1")

    job_ini = os.path.join(tmp, "bad.ini")
    with open(job_ini, "w") as f:
        f.write("[predict]\nbatchsize = 4\n")
    # A failure every rank shares, or one rank 0 relays, is logged once, not per rank
    def error_lines(p):
        return [l for l in p.stderr.splitlines() if "] error: " in l]

    for what, args in (("a missing list", ["--model", model, "nothere.txt"]),
                       ("a missing model", ["--model", "nothere.npz", few]),
                       ("an unwritable output", ["--model", model, few])):
        out = "/nonexistent/dir/x.h5" if what == "an unwritable output" else "x.h5"
        p = run(3, BIN, "extract", "--threads", "1", *args, "-o", out, cwd=tmp)
        lines = error_lines(p)
        check(p.returncode != 0 and len(lines) == 1 and lines[0].startswith("[0/3 "),
              f"{what} on 3 ranks: one error line, rank 0's: {lines}")
    cmd = ["mpirun", "-np", "1", BIN, "extract", "--threads", "1", "--model", model, few,
           "-o", "x.h5", ":", "-np", "1", BIN, "extract", "--threads", "1", "--model",
           "nothere.npz", few, "-o", "x.h5"]
    p = subprocess.run(cmd, env=RUN_ENV, cwd=tmp, capture_output=True, text=True, timeout=120)
    lines = error_lines(p)
    check(p.returncode != 0 and len(lines) == 1 and "rank 1 (" in lines[0] and
          "nothere.npz" in lines[0],
          f"rank 1's own failure: one line, naming rank 1 and the cause: {lines}")

    # A command-line mistake, seen by every rank before MPI starts: rank 0 says it, once;
    # a --labels file a rank cannot read may be on its node alone: each rank says it
    # (those mpirun has not stopped yet: at least one)
    for what, args, want in (("an unknown option", ["--bogus"], 1),
                             ("a bad value", ["--batch", "0"], 1),
                             ("a bad --job key", ["--job", job_ini], 1),
                             ("an unreadable --labels", ["--labels", "nothere.txt"], 0)):
        p = run(3, BIN, "predict", *args, few, cwd=tmp)
        lines = [l for l in p.stderr.splitlines() if l.startswith("r50worker predict: ")]
        check(p.returncode == 2 and (len(lines) == want if want else len(lines) >= 1),
              f"{what} on 3 ranks: {want or 'some'} line(s) saying it: {lines}")

    data = os.path.join(tmp, "tree")
    common = ["extract", "--model", model, "--layers", "pool5,res5", "--threads", "1", data]
    out = os.path.join(tmp, "tree1.h5")
    before = os.path.getmtime(out)
    p = run(1, BIN, *common, "-o", out)
    check(p.returncode == 1 and "--resume" in p.stderr and "--overwrite" in p.stderr and
          os.path.getmtime(out) == before, "existing output untouched without --resume")
    other = os.path.join(tmp, "other.npz")
    subprocess.run([TOOL, "init", "4", other], check=True)
    p = run(1, BIN, "extract", "--model", other, "--layers", "pool5,res5", data, "-o", out,
            "--resume")
    check(p.returncode == 1 and "other weights" in p.stderr, "--resume with other weights")
    p = run(1, BIN, "extract", "--model", model, "--layers", "pool5", data, "-o", out,
            "--resume")
    check(p.returncode == 1 and "layers" in p.stderr, "--resume with other layers")
    same_file(ref_file, read(out, BOTH), "refused resumes left the file", BOTH)
    p = run(2, BIN, *common, "-o", out, "--resume")
    nbad = int((ref_file["images/status"] == -1).sum())
    check(p.returncode == 0 and f"0 ok, {nbad} failed of {nbad} pending" in p.stderr,
          f"--resume of a complete file retries only the failed rows: exit {p.returncode}")
    same_file(ref_file, read(out, BOTH), "resuming a complete file changes nothing", BOTH)


def test_unbound(tmp, ref_file):
    """Ranks that mpirun binds to no CPUs of their own (--bind-to none, as MPICH leaves
    them) share their node's CPUs: --threads 0 divides them among those ranks."""
    env = {k: v for k, v in RUN_ENV.items() if k not in ("OMP_NUM_THREADS",
                                                         "SLURM_CPUS_PER_TASK")}
    cpus = len(os.sched_getaffinity(0))
    data = os.path.join(tmp, "tree")
    model = os.path.join(tmp, "m.npz")
    for bind, shared in [("none", True), ("core", False)]:
        out = os.path.join(tmp, f"bind_{bind}.h5")
        p = run(0, "mpirun", "-np", "2", "--bind-to", bind, BIN, "extract", "--model", model,
                "--layers", "pool5", data, "-o", out, env=env)
        want = max(1, cpus // 2) if shared else 1
        said = f"2 ranks of this node share its {cpus} CPUs" in p.stderr
        check(p.returncode == 0 and f"on 2 ranks x {want} thread" in p.stderr and
              said == shared, f"--bind-to {bind} on {cpus} CPUs: {want} thread(s) a rank, "
              f"{'said' if shared else 'nothing said'} ({p.stderr.strip()[-300:]})")
        if p.returncode == 0:
            same_file(ref_file, read(out, ("pool5",)), f"--bind-to {bind} vs np 1", ("pool5",))
    p = run(0, "mpirun", "-np", "2", "--bind-to", "none", BIN, "extract", "--model", model,
            "--threads", str(cpus), data, "-o", os.path.join(tmp, "bind_asked.h5"), env=env)
    check(p.returncode == 0 and f"on 2 ranks x {cpus} thread" in p.stderr and
          f"run {cpus} compute threads each: they take turns" in p.stderr,
          f"--bind-to none --threads {cpus}: as asked, with a warning ({p.stderr.strip()[-300:]})")


def quota_group(cpus):
    """A control group whose CPU quota grants `cpus` CPUs (cgroup v1's cpu controller,
    else v2's), made for the test; None where this process may not make one."""
    import uuid
    name = f"r50test-{uuid.uuid4().hex[:8]}"
    for mount, v2 in [("/sys/fs/cgroup/cpu", False), ("/sys/fs/cgroup", True)]:
        usable = "cpu" in open_or_empty(os.path.join(mount, "cgroup.subtree_control")).split() \
            if v2 else os.path.isfile(os.path.join(mount, "cpu.cfs_quota_us"))
        if not usable:
            continue
        g = os.path.join(mount, name)
        try:
            os.mkdir(g)
            if v2:
                with open(os.path.join(g, "cpu.max"), "w") as f:
                    f.write(f"{cpus * 100000} 100000")
            else:
                with open(os.path.join(g, "cpu.cfs_period_us"), "w") as f:
                    f.write("100000")
                with open(os.path.join(g, "cpu.cfs_quota_us"), "w") as f:
                    f.write(str(cpus * 100000))
            return g
        except OSError:
            if os.path.isdir(g):
                os.rmdir(g)
    return None


def open_or_empty(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def test_quota(tmp, ref_file):
    """In a container whose CPU limit is below the CPUs of its affinity mask (a control
    group's CPU quota), --threads 0 keeps within the quota."""
    cpus = len(os.sched_getaffinity(0))
    g = quota_group(1) if cpus > 1 else None
    if g is None:
        print("skip --threads under a CPU quota: no control group can be made here "
              f"(root and a writable cpu controller are needed), or 1 CPU ({cpus})")
        return
    env = {k: v for k, v in RUN_ENV.items() if k not in ("OMP_NUM_THREADS",
                                                         "SLURM_CPUS_PER_TASK")}
    data, model = os.path.join(tmp, "tree"), os.path.join(tmp, "m.npz")
    inside = ["sh", "-c", f'echo $$ > "{g}/cgroup.procs" && exec "$@"', "sh"]
    try:
        out = os.path.join(tmp, "quota.h5")
        p = run(0, *inside, BIN, "extract", "--model", model, "--layers", "pool5", data,
                "-o", out, env=env)
        check(p.returncode == 0 and "on 1 rank x 1 thread" in p.stderr and
              "grants 1 CPU of time" in p.stderr,
              f"a quota of 1 CPU on {cpus} CPUs: 1 thread, said ({p.stderr.strip()[-300:]})")
        if p.returncode == 0:
            same_file(ref_file, read(out), "under a CPU quota vs np 1", ("pool5",))
        p = run(0, *inside, BIN, "extract", "--model", model, "--layers", "pool5", data,
                "--threads", "2", "-o", os.path.join(tmp, "quota2.h5"), env=env)
        check(p.returncode == 0 and "on 1 rank x 2 threads" in p.stderr and
              "2 compute threads a rank exceed it" in p.stderr,
              f"--threads 2 under that quota: as asked, warned ({p.stderr.strip()[-300:]})")
    finally:
        remove_group(g)


def main():
    tmp = tempfile.mkdtemp(prefix="r50-dist-")
    model = os.path.join(tmp, "m.npz")
    subprocess.run([TOOL, "init", "3", model], check=True)
    t = time.time()
    ref = test_tree(tmp, model)
    test_kills(tmp, model)
    test_edges(tmp, model, ref)
    test_unbound(tmp, ref)
    test_quota(tmp, ref)
    print(f"({time.time() - t:.0f} s)")
    rc = finish("test_distributed")
    if rc == 0:
        shutil.rmtree(tmp)
    return rc


if __name__ == "__main__":
    sys.exit(main())
