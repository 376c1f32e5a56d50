#!/usr/bin/env python3
"""The output file: one job at a time, resumed only by the job that made it, and
every broken or foreign file named for what it is. On 1 and 2 ranks.

* Lock: while a job writes OUT, even suspended (SIGSTOP, as Ctrl-Z does), a second job
  on OUT — plain, --overwrite or --resume — is refused naming the holder (pid, host,
  lock file) and leaves it alone; the first job, continued, finishes a whole file. A
  lock whose holder is gone (a dead pid on this host, the same SLURM job id, another
  host's silent for too long) is taken over with a warning; a fresh one from another
  host is respected.
* --resume refuses another --fast-decode, --exif-rotate or --max-pixels, and a list
  whose labels or paths changed, naming the option or the first differing row.
* --resume of a file that does not exist or is empty, or of an empty HDF5 file a
  killed job left, creates it; of a truncated file says it is truncated; of a damaged
  attribute names it; of a foreign file (HDF5 or not) or an older r50worker's file
  refuses and leaves it untouched.
* --reuse OLD.h5 copies the rows OLD holds done into a file equal to a fresh one, on a
  dataset that changed (rows added, removed, renamed, labels renumbered), float32 and
  float16; from two OLD files in turn (command line or job file), too; from an OLD
  holding more layers than the job; an OLD lacking a layer, of other options or not a
  feature file is refused.
* -o /dev/null (with --overwrite) or a folder: exit 1 with the cause, no crash; -o into
  a folder that does not exist says so.

usage: test_robust_output.py R50WORKER MODEL_TOOL
"""
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from jobutil import (ENV, check, finish, make_list, make_many, make_tree,  # noqa: E402
                     rank_pids, read, run, same_file, signal_all, start, suspend,
                     wait, wait_for_rows)

import h5py  # noqa: E402

BIN, TOOL = sys.argv[1], sys.argv[2]


def digest(path):
    with open(path, "rb") as f:
        return hash(f.read())


def write_lock(path, host, pid, start=0, job="", age=0):
    with open(path + ".lock", "w") as f:
        f.write(f"r50worker output lock\nhost={host}\npid={pid}\nstart={start}\n"
                f"slurm_job={job}\nsince={int(time.time()) - age}\n")
    if age:
        t = time.time() - age
        os.utime(path + ".lock", (t, t))


def test_lock(tmp, model):
    data = os.path.join(tmp, "many")
    make_many(data, 200)  # rows left after the first ones, at any CPU's speed
    common = ["extract", "--model", model, "--threads", "1", "--size", "112", data]
    out = os.path.join(tmp, "locked.h5")
    job = start(1, BIN, *common, "-o", out, "--batch", "1")
    check(wait_for_rows(out, 3, 120), "first job under way")
    # suspended, its lock held however long the second jobs take
    ranks = rank_pids(job)
    suspend(ranks)
    extras = ([], ["--overwrite"], ["--resume"])
    seconds = [start(2, BIN, *common, "-o", out, *extra) for extra in extras]
    for extra, second in zip(extras, seconds):
        rc, err, _, _ = wait(second, 120)
        check(rc == 1 and "is being written by another r50worker job" in err
              and f"on host {socket.gethostname()}" in err and out + ".lock" in err,
              f"second job {' '.join(extra) or '(plain)'} refused naming the holder ({rc})")
    check(job.poll() is None and len(ranks) == 1, "the first job was there all along")
    signal_all(ranks, signal.SIGCONT)
    rc, err, _, _ = wait(job, 300)
    d = read(out)
    check(rc == 0 and d["attrs"]["complete"] == 1 and (d["images/status"] != 0).all(),
          f"the first job finished a whole file (exit {rc})")
    check(not os.path.exists(out + ".lock"), "its lock is gone")

    small = os.path.join(tmp, "small")
    make_many(small, 3)
    dead = subprocess.Popen(["true"])
    dead.wait()
    cases = [("a dead pid on this host", dict(host=socket.gethostname(), pid=dead.pid), True),
             ("this host, a recycled pid", dict(host=socket.gethostname(), pid=os.getpid(),
                                                 start=1), True),
             ("another host, fresh", dict(host="elsewhere", pid=1), False),
             ("another host, silent for 20 min", dict(host="elsewhere", pid=1, age=1200), True),
             ("an earlier run of this SLURM job", dict(host="elsewhere", pid=1, job="4242"),
              True)]
    for what, lock, taken in cases:
        o = os.path.join(tmp, "stale.h5")
        for f in (o, o + ".lock"):
            if os.path.exists(f):
                os.remove(f)
        write_lock(o, **lock)
        env = dict(ENV, SLURM_JOB_ID="4242") if lock.get("job") else None
        p = run(1, BIN, "extract", "--model", model, "--threads", "1", small, "-o", o, env=env)
        if taken:
            check(p.returncode == 0 and "removing the stale lock" in p.stderr and
                  not os.path.exists(o + ".lock"), f"lock of {what}: taken over ({p.returncode})")
        else:
            check(p.returncode == 1 and "pid 1 on host elsewhere" in p.stderr and
                  os.path.exists(o + ".lock") and not os.path.exists(o),
                  f"lock of {what}: respected ({p.returncode})")


def test_resume_checks(tmp, model):
    tree = os.path.join(tmp, "tree")
    rows, bad = make_tree(tree, n_photos=8)
    common = ["extract", "--model", model, "--threads", "1", "--size", "64"]
    ref = os.path.join(tmp, "ref.h5")
    p = run(2, BIN, *common, tree, "-o", ref)
    check(p.returncode == 0, "reference")
    before = digest(ref)
    for extra, want in [(["--fast-decode"], "made without --fast-decode, this job runs with"),
                        (["--exif-rotate"], "made without --exif-rotate"),
                        (["--max-pixels", "1000"], "--max-pixels 178956970, this job uses 1000"),
                        (["--size", "160"], "--size 64x64, this job uses 160x160"),
                        (["--model", "none", "--arch", "101"],
                         "ResNet-50 features, this job runs ResNet-101")]:
        p = run(1, BIN, *common, tree, "-o", ref, "--resume", *extra)
        check(p.returncode == 1 and want in p.stderr, f"--resume {' '.join(extra)}: refused "
                                                      f"({p.stderr.strip()[-200:]})")
    check(digest(ref) == before, "refused resumes leave the file as it was")
    spelled = os.path.join(tmp, ".", os.path.basename(tree)) + "/"
    p = run(2, BIN, *common, spelled, "-o", ref, "--resume")
    check(p.returncode == 0 and "resuming:" in p.stderr,
          f"--resume with another spelling of the same folder ({spelled}) continues the file")

    paths = sorted(rows)
    lst_rows = [(os.path.join(tree, q), rows[q]) for q in paths]
    lst = make_list(tmp, "l.txt", lst_rows)
    lref = os.path.join(tmp, "lref.h5")
    check(run(1, BIN, *common, lst, "-o", lref).returncode == 0, "list reference")
    good = make_list(tmp, "good.txt", [(os.path.join(tree, q), rows[q]) for q in paths
                                       if q not in bad][:3])
    gref = os.path.join(tmp, "good.h5")
    check(run(1, BIN, *common, good, "-o", gref).returncode == 0, "list of good rows")
    p = run(2, BIN, *common, good, "-o", gref, "--resume")
    check(p.returncode == 0 and "resuming: nothing left to do: the 3 images of" in p.stderr,
          f"--resume of a file with every row done says so ({p.stderr.strip()[-200:]})")
    changed = list(lst_rows)
    changed[3] = (changed[3][0], changed[3][1] + 1)
    make_list(tmp, "l.txt", changed)
    p = run(2, BIN, *common, lst, "-o", lref, "--resume")
    check(p.returncode == 1 and "row 3 of" in p.stderr and "has label %d, the dataset now "
          "says %d" % (lst_rows[3][1], lst_rows[3][1] + 1) in p.stderr,
          f"a changed label is named by row ({p.stderr.strip()[-200:]})")
    changed = list(lst_rows)
    changed[5] = (changed[5][0] + ".moved", changed[5][1])
    make_list(tmp, "l.txt", changed)
    p = run(1, BIN, *common, lst, "-o", lref, "--resume")
    check(p.returncode == 1 and "row 5 of" in p.stderr and ".moved' there" in p.stderr,
          f"a changed path is named by row ({p.stderr.strip()[-200:]})")
    make_list(tmp, "l.txt", lst_rows + [(lst_rows[0][0], 0)])
    p = run(1, BIN, *common, lst, "-o", lref, "--resume")
    check(p.returncode == 1 and "lists 10 images, the dataset now has 11" in p.stderr,
          f"an added row is named ({p.stderr.strip()[-200:]})")
    check("write a new file with --reuse " + lref in p.stderr,
          f"the refusal names --reuse, the way to extract the grown dataset ({p.stderr.strip()[-200:]})")

    # Files a killed job or a user may leave at the output path.
    ok_ref = read(ref)
    for what, make in [("missing", None), ("empty (0 bytes)", b""),
                       ("an empty HDF5 file", "h5empty")]:
        o = os.path.join(tmp, "re.h5")
        if os.path.exists(o):
            os.remove(o)
        if make == "h5empty":
            h5py.File(o, "w").close()
        elif make is not None:
            open(o, "wb").close()
        p = run(2, BIN, *common, tree, "-o", o, "--resume")
        check(p.returncode == 0 and read(o)["attrs"]["complete"] == 1,
              f"--resume of a {what} output creates it ({p.returncode})")
        same_file(ok_ref, read(o), f"--resume of a {what} output")

    def refused(what, make, want):
        o = os.path.join(tmp, "bad.h5")
        shutil.copy(ref, o)
        make(o)
        before = digest(o)
        p = run(1, BIN, *common, tree, "-o", o, "--resume")
        check(p.returncode == 1 and want in p.stderr and digest(o) == before,
              f"--resume of {what}: refused, untouched ({p.stderr.strip()[-240:]})")

    refused("a truncated file", lambda o: os.truncate(o, os.path.getsize(o) * 6 // 10),
            "looks truncated")

    def bad_layers(o):
        with h5py.File(o, "a") as f:
            del f.attrs["layers"]
            f.attrs["layers"] = np.arange(3)
    refused("a damaged attribute", bad_layers, "attribute 'layers' is unreadable")

    def old_format(o):
        with h5py.File(o, "a") as f:
            del f.attrs["format"]
    refused("an older r50worker's file", old_format, "older r50worker")

    def foreign_h5(o):
        os.remove(o)
        with h5py.File(o, "w") as f:
            f["data"] = np.arange(10)
    refused("a foreign HDF5 file", foreign_h5, "not an r50worker feature file")

    def text(o):
        with open(o, "w") as f:
            f.write("my notes\n")
    refused("a text file", text, "is not an HDF5 file")


def test_bad_outputs(tmp, model):
    small = os.path.join(tmp, "small")
    common = ["extract", "--model", model, "--threads", "1", small]
    for np_ in (1, 2):
        p = run(np_, BIN, *common, "-o", "/dev/null", "--overwrite")
        check(p.returncode == 1 and "/dev/null exists and is not a regular file" in p.stderr
              and "Segmentation" not in p.stderr and os.path.exists("/dev/null") and
              not os.path.isfile("/dev/null"), f"-o /dev/null --overwrite, np {np_}: exit "
                                               f"{p.returncode}, /dev/null intact")
    p = run(1, BIN, *common, "-o", tmp, "--overwrite")
    check(p.returncode == 1 and "is not a regular file" in p.stderr, "-o a folder: refused")
    missing = os.path.join(tmp, "no", "such", "x.h5")
    for np_ in (1, 2):
        p = run(np_, BIN, *common, "-o", missing)
        check(p.returncode == 1 and f"cannot write {missing}" in p.stderr and
              "its folder does not exist: create it first" in p.stderr,
              f"-o into a folder that does not exist, np {np_}: the output and the cause "
              f"named ({p.stderr.strip().splitlines()[-1:]})")
    # /proc says ENOENT of a new file too, though the folder is there
    p = run(1, BIN, *common, "-o", "/proc/x.h5")
    check(p.returncode == 1 and "cannot write /proc/x.h5" in p.stderr and
          "its folder exists but takes no new files" in p.stderr,
          f"-o into /proc: not called a missing folder ({p.stderr.strip().splitlines()[-1:]})")


def test_reuse(tmp, model):
    """--reuse OLD.h5 on a dataset that changed since OLD was made (a new class folder,
    which renumbers a class, new photos, one removed, one renamed): the
    rows OLD holds done are copied, by path, each rank its share, and only the others
    computed; the file equals a fresh extraction bit for bit, in float32 (2 ranks) and
    float16 (3 ranks)."""
    import photos
    data = os.path.join(tmp, "reuse_tree")
    rows, bad = make_tree(data, 12)
    args = ["extract", "--model", model, "--threads", "1", "--size", "96"]
    for dtype, layers in (("float32", "pool5,res5"), ("float16", "pool5")):
        common = args + ["--dtype", dtype, "--layers", layers, "--overwrite"]
        old = os.path.join(tmp, f"reuse_old_{dtype}.h5")
        check(run(2, BIN, *common, data, "-o", old).returncode == 0, f"{dtype}: OLD made")
    ok = sorted(r for r in rows if r not in bad)
    os.remove(os.path.join(data, ok[0]))
    os.rename(os.path.join(data, ok[1]), os.path.join(data, "dog", "renamed.jpg"))
    os.makedirs(os.path.join(data, "emu"))  # sorts before zebra fish: its label moves
    for i, src in enumerate(photos.real_photos()[12:15]):
        shutil.copy(src, os.path.join(data, "emu", f"{i}.jpg"))
    copied = len(ok) - 2
    for dtype, layers in (("float32", "pool5,res5"), ("float16", "pool5")):
        common = args + ["--dtype", dtype, "--layers", layers]
        names = tuple(layers.split(","))
        fresh = os.path.join(tmp, f"reuse_fresh_{dtype}.h5")
        check(run(2, BIN, *common, data, "-o", fresh).returncode == 0, f"{dtype}: fresh")
        new = os.path.join(tmp, f"reuse_new_{dtype}.h5")
        old = os.path.join(tmp, f"reuse_old_{dtype}.h5")
        ranks = 2 if dtype == "float32" else 3  # each copies its share of the rows
        p = run(ranks, BIN, *common, data, "-o", new, "--reuse", old)
        check(p.returncode == 0 and f"--reuse {old}: {copied} rows copied" in p.stderr and
              f"--reuse: {copied} rows to copy from {old}, on {ranks} ranks" in p.stderr and
              "4 through the network" in p.stderr and "none of the" not in p.stderr,  # 3 new photos and the renamed one
              f"{dtype}: {copied} rows copied, 4 computed (exit {p.returncode}) "
              f"{p.stderr[-600:]}")
        a, b = read(fresh, names), read(new, names)
        same_file(a, b, f"{dtype}: --reuse", names)
        check(list(a["images/error"]) == list(b["images/error"]) and
              a["classes"] == b["classes"] and
              b["attrs"]["complete"] == 1,
              f"{dtype}: --reuse: the same failures and classes, complete")
        # a requeued SLURM attempt adds --resume: a finished file has only its failed
        # rows (the 2 broken files) tried again, and none of them is in OLD
        p = run(2, BIN, *common, data, "-o", new, "--reuse", old, "--resume")
        check(p.returncode == 0 and f"--reuse {old}: 0 rows copied" in p.stderr and
              "resuming: 2 of" in p.stderr and "none of the" not in p.stderr,
              f"{dtype}: --resume --reuse of a finished file: only its failed rows "
              f"tried, no warning that no path matched (exit {p.returncode}) "
              f"{p.stderr[-500:]}")
        same_file(a, read(new, names), f"{dtype}: --resume --reuse", names)
    reuse_several(tmp, data, args, ok)
    # rows missing in a block: their features stay unwritten, as in a fresh file (the
    # file system keeps no blocks for them: 2000 rows of pool5 would be 16 MB of zeros)
    gappy = os.path.join(tmp, "reuse_gappy.txt")
    with open(gappy, "w") as f:
        f.writelines(os.path.join(data, r) + "\n" for r in ok[2:5])
        f.writelines(f"missing/{i:04d}.jpg\n" for i in range(2000))
        f.writelines(os.path.join(data, r) + "\n" for r in ok[5:])
    gap_old, gap_fresh, gap_new = (os.path.join(tmp, f"reuse_gap_{w}.h5")
                                   for w in ("old", "fresh", "new"))
    for out, more in ((gap_old, []), (gap_fresh, []), (gap_new, ["--reuse", gap_old])):
        p = run(2, BIN, *args, "--layers", "pool5", gappy, "-o", out, *more)
        check(p.returncode == 0, f"a list with 2000 missing rows{' and --reuse' if more else ''}"
              f": exit {p.returncode} {p.stderr[-200:]}")
    on_disk = [os.stat(x).st_blocks * 512 for x in (gap_fresh, gap_new)]
    check(on_disk[1] <= on_disk[0] + (1 << 20),
          f"--reuse: the 2000 missing rows' features unwritten, as in a fresh file "
          f"({on_disk[1]} bytes on disk against {on_disk[0]})")
    # --resume tries the 2000 failed rows again: they fail again, and their features,
    # zero already, are not written again, nor /errors, unchanged (HDF5 would not
    # give back the old table's messages: the file would grow at every resume)
    size = os.stat(gap_fresh).st_size
    p = run(2, BIN, *args, "--layers", "pool5", gappy, "-o", gap_fresh, "--resume")
    after = os.stat(gap_fresh).st_blocks * 512
    check(p.returncode == 0 and "resuming: 2000 of" in p.stderr
          and after <= on_disk[0] + (1 << 20),
          f"--resume of 2000 failed rows: no zeros written over zeros ({after} bytes on "
          f"disk, {on_disk[0]} before) {p.stderr[-200:]}")
    with h5py.File(gap_fresh, "r") as f:
        kept = len(f["errors/row"])
    check(os.stat(gap_fresh).st_size == size and kept == 2000,
          f"--resume of 2000 rows failing as before: /errors kept, the file not grown "
          f"({os.stat(gap_fresh).st_size} bytes, {size} before)")
    # a killed attempt's leftovers: features written, status not (set back to pending
    # here), the image gone since: the resumed row fails, and its features read zeros
    killed = os.path.join(tmp, "reuse_killed")
    os.makedirs(killed)
    names = []
    for r in ok[2:6]:
        names.append(os.path.join(killed, os.path.basename(r)))
        shutil.copy(os.path.join(data, r), names[-1])
    lst = make_list(tmp, "reuse_killed.txt", [(x, -1) for x in names])
    out = os.path.join(tmp, "reuse_killed.h5")
    p = run(2, BIN, *args, "--layers", "pool5", "--batch", "2", lst, "-o", out)
    with h5py.File(out, "a") as f:
        check(p.returncode == 0 and f["features/pool5"][2:4].any(), "4 photos extracted")
        f["images/status"][2:4] = [0, 0]
    for x in names[2:]:
        os.remove(x)
    p = run(2, BIN, *args, "--layers", "pool5", "--batch", "2", lst, "-o", out,
            "--resume")
    d = read(out)
    check(p.returncode == 0 and list(d["images/status"]) == [1, 1, -1, -1]
          and not d["features/pool5"][2:4].any() and d["features/pool5"][0].any(),
          f"--resume of rows a killed attempt left features in, failing now: their "
          f"features zeroed ({p.stderr[-200:]})")
    same_file(read(gap_fresh), read(gap_new), "--reuse of a list with missing rows")
    # OLD holding more layers than the job gives the job's; a layer OLD lacks is
    # refused, naming it, before the output is made; the output itself is a usage error
    old = os.path.join(tmp, "reuse_old_float32.h5")
    sub = os.path.join(tmp, "reuse_pool5.h5")
    p = run(2, BIN, *args, "--layers", "pool5", data, "-o", sub, "--reuse", old)
    check(p.returncode == 0 and f"--reuse {old}: {len(ok) - 2} rows copied" in p.stderr,
          f"--reuse of a file holding pool5,res5 for a pool5 job: copies (exit "
          f"{p.returncode}) {p.stderr[-300:]}")
    check(p.returncode == 0 and
          read(sub)["features/pool5"].tobytes() ==
          read(os.path.join(tmp, "reuse_fresh_float32.h5"))["features/pool5"].tobytes(),
          "--reuse of more layers: pool5 bit-identical to a fresh extraction")
    p = run(1, BIN, *args, "--layers", "pool5,fc6", data, "-o", os.path.join(tmp, "r1.h5"),
            "--reuse", old)
    check(p.returncode == 1 and f"--reuse: {old} holds layers 'pool5,res5', this job asks "
          "for 'pool5,fc6' (fc6 is not among them)" in p.stderr and
          not os.path.exists(os.path.join(tmp, "r1.h5")),
          f"--reuse of a file lacking a layer refused before the output is made: "
          f"{p.stderr[-300:]}")
    # paths are compared as stored: a list of absolute paths matches none of a folder's
    # rows, and the job says so, showing one path of each
    absolute = os.path.join(tmp, "reuse_abs.txt")
    with open(absolute, "w") as f:
        f.writelines(os.path.join(data, r) + "\n" for r in sorted(ok[2:]))
    p = run(1, BIN, *args, "--layers", "pool5,res5", absolute, "-o",
            os.path.join(tmp, "r0.h5"), "--reuse", old)
    check(p.returncode == 0 and f"--reuse: none of the {len(ok)} done rows of {old} has "
          "the path of a row of this dataset" in p.stderr and
          f"this dataset's first not done: '{os.path.join(data, sorted(ok[2:])[0])}'"
          in p.stderr, f"--reuse, absolute list against a folder's file: the mismatch "
          f"named (exit {p.returncode}) {p.stderr[-500:]}")
    # OLD on a disk that only some nodes see: each rank runs in its own folder (as on
    # its own node) and OLD is named relative to it; the third rank's folder has none,
    # so the first two copy its share too
    here, there = os.path.join(tmp, "node_a"), os.path.join(tmp, "node_b")
    os.makedirs(here)
    os.makedirs(there)
    shutil.copy(old, os.path.join(here, "old_local.h5"))
    out = os.path.join(tmp, "reuse_local.h5")
    job = [BIN, *args, "--layers", "pool5,res5", data, "-o", out, "--reuse",
           "old_local.h5"]
    p = subprocess.run(["mpirun", "-np", "2", "--wdir", here, *job, ":", "-np", "1",
                        "--wdir", there, *job], env=ENV, capture_output=True, text=True,
                       timeout=300)
    want = f"--reuse: {len(ok) - 2} rows to copy from old_local.h5, on the 2 of 3 ranks " \
        "that can read it"
    said = [x for x in p.stderr.splitlines() if "leaves its share of the copy" in x]
    check(p.returncode == 0 and want in p.stderr and len(said) == 1 and
          said[0].startswith("[2/3") and "old_local.h5" in said[0],
          f"--reuse, OLD unseen by rank 2: ranks 0 and 1 copy, rank 2 says why once "
          f"(exit {p.returncode}) {p.stderr[-600:]}")
    same_file(read(os.path.join(tmp, "reuse_fresh_float32.h5"), ("pool5", "res5")),
              read(out, ("pool5", "res5")), "--reuse, OLD unseen by rank 2",
              ("pool5", "res5"))
    # predict's files too (its prob rows), on 2 ranks: a file made before the tree
    # grew by one photo gives all but that one
    pargs = ["predict", "--model", model, "--threads", "1", "--top", "1"]
    pold, pnew, pfresh = (os.path.join(tmp, f"reuse_predict_{x}.h5")
                          for x in ("old", "new", "fresh"))
    check(run(2, BIN, *pargs, data, "-o", pold).returncode == 0, "predict: OLD made")
    shutil.copy(photos.real_photos()[15], os.path.join(data, "dog", "later.jpg"))
    check(run(2, BIN, *pargs, data, "-o", pfresh).returncode == 0, "predict: fresh")
    p = run(2, BIN, *pargs, data, "-o", pnew, "--reuse", pold)
    check(p.returncode == 0 and f"--reuse {pold}: {len(ok) + 2} rows copied" in p.stderr
          and "1 through the network" in p.stderr,
          f"predict --reuse: all but the new photo copied (exit {p.returncode}) "
          f"{p.stderr[-400:]}")
    same_file(read(pfresh, ("prob",)), read(pnew, ("prob",)), "predict --reuse", ("prob",))
    p = run(1, BIN, *args, data, "-o", old, "--reuse", old)
    check(p.returncode == 2 and "--reuse names the output" in p.stderr,
          f"--reuse of the output itself: a usage error (exit {p.returncode})")
    p = run(1, BIN, *args, data, "-o", os.path.join(tmp, "r2.h5"), "--reuse",
            os.path.join(data, "README.txt"))
    check(p.returncode == 1 and "README.txt" in p.stderr, f"--reuse of a text file: "
          f"refused naming it (exit {p.returncode}) {p.stderr[-300:]}")


def reuse_several(tmp, data, args, ok):
    """--reuse A --reuse B: A (the tree before it changed) gives the rows it holds, B (a
    folder of the new photos alone, under the same relative paths) the rest; from a job
    file's two `reuse =` lines the same; a --reuse on the command line replaces the
    file's; one file given twice is a usage error."""
    common = args + ["--dtype", "float32", "--layers", "pool5,res5"]
    old_a = os.path.join(tmp, "reuse_old_float32.h5")
    part = os.path.join(tmp, "reuse_part")
    added = [os.path.join("dog", "renamed.jpg")] + [os.path.join("emu", f"{i}.jpg")
                                                     for i in range(3)]
    for rel in added:
        os.makedirs(os.path.dirname(os.path.join(part, rel)), exist_ok=True)
        shutil.copy(os.path.join(data, rel), os.path.join(part, rel))
    old_b = os.path.join(tmp, "reuse_part.h5")
    check(run(1, BIN, *common, part, "-o", old_b).returncode == 0, "several: B made")
    fresh = read(os.path.join(tmp, "reuse_fresh_float32.h5"), ("pool5", "res5"))
    new = os.path.join(tmp, "reuse_two.h5")
    p = run(2, BIN, *common, data, "-o", new, "--reuse", old_a, "--reuse", old_b)
    check(p.returncode == 0 and f"--reuse {old_a}: {len(ok) - 2} rows copied" in p.stderr
          and f"--reuse {old_b}: 4 rows copied" in p.stderr and
          "0 through the network" in p.stderr and "none of the" not in p.stderr,
          f"--reuse A --reuse B on 2 ranks: A's rows, then B's, none computed "
          f"(exit {p.returncode}) {p.stderr[-700:]}")
    same_file(fresh, read(new, ("pool5", "res5")), "--reuse A --reuse B",
              ("pool5", "res5"))
    ini = os.path.join(tmp, "reuse_two.ini")
    with open(ini, "w") as f:
        f.write(f"[extract]\nreuse = {old_a}\nreuse = {old_b}\noverwrite = true\n")
    p = run(2, BIN, *common, "--job", ini, data, "-o", new)
    check(p.returncode == 0 and f"--reuse {old_a}: {len(ok) - 2} rows copied" in p.stderr
          and f"--reuse {old_b}: 4 rows copied" in p.stderr,
          f"two `reuse =` lines of a job file (exit {p.returncode}) {p.stderr[-500:]}")
    same_file(fresh, read(new, ("pool5", "res5")), "--job with two reuse lines",
              ("pool5", "res5"))
    p = run(1, BIN, *common, "--job", ini, data, "-o", new, "--reuse", old_b)
    check(p.returncode == 0 and f"--reuse {old_b}: 4 rows copied" in p.stderr and
          f"--reuse {old_a}" not in p.stderr,
          f"--reuse on the command line replaces the job file's (exit {p.returncode})")
    p = run(1, BIN, *common, data, "-o", os.path.join(tmp, "r3.h5"), "--reuse", old_a,
            "--reuse", old_a)
    check(p.returncode == 2 and f"--reuse: '{old_a}' given twice" in p.stderr and
          not os.path.exists(os.path.join(tmp, "r3.h5")),
          f"one OLD given twice: a usage error (exit {p.returncode}) {p.stderr[-300:]}")


def main():
    tmp = tempfile.mkdtemp(prefix="r50-output-")
    model = os.path.join(tmp, "m.npz")
    subprocess.run([TOOL, "init", "7", model], check=True)
    test_lock(tmp, model)
    test_resume_checks(tmp, model)
    test_bad_outputs(tmp, model)
    test_reuse(tmp, model)
    rc = finish("test_robust_output")
    if rc == 0:
        shutil.rmtree(tmp)
    return rc


if __name__ == "__main__":
    sys.exit(main())
