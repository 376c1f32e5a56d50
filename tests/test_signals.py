#!/usr/bin/env python3
"""Stopping a job with a signal: alone, under mpirun with the ranks signalled (as
srun and scancel do), and mpirun itself signalled.

Every case stops mid-way, ends within 30 s, prints the summary saying how it stopped,
leaves a resumable file (not marked complete, its lock removed), and exits 128 + the
signal (SIGTERM 143, SIGINT 130, SIGHUP 129: a closed terminal), or 0 for SIGUSR1 (a
pause, what SLURM requeue wants). Part "resume" (ctest's signals): SIGTERM alone, to
the ranks and to mpirun, each file's --resume giving the uninterrupted run's file;
predict without -o; a stop while --reuse copies. Part "exits" (signals_exits): the
other signals' exits and summaries, alone and under mpirun (their stops take the
same path as SIGTERM's). mpirun signalled itself is Open MPI's case: it forwards
SIGTERM to the ranks, kills them a second later and exits 1 whatever they return; the
file must still resume. predict without -o, stopped, says that nothing is kept (its
scratch file is removed) instead of offering --resume.

Each job is suspended (SIGSTOP) once it has saved its first rows, sent the signal, and
continued: the signal lands mid-way whatever the CPU's speed, and the jobs need not be
long. Where mpirun is signalled, the ranks continue once it has sent them the signal
(queued for them, in /proc) or continued them itself (Open MPI does, and sends them
SIGTERM a second later).

usage: test_signals.py R50WORKER MODEL_TOOL resume|exits
"""
import os
import signal
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from jobutil import (check, finish, make_many, queued, rank_pids, read, run,  # noqa: E402
                     same_file, signal_all, start, suspend, wait,
                     wait_for_rows)

BIN, TOOL, PART = sys.argv[1], sys.argv[2], sys.argv[3]
N = 300  # images: rows left after the first ones, at any CPU's speed


def interrupt(job, np_, out, want_rows, sig, target):
    """Waits for want_rows saved rows, suspends the job's ranks, sends sig to them or to
    mpirun (target "mpirun"), and continues them. Returns whether it was mid-way."""
    midway = wait_for_rows(out, want_rows, 180, every=0.05)
    ranks = rank_pids(job) if np_ else [job.pid]
    suspend(ranks)
    if target == "mpirun":
        job.send_signal(sig)
        t = time.time()
        while not all(queued(pid, sig) for pid in ranks) and time.time() - t < 30:
            time.sleep(0.01)
    else:
        signal_all(ranks, sig)
    signal_all(ranks, signal.SIGCONT)
    return midway


def stop_case(tmp, common, ref, what, np_, sig, target, want_rc, summary, resume=True):
    out = os.path.join(tmp, f"{what.replace(' ', '_')}.h5")
    job = start(np_, BIN, *common, "-o", out, "--batch", "2", "--chunk", "4")
    midway = interrupt(job, np_, out, 6, sig, target)
    t = time.time()
    rc, err, _, timed_out = wait(job, 30)
    dt = time.time() - t
    check(midway and not timed_out and (rc == want_rc if want_rc is not None else rc != 0),
          f"{what}: exit {rc} {dt:.1f}s after the signal (want {want_rc})")
    if summary:
        check(summary in err and "continue with --resume" in err,
              f"{what}: the summary says '{summary}'")
    d = read(out)
    done = int((d["images/status"] == 1).sum())
    check(d["attrs"]["complete"] == 0 and 0 < done < N,
          f"{what}: {done} of {N} rows saved, file not complete")
    check(not os.path.exists(out + ".lock") or target == "mpirun",
          f"{what}: the lock is removed")
    if resume:
        r = run(2, BIN, *common, "-o", out, "--resume", "--batch", "5")
        check(r.returncode == 0, f"{what}: --resume exits 0 ({r.stderr[-300:]})")
        same_file(ref, read(out), f"{what} + --resume")


def predict_case(tmp, model, data):
    """predict without -o: its rows go to a scratch file in the working directory, which
    a stop removes; the summary must not offer a --resume of it."""
    job = start(0, BIN, "predict", "--model", model, "--threads", "1", "--batch", "2",
                data)
    scratch = os.path.join(os.getcwd(), f".r50-predict-{job.pid}.h5")
    midway = interrupt(job, 0, scratch, 6, signal.SIGTERM, "job")
    rc, err, _, timed_out = wait(job, 30)
    check(midway and not timed_out and rc == 143,
          f"predict without -o, SIGTERM: exit {rc} (want 143)")
    check("predict without -o keeps nothing" in err and "continue with --resume" not in err
          and not os.path.exists(scratch),
          "predict without -o, SIGTERM: says nothing is kept, and its scratch file is gone")


def reuse_stop_case(tmp, model, data):
    """SIGTERM to the ranks while --reuse copies (150000 rows, each a copy of its own):
    the copy stops after its current run of rows and the job as it does between
    batches (exit 143); --resume --reuse then gives the uninterrupted run's file."""
    common = ["extract", "--model", model, "--threads", "1", "--size", "32", "--layers",
              "fc6", "--dtype", "float16"]
    names = sorted(os.listdir(data))
    old_list = os.path.join(tmp, "reuse_old.txt")
    with open(old_list, "w") as f:
        f.writelines(os.path.join(data, n) + "\n" for n in names)
    old = os.path.join(tmp, "reuse_old.h5")
    check(run(2, BIN, *common, old_list, "-o", old).returncode == 0, "--reuse: OLD made")
    big = os.path.join(tmp, "reuse_big.txt")
    with open(big, "w") as f:  # 119 is prime to N: no two rows copy as one run
        for rep in range(150000 // N):
            f.writelines(os.path.join(data, names[(i * 119 + rep) % N]) + "\n"
                         for i in range(N))
    ref_path = os.path.join(tmp, "reuse_ref.h5")
    check(run(2, BIN, *common, big, "-o", ref_path, "--reuse", old).returncode == 0,
          "--reuse: the uninterrupted run")
    ref = read(ref_path, ("fc6",))
    os.remove(ref_path)
    out = os.path.join(tmp, "reuse_stopped.h5")
    job = start(2, BIN, *common, big, "-o", out, "--reuse", old)
    midway = interrupt(job, 2, out, 1, signal.SIGTERM, "ranks")
    rc, err, dt, timed_out = wait(job, 30)
    done = int((read(out, ("fc6",))["images/status"] == 1).sum())
    copyable = int((ref["images/status"] == 1).sum())  # OLD's failed rows fail again
    check(midway and not timed_out and rc == 143 and "stopped by SIGTERM" in err and
          0 < done < copyable,
          f"--reuse, SIGTERM while copying: exit {rc} {dt:.1f}s after, {done} of "
          f"{len(ref['images/status'])} rows saved {err[-400:]}")
    r = run(2, BIN, *common, big, "-o", out, "--resume", "--reuse", old)
    check(r.returncode == 0 and f"--reuse {old}: {copyable - done} rows copied" in r.stderr,
          f"--reuse, SIGTERM while copying: --resume --reuse copies the other "
          f"{copyable - done} rows (exit {r.returncode}) {r.stderr[-300:]}")
    same_file(ref, read(out, ("fc6",)), "--reuse, SIGTERM while copying, --resume",
              ("fc6",))
    os.remove(out)


def main():
    tmp = tempfile.mkdtemp(prefix=f"r50-signals-{PART}-")
    model = os.path.join(tmp, "m.npz")
    subprocess.run([TOOL, "init", "8", model], check=True)
    data = os.path.join(tmp, "many")
    make_many(data, N)
    # 112x112 inputs: four times cheaper than 224
    common = ["extract", "--model", model, "--threads", "1", "--size", "112", data]
    if PART == "resume":
        ref_path = os.path.join(tmp, "ref.h5")
        check(run(3, BIN, *common, "-o", ref_path).returncode == 0,
              "uninterrupted reference")
        ref = read(ref_path)
        stop_case(tmp, common, ref, "alone SIGTERM", 0, signal.SIGTERM, "job", 143,
                  "stopped by SIGTERM")
        stop_case(tmp, common, ref, "np 2 ranks SIGTERM", 2, signal.SIGTERM, "ranks", 143,
                  "stopped by SIGTERM")
        stop_case(tmp, common, ref, "np 3 mpirun SIGTERM", 3, signal.SIGTERM, "mpirun",
                  None, None)
        predict_case(tmp, model, data)
        reuse_stop_case(tmp, model, data)
    else:
        for what, np_, sig, target, want, summary in [
                ("alone SIGINT", 0, signal.SIGINT, "job", 130, "stopped by SIGINT"),
                ("alone SIGUSR1", 0, signal.SIGUSR1, "job", 0, "paused by SIGUSR1"),
                # a closed terminal (an ssh session dropped): as SIGTERM, exit 129
                ("alone SIGHUP", 0, signal.SIGHUP, "job", 129, "stopped by SIGHUP"),
                ("np 3 ranks SIGINT", 3, signal.SIGINT, "ranks", 130, "stopped by SIGINT"),
                ("np 2 mpirun SIGUSR1", 2, signal.SIGUSR1, "mpirun", 0, "paused by SIGUSR1")]:
            stop_case(tmp, common, None, what, np_, sig, target, want, summary, resume=False)

    rc = finish(f"test_signals {PART}")
    if rc == 0:
        shutil.rmtree(tmp)
    return rc


if __name__ == "__main__":
    sys.exit(main())
