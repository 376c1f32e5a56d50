#!/usr/bin/env python3
"""`r50worker status PATH...`: where a feature file or a fine-tuning run stands, read
only, while its job runs and after. Every figure it prints is checked against the file
as h5py reads it, or the run folder's own log and checkpoints.

* Feature files: an ImageFolder tree with broken files on 2 ranks (complete, exit 0,
  rows done and failed, each failure's cause, the class count, the layers); a list with
  seven missing files (the first five causes and "2 more"); a job seen running (exit 3,
  its rank 0's pid, its pace and time left, consistent with the rows pending), killed
  (stopped, the stale lock named, no pace), stopped by SIGTERM (no lock) and resumed to
  complete; a fresh lock of another host (running; the pace from the note of its work's
  start, ignored while that note lacks its newline); a file that is
  not a feature file, not HDF5, or missing (exit 1, named); several paths (the worst
  exit code). The file's bytes are the same after status read it.
* --json: one object a line per PATH (features, run, error) carrying the same figures,
  the lock's holder, the failures as /errors holds them, a file name that is not UTF-8
  and holds quotes still valid JSON.
* Run folders: a finished fine-tuning run (exit 0; the newest checkpoint's epochs and
  iterations, the last training and validation records); the same run without its
  model.npz (stopped, exit 3), with a checkpoint being written beside it that status
  must leave alone, then with a live lock noting its work's start (running: iterations
  a second, time left); a folder that is neither (exit 1).

usage: test_status.py R50WORKER MODEL_TOOL
"""
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from jobutil import (check, finish, make_list, make_many, make_tree, rank_pids,  # noqa: E402
                     run, start, wait, wait_for_rows)

import h5py  # noqa: E402
import photos  # noqa: E402

BIN = sys.argv[1]


def status(*paths):
    p = run(0, BIN, "status", *paths)
    print("    " + p.stdout.replace("\n", "\n    ") + p.stderr, flush=True)
    return p


def status_json(*paths):
    """`status --json`: (exit code, one parsed object per line)."""
    p = run(0, BIN, "status", "--json", *paths)
    print("    " + p.stdout.replace("\n", "\n    "), flush=True)
    try:
        return p.returncode, [json.loads(x) for x in p.stdout.splitlines()]
    except ValueError as e:
        check(False, f"--json: every line parses as JSON ({e})")
        return p.returncode, []


def sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def counts(path):
    with h5py.File(path, "r") as f:
        st = f["images/status"][()]
        return len(st), int((st == 1).sum()), int((st == -1).sum())


def rows_line(n, done, failed):
    return (f"rows       {n:,}: {done:,} done ({100.0 * done / n:.1f}%), {failed:,} failed, "
            f"{n - done - failed:,} pending")


def test_tree(tmp):
    tree = os.path.join(tmp, "tree")
    rows, bad = make_tree(tree, n_photos=10)
    out = os.path.join(tmp, "tree.h5")
    p = run(2, BIN, "extract", "--model", "none", "--layers", "pool5,res5", "--dtype",
            "float16", tree, "-o", out)
    check(p.returncode == 0, "tree on 2 ranks: extract exit 0")
    before = sha(out)
    s = status(out)
    n, done, failed = counts(out)
    check(s.returncode == 0, f"complete file: exit 0 (got {s.returncode})")
    check(s.stdout.startswith(f"{out}: complete\n"), "complete file: said complete")
    check(rows_line(n, done, failed) in s.stdout,
          f"rows line equals h5py's counts ({n} rows, {done} done, {failed} failed)")
    check(failed == len(bad) and all(b in s.stdout for b in bad),
          f"each broken file's cause is listed ({sorted(bad)})")
    check("classes    3\n" in s.stdout, "the class count")
    check("layers     pool5 (2048); res5 (2048, 7, 7), float16" in s.stdout,
          "the layers with their shapes and dtype")
    check("made by    extract" in s.stdout and "ResNet-50" in s.stdout, "how it was made")
    rc, (j,) = status_json(out)
    with h5py.File(out, "r") as f:
        err_rows = f["errors/row"][()].tolist()
        err_msgs = f["errors/message"].asstr()[()].tolist()
    check(rc == 0 and j["kind"] == "features" and j["state"] == "complete" and j["lock"] is None,
          "--json: a complete feature file")
    check((j["rows"], j["done"], j["failed"], j["pending"]) == (n, done, failed, n - done - failed),
          "--json: rows as h5py counts them")
    check(j["layers"] == {"pool5": [2048], "res5": [2048, 7, 7]} and j["dtype"] == "float16"
          and j["classes"] == 3, "--json: layers, dtype, classes")
    check([e["row"] for e in j["errors"]] == err_rows and
          [e["message"] for e in j["errors"]] == err_msgs and j["errors_total"] == len(err_rows),
          "--json: the failures as /errors holds them")
    latin = os.path.join(tmp, os.fsdecode(b"caf\xe9 \"quoted\".h5"))
    shutil.copy(out, latin)
    rc, (j,) = status_json(latin)
    check(rc == 0 and j["path"] == os.path.join(tmp, 'caf\\xe9 "quoted".h5'),
          "--json: a file name that is not UTF-8, with quotes, as valid JSON (\\xNN)")
    check(sha(out) == before, "status leaves the file's bytes as they were")
    return out


def test_many_failures(tmp):
    good = os.path.join(tmp, "good" + os.path.splitext(photos.good_photos()[0])[1])
    shutil.copy(photos.good_photos()[0], good)
    lst = make_list(tmp, "seven.txt",
                    [(good, 0)] + [(os.path.join(tmp, f"gone {i}.jpg"), 1) for i in range(7)])
    out = os.path.join(tmp, "seven.h5")
    p = run(1, BIN, "extract", "--model", "none", lst, "-o", out)
    check(p.returncode == 0, "list with 7 missing files: extract exit 0")
    s = status(out)
    listed = re.findall(r"row (\d+): .*gone \d\.jpg", s.stdout)
    check(listed == ["1", "2", "3", "4", "5"], f"the first five causes, by row ({listed})")
    check("(2 more: " in s.stdout, "and how many more")
    check(rows_line(8, 1, 7) in s.stdout, "rows: 1 done, 7 failed")
    # every row failed: extract exits 3, and status says why, not "stopped"
    lst = make_list(tmp, "none.txt", [(os.path.join(tmp, f"gone {i}.jpg"), 1) for i in range(3)])
    out = os.path.join(tmp, "none.h5")
    p = run(1, BIN, "extract", "--model", "none", lst, "-o", out)
    s = status(out)
    check(p.returncode == 3 and s.returncode == 3 and
          f"{out}: not complete: no image could be read" in s.stdout and
          "stopped" not in s.stdout and rows_line(3, 0, 3) in s.stdout,
          f"no image readable: extract exit {p.returncode}, status says so "
          f"(exit {s.returncode}) {s.stdout[:300]}")


def test_running_stopped(tmp):
    many = os.path.join(tmp, "many")
    make_many(many, 240)
    out = os.path.join(tmp, "many.h5")
    args = ["extract", "--model", "none", "--batch", "4", many, "-o", out]
    job = start(2, BIN, *args)
    check(wait_for_rows(out, 40, 120), "the job saves rows")  # (row 33 fails: see below)
    s = status(out)
    m = re.search(r"running, pid (\d+) on host (\S+), since .* UTC, heartbeat \d+ s ago",
                  s.stdout)
    ranks = subprocess.run(["pgrep", "-f", "r50worker extract"], capture_output=True,
                           text=True).stdout.split()
    check(s.returncode == 3, f"running: exit 3 (got {s.returncode})")
    check(m is not None and m.group(1) in ranks and m.group(2) == socket.gethostname(),
          f"running: names a rank of the job and this host ({m and m.groups()}, {ranks})")
    got = re.search(r"rows       240: (\d+) done", s.stdout)
    check(got is not None and 40 <= int(got.group(1)) <= 240, "running: rows done so far")
    rc, (j,) = status_json(out)
    check(rc == 3 and j["state"] == "running" and j["lock"]["state"] == "held" and
          str(j["lock"]["pid"]) in ranks and j["lock"]["host"] == socket.gethostname(),
          "--json: running, the lock's holder")
    pace = re.search(r"pace       ([0-9.e+]+) rows/s over the .+ since its work began; "
                     r"about .+ left", s.stdout)
    check(pace is not None and float(pace.group(1)) > 0, f"running: its pace ({pace and pace.group(0)})")
    check(j["rate"] > 0 and j["eta_s"] >= 0 and
          abs(j["eta_s"] * j["rate"] - j["pending"]) <= 1e-6 * max(1, j["pending"]),
          f"--json: rate {j['rate']} rows/s, eta_s {j['eta_s']} for {j['pending']} pending")
    ranks = rank_pids(job)
    for pid in ranks + [job.pid]:
        os.kill(pid, signal.SIGKILL)
    wait(job, 30)
    for _ in range(100):  # until the ranks are reaped
        if not any(os.path.exists(f"/proc/{pid}") for pid in ranks):
            break
        time.sleep(0.1)
    s = status(out)
    n, done, failed = counts(out)
    check(s.returncode == 3, "killed: exit 3")
    check("stopped, not complete" in s.stdout and "--resume" in s.stdout, "killed: stopped")
    check("its lock is stale: pid" in s.stdout and "is gone" in s.stdout,
          "killed: the stale lock is named")
    rc, (j,) = status_json(out)
    check(rc == 3 and j["state"] == "stopped" and j["lock"]["state"] == "stale" and
          j["done"] == done, "--json: stopped, the stale lock")
    check("\n  pace  " not in s.stdout and j["rate"] is None and j["eta_s"] is None,
          "killed: no pace")
    check(rows_line(n, done, failed) in s.stdout, f"killed: rows as h5py counts ({done})")
    check(done < n, "killed part way")
    job = start(2, BIN, *args, "--resume")
    check(wait_for_rows(out, done + 8, 120), "resumed job saves more rows")
    with open(out + ".lock") as f:
        note = [x.split() for x in f.read().splitlines() if x.startswith("work=")]
    check(note == [[f"work={done + failed}", f"{n}", note[0][2]]] if note else False,
          f"the resumed job's note: {done + failed} rows done or failed of {n} when its "
          f"work began ({note})")
    for pid in rank_pids(job):
        os.kill(pid, signal.SIGTERM)
    rc, err, _, _ = wait(job, 60)
    s = status(out)
    check(rc == 143 and s.returncode == 3 and "stopped, not complete" in s.stdout
          and "stale" not in s.stdout, f"SIGTERM (exit {rc}): stopped, no lock left")
    p = run(2, BIN, *args, "--resume")
    s = status(out)
    check(p.returncode == 0 and s.returncode == 0 and s.stdout.startswith(f"{out}: complete"),
          "resumed to the end: complete, exit 0")
    n, done, failed = counts(out)
    check(done + failed == 240 and rows_line(n, done, failed) in s.stdout,
          f"resumed to the end: {done} done, {failed} failed (skimage's truncated.jpg)")
    return out


def test_other_host_lock(tmp, complete):
    with open(complete + ".lock", "w") as f:
        f.write("r50worker output lock\nhost=node-b17\npid=4242\nstart=99\n"
                f"slurm_job=777\nsince={int(time.time()) - 5}\n")
    s = status(complete)
    check(s.returncode == 3 and "running, pid 4242 on host node-b17, SLURM job 777" in s.stdout,
          "a fresh lock of another host: running, exit 3")
    check("\n  pace  " not in s.stdout and status_json(complete)[1][0]["rate"] is None,
          "a lock without the note of its work's start: no pace")
    n = counts(complete)[0]
    for torn in (False, True):  # the note as written, then one being written
        with open(complete + ".lock", "a") as f:
            f.write(f"work=3 {n} {time.time() - 50:.3f}" + ("" if torn else "\n"))
        s = status(complete)
        rc, (j,) = status_json(complete)
        if torn:
            check("\n  pace  " not in s.stdout and j["rate"] is None,
                  "a note without its newline yet is not read")
            break
        # n - 3 rows in the 50 s since the work began, none left
        check(rc == 3 and (n - 3) / 52 <= j["rate"] <= (n - 3) / 50 and j["eta_s"] == 0,
              f"--json: the pace from the lock's note ({j['rate']} rows/s, {n - 3} rows in 50 s)")
        check(re.search(r"pace       [0-9.]+ rows/s over the 5\d s since its work began; "
                        r"about 0 s left", s.stdout) is not None, "the pace line")
        with open(complete + ".lock") as f:
            kept = f.read()
        with open(complete + ".lock", "w") as f:
            f.write(kept.rsplit("work=", 1)[0])
    old = time.time() - 3600
    os.utime(complete + ".lock", (old, old))
    s = status(complete)
    check(s.returncode == 0 and s.stdout.startswith(f"{complete}: complete"),
          "the same lock silent for an hour: not running")
    os.remove(complete + ".lock")


def test_not_feature_files(tmp, complete):
    text = os.path.join(tmp, "notes.txt")
    with open(text, "w") as f:
        f.write("hello\n")
    foreign = os.path.join(tmp, "foreign.h5")
    with h5py.File(foreign, "w") as f:
        f["x"] = np.arange(3)
    gone = os.path.join(tmp, "gone.h5")
    for path, want in [(text, "is not an HDF5 file"),
                       (foreign, "is not an r50worker feature file"),
                       (gone, "No such file or directory"),
                       (tmp, "neither a feature file nor a fine-tuning run folder")]:
        s = status(path)
        check(s.returncode == 1 and path in s.stderr and want in s.stderr,
              f"{os.path.basename(path)}: exit 1, '{want}'")
    s = status(complete, gone)
    check(s.returncode == 1 and f"{complete}: complete" in s.stdout,
          "a complete file and a missing one: exit 1, the complete one still shown")
    rc, js = status_json(complete, gone, text)
    check(rc == 1 and [j["kind"] for j in js] == ["features", "error", "error"] and
          "No such file or directory" in js[1]["error"] and js[2]["path"] == text,
          "--json: one line a path, errors as kind 'error'")


def test_run_folder(tmp):
    tree = os.path.join(tmp, "train")
    rows, _ = make_tree(tree, n_photos=12)
    rdir = os.path.join(tmp, "run")
    p = run(1, BIN, "finetune", tree, "--val", tree, "--model", "none", "--size", "64",
            "--crop", "56", "--batch", "4", "--epochs", "2", "--log-every", "3", "--out",
            rdir, timeout=600)
    check(p.returncode == 0, "finetune: exit 0")
    log = [json.loads(x) for x in open(os.path.join(rdir, "log.jsonl"))]
    train = [r for r in log if "main/loss" in r][-1]
    val = [r for r in log if "validation/main/accuracy" in r][-1]
    # "epoch" as Chainer's LogReport writes it (updater.epoch, the epochs completed
    # when the record is written: 2 at the end, as the validation record after it
    # says), "epoch_detail" the epochs and the share of the current one; an epoch is
    # k steps of 4 rows, the last one partial
    n = len(rows)
    k = -(-n // 4)
    marks = [(r["iteration"], r["epoch"], r["epoch_detail"]) for r in log
             if "main/loss" in r]
    check(marks and all(e == i // k and abs(d - (i // k + min(i % k * 4, n) / n)) < 1e-9
                        for i, e, d in marks)
          and marks[-1][:2] == (2 * k, 2) and (val["iteration"], val["epoch"]) == (2 * k, 2),
          f"log.jsonl: epoch and epoch_detail as Chainer's updater has them: {marks}, "
          f"validation at iteration {val['iteration']} epoch {val['epoch']}")
    s = status(rdir + "/")
    check(s.returncode == 0 and s.stdout.startswith(f"{rdir}: finished: {rdir}/model.npz"),
          "finished run (named with a trailing /): exit 0, its model named")
    it = train["iteration"]
    check(re.search(rf"iter-{it:08d} \(2 kept\): 2 epochs and {it} iterations done",
                    s.stdout) is not None, f"the newest checkpoint: 2 epochs, {it} iterations")
    check(f"iteration {it}: loss {train['main/loss']:.4f}, accuracy "
          f"{train['main/accuracy']:.4f}" in s.stdout, "the last training record")
    check(f"after epoch 2: loss {val['validation/main/loss']:.4f}, top-1 "
          f"{val['validation/main/accuracy']:.4f}" in s.stdout
          and f"on {val['validation/main/count']} images" in s.stdout,
          "the last validation record")
    rc, (j,) = status_json(rdir)
    check(rc == 0 and j["kind"] == "run" and j["state"] == "finished" and
          j["model"] == os.path.join(rdir, "model.npz") and j["checkpoints"] == 2 and
          j["checkpoint"]["iteration"] == it and j["checkpoint"]["epoch"] == 2,
          "--json: a finished run, its newest checkpoint")
    check(all(abs(j["training"][k] - train[k]) <= 1e-6 * max(1, abs(train[k]))
              for k in ("iteration", "main/loss", "main/accuracy", "lr")) and
          all(abs(j["validation"][k] - val[k]) <= 1e-6 * max(1, abs(val[k]))
              for k in ("validation/main/accuracy", "validation/main/top5")),
          "--json: the last records with LogReport's keys")
    stopped = os.path.join(tmp, "stopped")
    shutil.copytree(rdir, stopped)
    os.remove(os.path.join(stopped, "model.npz"))
    ckpts = os.path.join(stopped, "checkpoints")
    torn = [os.path.join(ckpts, ".tmp-iter-00000099"), os.path.join(ckpts, "iter-00000098")]
    for t in torn:  # as a running job's checkpoint being written looks
        os.makedirs(t)
        with open(os.path.join(t, "model.npz"), "wb") as f:
            f.write(b"half")
    with open(os.path.join(stopped, "log.jsonl"), "a") as f:  # a record being written
        f.write('{"epoch": 2, "iteration": 99, "main/loss": 1.5')
    s = status(stopped)
    check(s.returncode == 3 and "stopped: the command that started it, with --resume" in s.stdout,
          "a run without model.npz: stopped, exit 3")
    check(f"iteration {it}: loss" in s.stdout and "iteration 99" not in s.stdout,
          "a log record not whole yet is not read")
    check(f"iter-{it:08d} (2 kept)" in s.stdout, "a checkpoint without DONE is not counted")
    check(all(os.path.isdir(t) for t in torn), "status leaves a checkpoint being written alone")
    with open(os.path.join(stopped, "run.lock"), "w") as f:  # as a job on another host
        f.write("r50worker output lock\nhost=node-c3\npid=77\nstart=1\nslurm_job=\n"
                f"since={int(time.time()) - 30}\nwork=0 {it + 10} {time.time() - 20:.3f}\n")
    s = status(stopped)
    rc, (j,) = status_json(stopped)
    # (20 s and the time the two status calls took: up to 10 s more on a loaded machine)
    check(rc == 3 and j["state"] == "running" and it / 30 <= j["rate"] <= it / 20 and
          abs(j["eta_s"] - 10 / j["rate"]) < 1e-6,
          f"a running run's pace: {it} iterations in 20 s, 10 to go ({j['rate']}, {j['eta_s']})")
    check(re.search(r"pace       [0-9.]+ iterations/s over the [23]\d s since its work began; "
                    r"about \d+ s left", s.stdout) is not None, "the run's pace line")


def main():
    with tempfile.TemporaryDirectory() as tmp:
        complete = test_tree(tmp)
        test_many_failures(tmp)
        test_running_stopped(tmp)
        test_other_host_lock(tmp, complete)
        test_not_feature_files(tmp, complete)
        test_run_folder(tmp)
        p = run(0, BIN, "status", "--help")
        check(p.returncode == 0 and "3: one is running or stopped" in p.stdout,
              "--help states the exit codes")
    return finish("status")


if __name__ == "__main__":
    sys.exit(main())
