#!/usr/bin/env python3
"""Inputs users really have, on 1 and 2 ranks: what `extract` and `predict` make of
special files, odd names and many broken rows.

* Special files — a FIFO and a socket named like images inside an ImageFolder tree, a
  FIFO, a character device and /proc files in a list — are per-image failures whose
  error names the cause; nothing blocks (a FIFO was a hang), /proc files are read to
  their end (not "empty file").
* Names: UTF-8 paths and class names read back with h5py's .asstr(); files in image
  formats not decoded (cameras' raw files) left out with one warning; an error longer
  than the column is cut at a character boundary and keeps its cause first; a name
  that is not UTF-8 keeps its bytes; `predict` escapes a newline or tab in a path so
  each output line stays three fields.
* Links in an ImageFolder tree: to files and folders followed, loops (a link back to
  a folder the walk is in) skipped with a warning naming each.
* 100,000 missing files (plus one photo) finish without running the network on them.
* Lists from a pipe: `find ... | r50worker extract -` (standard input; under mpirun
  rank 0's) and a FIFO (a shell's <(...)) give the rows of the same list in a file,
  paths relative to the working folder; <(...) under mpirun, which its ranks cannot
  open, says to pipe the list into - instead.

usage: test_robust_input.py R50WORKER MODEL_TOOL [N_MISSING]
"""
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import photos  # noqa: E402
from jobutil import (ENV, RUN_ENV, check, command, errors, finish, make_list, make_tree, read,  # noqa: E402
                     run, same_file)  # noqa: E402

import h5py  # noqa: E402  (after jobutil, which turns HDF5 file locking off)

BIN, TOOL = sys.argv[1], sys.argv[2]
HERE = os.path.dirname(os.path.abspath(__file__))
N_MISSING = int(sys.argv[3]) if len(sys.argv) > 3 else 100000


def errors_by_path(path):
    with h5py.File(path, "r") as f:
        paths = f["images/path"].asstr()[()].tolist()
        errs = [e.decode("utf-8") for e in errors(f)]
        st = f["images/status"][()].tolist()
    return {p: (s, e) for p, s, e in zip(paths, st, errs)}


def test_special_files(tmp, model):
    tree = os.path.join(tmp, "special")
    real = photos.real_photos()
    oks = []
    for cls, src in (("cat", real[0]), ("dog", real[1])):
        os.makedirs(os.path.join(tree, cls))
        oks.append(f"{cls}/ok{os.path.splitext(src)[1]}")
        shutil.copy(src, os.path.join(tree, oks[-1]))
    os.mkfifo(os.path.join(tree, "cat", "fifo.jpg"))
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(os.path.join(tree, "dog", "sock.png"))
    # Something keeps the FIFO open for writing: a reader that opened it would then
    # block in read() instead of open(). Neither may happen.
    stop = threading.Event()

    def hold_writer():
        try:
            fd = os.open(os.path.join(tree, "cat", "fifo.jpg"), os.O_RDWR | os.O_NONBLOCK)
            stop.wait()
            os.close(fd)
        except OSError:
            pass

    holder = threading.Thread(target=hold_writer, daemon=True)
    holder.start()
    for np_ in (1, 2):
        out = os.path.join(tmp, f"special{np_}.h5")
        p = run(np_, BIN, "extract", "--model", model, "--threads", "1", tree, "-o", out,
                timeout=120)
        check(p.returncode == 0, f"special files in a tree, np {np_}: exit {p.returncode} "
                                 f"in {getattr(p, 'seconds', -1):.0f}s {p.stderr[-300:]}")
        if p.returncode != 0:
            continue
        e = errors_by_path(out)
        check(e["cat/fifo.jpg"] == (-1, "is a FIFO (named pipe), not a regular file: "
                                         "cat/fifo.jpg"), f"FIFO: {e['cat/fifo.jpg']}")
        check(e["dog/sock.png"] == (-1, "is a socket, not a regular file: dog/sock.png"),
              f"socket: {e['dog/sock.png']}")
        check([e[k][0] for k in oks] == [1, 1] and len(e) == 4, "the two photos are done")

    lst = make_list(tmp, "special.txt", [(os.path.join(tree, "cat", "fifo.jpg"), 0),
                                         ("/dev/zero", 1), ("/proc/self/status", 2),
                                         ("/proc/cpuinfo", 2), (real[0], 3)])
    out = os.path.join(tmp, "special_list.h5")
    p = run(2, BIN, "extract", "--model", model, "--threads", "1", lst, "-o", out, timeout=120)
    check(p.returncode == 0, f"special files in a list, np 2: exit {p.returncode}")
    if p.returncode == 0:
        e = errors_by_path(out)
        fifo = os.path.join(tree, "cat", "fifo.jpg")
        check(e[fifo][1].startswith("is a FIFO (named pipe), not a regular file"),
              f"FIFO in a list: {e[fifo]}")
        check(e["/dev/zero"][1] == "is a character device, not a regular file: /dev/zero",
              f"/dev/zero: {e['/dev/zero']}")
        for proc in ("/proc/self/status", "/proc/cpuinfo"):
            check(e[proc][1] == f"not a JPEG, PNG, WebP, GIF, BMP, PNM, TIFF, JPEG 2000, HEIF, AVIF or JPEG XL file: {proc}",
                  f"{proc} is read, and is not an image: {e[proc]}")
    stop.set()
    sock.close()


def test_names(tmp, model):
    tree = os.path.join(tmp, "names")
    real = photos.real_photos()
    long_name = "é" * 120 + ".jpg"  # 244 bytes: the error cannot hold it whole
    files = {"été/caf\u00e9-\U0001F600.jpg": real[0], "été/" + long_name: None,
             "ünï/ok.png": real[1], "ünï/new\nline.png": real[2], "ünï/tab\there.png": real[3],
             "été/broken\nname.jpg": None}
    for rel, src in files.items():
        os.makedirs(os.path.dirname(os.path.join(tree, rel)), exist_ok=True)
        if src:
            shutil.copy(src, os.path.join(tree, rel))
        else:
            with open(os.path.join(tree, rel), "w") as f:
                f.write("not an image")
    raw = os.path.join(os.fsencode(tree), "ünï".encode(), b"caf\xe9.png")  # not UTF-8
    shutil.copy(real[4], raw)
    with open(os.path.join(os.fsencode(tree), "ünï".encode(), b"bad\xff.jpg"), "w") as f:
        f.write("not an image either")
    for rel in ("été/scan.NEF", "ünï/photo.cr2", "ünï/deep/x.cr2"):  # cameras' raw files
        os.makedirs(os.path.dirname(os.path.join(tree, rel)), exist_ok=True)
        with open(os.path.join(tree, rel), "wb") as f:
            f.write(b"\0\0\0\x18ftypheic not decoded")
    for np_ in (1, 2):
        out = os.path.join(tmp, f"names{np_}.h5")
        p = run(np_, BIN, "extract", "--model", model, "--threads", "1", tree, "-o", out)
        check(p.returncode == 0, f"odd names, np {np_}: exit {p.returncode} {p.stderr[-300:]}")
        if p.returncode:
            continue
        warned = [x for x in p.stderr.splitlines() if "image formats r50worker does not" in x]
        check(len(warned) == 1 and "3 files" in warned[0] and "(.cr2 .nef;" in warned[0]
              and "e.g. été/scan.NEF" in warned[0],
              f"np {np_}: the raw files left out, said once: {warned}")
        listed = [x for x in p.stderr.splitlines() if "broken" in x]
        check(len(listed) == 1 and
              listed[0].endswith("failed: not a JPEG, PNG, WebP, GIF, BMP, PNM, TIFF, JPEG 2000, HEIF, AVIF or JPEG XL file: "
                                 "été/broken\\nname.jpg"),
              f"np {np_}: the summary lists a failed name with a newline on one line, "
              f"escaped: {listed}")
        bad = [x for x in p.stderr.splitlines() if "not valid UTF-8" in x]
        check(len(bad) == 1 and "2 image path(s)" in bad[0] and
              "e.g. ünï/bad\\xff.jpg" in bad[0],
              f"np {np_}: the names that are not UTF-8, said once: {bad}")
        with h5py.File(out, "r") as f:
            raw_paths = f["images/path"][()].tolist()
            paths = f["images/path"].asstr()[()].tolist()  # raises on a byte not UTF-8
            names = [q for q in paths if "\\x" not in q]
            check(f["classes"].asstr()[()].tolist() == ["été", "ünï"],
                  "UTF-8 class names read back with .asstr(), in bytewise order")
            check(sorted(names) == sorted(files), f"UTF-8 paths read back: {names}")
            check(f["images/path"].dtype.kind == "S" and
                  h5py.check_string_dtype(f["images/path"].dtype).encoding == "utf-8",
                  "/images/path is declared UTF-8")
            escaped = [q for q in paths if q not in names]
            check(sorted(escaped) == ["ünï/bad\\xff.jpg", "ünï/caf\\xe9.png"],
                  "a name that is not UTF-8 is stored with \\xNN for each such byte "
                  f"(Python's backslashreplace): {escaped}")
            msgs = f["errors/message"].asstr()[()].tolist()  # raises on a byte not UTF-8
            check("not a JPEG, PNG, WebP, GIF, BMP, PNM, TIFF, JPEG 2000, HEIF, AVIF or JPEG XL file: ünï/bad\\xff.jpg" in msgs,
                  f"its error message escaped alike: {msgs}")
            i = raw_paths.index(("été/" + long_name).encode())
            err = errors(f)[i]
            text = err.decode("utf-8")  # raises if a character was split
            check(text.startswith("not a JPEG, PNG, WebP, GIF, BMP, PNM, TIFF, JPEG 2000, HEIF, AVIF or JPEG XL file: été/éé") and
                  240 < len(err) <= 255, f"a long error is cut whole-character, cause first "
                                  f"({len(err)} bytes)")
    p = run(2, BIN, "predict", "--model", model, "--threads", "1", os.path.join(tree, "ünï"),
            "--top", "2")
    lines = p.stdout.splitlines()
    check(p.returncode == 0 and len(lines) == 8 and all(len(x.split("\t")) == 3 for x in lines),
          f"predict: 4 images x 2 lines, each 3 tab-separated fields ({p.returncode}, "
          f"{len(lines)} lines)")
    check(any(x.startswith("new\\nline.png\t") for x in lines) and
          any(x.startswith("tab\\there.png\t") for x in lines),
          "predict escapes newline and tab in a path")
    one = run(2, BIN, "predict", "--model", model, "--threads", "1",
              os.path.join(tree, "ünï", "ok.png"), "--top", "2")
    check(one.returncode == 0 and
          [x.split("\t")[0] for x in one.stdout.splitlines()] == ["ok.png"] * 2 and
          one.stdout.splitlines() == [x for x in lines if x.startswith("ok.png\t")],
          f"predict of one image file: its lines, as in its folder's run "
          f"({one.returncode}: {one.stdout!r} {one.stderr[-300:]})")
    # ImageNet's class names from scripts/imagenet_labels.py, as --labels
    names = os.path.join(tmp, "imagenet.txt")
    subprocess.run([sys.executable, os.path.join(HERE, "..", "scripts", "imagenet_labels.py"),
                    names], check=True)
    with open(names) as f:
        table = f.read().splitlines()
    check(len(table) == 1000 and table[0] == "0 tench" and table[999] == "999 toilet tissue",
          f"imagenet_labels.py: 1000 'INDEX NAME' lines ({len(table)})")
    named = run(1, BIN, "predict", "--model", model, "--threads", "1", "--labels", names,
                os.path.join(tree, "ünï", "ok.png"), "--top", "2")
    want_names = [table[int(x.split("\t")[1])].split(" ", 1)[1] for x in one.stdout.splitlines()]
    check(named.returncode == 0 and
          [x.split("\t")[1] for x in named.stdout.splitlines()] == want_names,
          f"predict --labels prints those names ({named.stdout!r})")
    check("--labels" not in named.stderr, "1000 names for 1000 classes: no warning")
    # a name longer than any line buffer, and blank lines at the end: still 1000 names
    long_names = os.path.join(tmp, "long_names.txt")
    own = ["n0 " + "long name " * 150] + [f"n{i} name {i}" for i in range(1, 1000)]
    with open(long_names, "w") as f:
        f.write("\n".join(own) + "\n\n\n")
    lp = run(1, BIN, "predict", "--model", model, "--threads", "1", "--labels", long_names,
             os.path.join(tree, "ünï", "ok.png"), "--top", "1000")
    check(lp.returncode == 0 and "--labels" not in lp.stderr and
          sorted(x.split("\t")[1] for x in lp.stdout.splitlines()) ==
          sorted(x.split(" ", 1)[1] for x in own),
          f"a 1,500-byte class name stays one name, blank lines at the end are none "
          f"({lp.stderr[-300:]})")
    # another model's names (3 for 1000 classes): printed as far as they go, with a warning
    few = os.path.join(tmp, "three.txt")
    with open(few, "w") as f:
        f.write("0 a\n1 b\n2 c\n")
    lp = run(1, BIN, "predict", "--model", model, "--threads", "1", "--labels", few,
             os.path.join(tree, "ünï", "ok.png"), "--top", "1")
    check(lp.returncode == 0 and
          f"--labels {few} names 3 classes, the model has 1000: classes 3 to 999 print "
          "their index" in lp.stderr,
          f"a names file of another class count: a warning ({lp.stderr[-300:]})")
    imgs = sorted(os.path.join(tree, "ünï", x) for x in ("ok.png", "tab\there.png"))
    many = run(2, BIN, "predict", "--model", model, "--threads", "1", *imgs, "--top", "2")
    want = [x.split("\t", 1)[1] for name in ("ok.png", "tab\\there.png")
            for x in lines if x.startswith(name + "\t")]
    check(many.returncode == 0 and
          [x.split("\t")[0] for x in many.stdout.splitlines()] ==
          [q.replace("\t", "\\t") for q in imgs for _ in range(2)] and
          [x.split("\t", 1)[1] for x in many.stdout.splitlines()] == want,
          f"predict of several image files: their lines in the order given, each path as "
          f"given ({many.returncode}: {many.stdout!r} {many.stderr[-300:]})")
    bad = run(1, BIN, "predict", "--model", model, imgs[0], tree)
    check(bad.returncode == 2 and
          f"{tree} is not a JPEG, PNG, WebP, GIF, BMP, PNM, TIFF, JPEG 2000, HEIF, AVIF or JPEG XL image: with several DATASET" in bad.stderr,
          f"several DATASET arguments, one a folder: a usage error naming it "
          f"({bad.returncode})")
    check("-> standard output" in p.stderr and ".r50-predict" not in p.stderr,
          "predict without -o: its start line names standard output, not its scratch file")
    # from a folder nobody may write in (sysfs refuses even root): the scratch file goes
    # to $TMPDIR, all ranks being on this node, and is removed
    scratch = os.path.join(tmp, "scratch")
    os.makedirs(scratch)
    q = run(2, BIN, "predict", "--model", model, "--threads", "1", os.path.join(tree, "ünï"),
            "--top", "2", cwd="/sys", env={**ENV, "TMPDIR": scratch})
    check(q.returncode == 0 and q.stdout == p.stdout and not os.listdir(scratch),
          f"predict from a read-only folder: same lines, its scratch file in $TMPDIR and "
          f"removed ({q.returncode}, {os.listdir(scratch)}: {q.stderr[-300:]})")
    # `predict ... | head -1`: the reader leaves after a line, far from the end of the
    # output (1000 lines an image); printing stops, the scratch file is removed, exit 0.
    # (Alone: under mpirun the ranks write to mpirun, and Open MPI's mpirun itself
    # aborts when its own output pipe closes.)
    here = os.path.join(tmp, "piped")
    os.makedirs(here)
    cmd = command(0, [BIN, "predict", "--model", model, "--threads", "1",
                      os.path.join(tree, "ünï"), "--top", "1000"])
    proc = subprocess.Popen(cmd, cwd=here, env=ENV, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    first = proc.stdout.readline()
    proc.stdout.close()
    err = proc.stderr.read().decode(errors="replace")
    rc = proc.wait(timeout=300)
    check(first and rc == 0 and os.listdir(here) == [] and "error" not in err,
          f"predict | head -1: exit 0, no scratch file left, no error "
          f"({rc}, {os.listdir(here)}: {err[-300:]})")
    with open("/dev/full", "w") as devfull:
        full = subprocess.run(command(0, [BIN, "predict", "--model", model, "--threads",
                                          "1", os.path.join(tree, "ünï", "ok.png")]),
                              env=ENV, stdout=devfull, stderr=subprocess.PIPE, text=True)
    check(full.returncode == 1 and "cannot write the predictions to standard output: No "
          "space left on device" in full.stderr,
          f"predict > /dev/full (alone; under mpirun, mpirun writes it): exit 1, the cause "
          f"named ({full.stderr[-200:]})")


def test_links(tmp, model):
    """Links in an ImageFolder tree, on 2 ranks: a link to an image and one to another
    class's folder are followed; links back to a folder the walk is in (the class
    folder's parent, the folder itself, from a nested folder) are loops: each is skipped
    with one warning naming it, and the job runs on the rest."""
    tree = os.path.join(tmp, "links")
    real = photos.good_photos()
    for rel, src in (("cat/a.png", real[0]), ("cat/deep/b.jpg", real[1]),
                     ("dog/c.png", real[2])):
        os.makedirs(os.path.dirname(os.path.join(tree, rel)), exist_ok=True)
        shutil.copy(src, os.path.join(tree, os.path.splitext(rel)[0] +
                                      os.path.splitext(src)[1]))
    os.symlink("../cat/a" + os.path.splitext(real[0])[1], os.path.join(tree, "dog", "l.png"))
    os.symlink("../cat/deep", os.path.join(tree, "dog", "more"))  # another class's folder
    loops = ["cat/up", "cat/self", "cat/deep/root", "dog/more/root"]  # (more -> cat/deep)
    os.symlink("..", os.path.join(tree, "cat", "up"))
    os.symlink(".", os.path.join(tree, "cat", "self"))
    os.symlink("../..", os.path.join(tree, "cat", "deep", "root"))
    out = os.path.join(tmp, "links.h5")
    p = run(2, BIN, "extract", "--model", model, "--threads", "1", tree, "-o", out)
    warned = [x for x in p.stderr.splitlines() if "(a loop): skipped" in x]
    check(p.returncode == 0 and len(warned) == len(loops) and
          all(any(os.path.join(tree, rel) + ":" in x for x in warned) for rel in loops),
          f"extract -np 2 on a tree with {len(loops)} looping links: exit {p.returncode}, "
          f"{len(warned)} loop warnings, one naming each")
    with h5py.File(out, "r") as f:
        paths = f["images/path"].asstr()[()].tolist()
        labels = f["images/label"][()].tolist()
        status = f["images/status"][()].tolist()
    ext = [os.path.splitext(x)[1] for x in real[:3]]
    want = [f"cat/a{ext[0]}", f"cat/deep/b{ext[1]}", f"dog/c{ext[2]}", "dog/l.png",
            f"dog/more/b{ext[1]}"]
    check(paths == want and labels == [0, 0, 1, 1, 1] and status == [1] * 5,
          f"the rows: the images once each, links to files and folders followed "
          f"({paths}, labels {labels}, status {status})")


def test_many_missing(tmp, model):
    rows = [(f"missing/{i:06d}.jpg", i % 10) for i in range(N_MISSING)]
    rows.insert(N_MISSING // 2, (photos.real_photos()[0], 3))
    lst = make_list(tmp, "missing.txt", rows)
    out = os.path.join(tmp, "missing.h5")
    p = run(1, BIN, "extract", "--model", model, "--threads", "1", lst, "-o", out,
            timeout=600, env=dict(RUN_ENV, R50_PROGRESS_SECONDS="0"))
    shown = [int(k) for k in re.findall(r"info: reading \S+: (\d+) rows so far \(\d+%\)",
                                        p.stderr)]
    # (at lines 65536, 131072, ...: the rows before, less make_list's comment line)
    check(shown == [65536 * k - 2 for k in range(1, (N_MISSING + 2) // 65536 + 1)]
          and f"info: read {lst}: {N_MISSING + 1} rows\n" in p.stderr,
          f"R50_PROGRESS_SECONDS=0: reading the list of {N_MISSING + 1} rows said how far "
          f"it was every 65536 lines, then the count ({shown})")
    check(p.returncode == 0 and "1 ok, %d failed" % N_MISSING in p.stderr and
          "1 through the network" in p.stderr,
          f"{N_MISSING} missing files + 1 photo: exit {p.returncode} in "
          f"{getattr(p, 'seconds', -1):.1f}s, the network ran on 1 image")
    check("... and %d more failed images" % (N_MISSING - 20) in p.stderr,
          "the summary lists the first failures, not all")
    d = read(out)
    check(int((d["images/status"] == -1).sum()) == N_MISSING and
          not d["features/pool5"][d["images/status"] == -1][:1000].any(),
          "every missing file failed, with zero features")
    e = d["images/error"][0].decode()
    check(e.startswith("cannot open: No such file or directory: missing/000000.jpg"), e)


def test_piped_lists(tmp, model):
    rows, _ = make_tree(os.path.join(tmp, "piped"), 10)
    text = "".join(f"piped/{rel} {label}\n" for rel, label in sorted(rows.items()))
    lst = os.path.join(tmp, "piped.txt")
    with open(lst, "w") as f:
        f.write(text)
    args = [BIN, "extract", "--model", model, "--threads", "1"]
    ref = os.path.join(tmp, "piped_ref.h5")
    check(run(0, *args, lst, "-o", ref).returncode == 0, "the list as a file")
    ref = read(ref)

    def piped(np_, spec, out, feed=None):
        cmd = command(np_, args + [spec, "-o", out])
        p = subprocess.run(cmd, env=ENV, cwd=tmp, input=feed, capture_output=True,
                           text=True, timeout=300)
        print(f"  $ {' '.join(cmd)}  -> exit {p.returncode}", flush=True)
        return p

    for np_ in (0, 2):
        out = os.path.join(tmp, f"stdin{np_}.h5")
        p = piped(np_, "-", out, text)
        if check(p.returncode == 0 and "images of standard input" in p.stderr,
                 f"a list on standard input, np {np_}: exit {p.returncode} "
                 f"{p.stderr[-300:]}"):
            same_file(read(out), ref, f"standard input, np {np_}")
    # as `find piped -type f` prints them: no labels, a class folder name with a space
    names = "".join(f"piped/{rel}\n" for rel in sorted(rows))
    check(" " in names, "the tree has a name with a space")
    out = os.path.join(tmp, "find.h5")
    p = piped(2, "-", out, names)
    if check(p.returncode == 0, f"find's output on standard input, np 2: exit "
                                f"{p.returncode} {p.stderr[-300:]}"):
        d = read(out)
        check(np.array_equal(d["images/path"], ref["images/path"]) and
              (d["images/label"] == -1).all() and
              d["features/pool5"].tobytes() == ref["features/pool5"].tobytes(),
              "find's output: the same rows and features, labels -1")
    # a CSV with a header on standard input (pandas' to_csv, `export` metadata): CSV
    csv = "path,label\n" + "".join(f'"piped/{rel}",{label}\n'
                                    for rel, label in sorted(rows.items()))
    out = os.path.join(tmp, "csv.h5")
    p = piped(2, "-", out, csv)
    if check(p.returncode == 0 and "looks like CSV" not in p.stderr,
             f"a CSV list on standard input, np 2: exit {p.returncode} {p.stderr[-300:]}"):
        same_file(read(out), ref, "CSV on standard input")
    p = piped(0, "-", os.path.join(tmp, "none.h5"), "")
    check(p.returncode == 1 and "no images in standard input" in p.stderr,
          f"an empty standard input: named as such: {p.stderr[-200:]}")
    fifo = os.path.join(tmp, "list.fifo")
    os.mkfifo(fifo)

    def feed():
        with open(fifo, "w") as f:
            f.write(text)

    writer = threading.Thread(target=feed, daemon=True)
    writer.start()
    out = os.path.join(tmp, "fifo.h5")
    p = piped(0, fifo, out)
    writer.join(timeout=5)
    if check(p.returncode == 0, f"a list from a FIFO: exit {p.returncode} {p.stderr[-300:]}"):
        same_file(read(out), ref, "FIFO")
    p = subprocess.run(["bash", "-c", " ".join(command(2, args)) + " <(cat piped.txt) -o ps.h5"],
                       env=RUN_ENV, cwd=tmp, capture_output=True, text=True, timeout=120)
    check(p.returncode != 0 and "pipe the list in and give - instead" in p.stderr,
          f"<(...) under mpirun says what to do: exit {p.returncode} {p.stderr[-400:]}")
    p = piped(0, "piped/*/*.jpg", os.path.join(tmp, "glob.h5"))
    check(p.returncode != 0 and "piped/*/*.jpg: No such file or directory (a pattern is not "
          "expanded here" in p.stderr and "find DIR -name" in p.stderr,
          f"a quoted pattern: not expanded, said, with what to do: {p.stderr[-300:]}")
    p = subprocess.run([BIN, "finetune", "-", "--val", "-"], env=ENV, capture_output=True,
                       text=True, input=text, timeout=60)
    check(p.returncode == 2 and "standard input (-) can hold one list" in p.stderr,
          f"finetune - --val -: exit {p.returncode} {p.stderr[-200:]}")


def main():
    tmp = tempfile.mkdtemp(prefix="r50-input-")
    model = os.path.join(tmp, "m.npz")
    subprocess.run([TOOL, "init", "5", model], check=True)
    test_special_files(tmp, model)
    test_names(tmp, model)
    test_links(tmp, model)
    test_piped_lists(tmp, model)
    test_many_missing(tmp, model)
    rc = finish("test_robust_input")
    if rc == 0:
        shutil.rmtree(tmp)
    return rc


if __name__ == "__main__":
    sys.exit(main())
