#!/usr/bin/env python3
"""slurm/*.sbatch on a real single-machine SLURM cluster (tests/slurm/cluster.sh:
munged, slurmctld and slurmd on this host): extract.sbatch with 2 tasks on an
ImageFolder tree equals `mpirun -np 2 r50worker extract` bit for bit, with a job file
too; a job signalled mid-way (USR1 to the batch script, as `--signal=B:USR1@120` does
before the time limit) pauses, requeues itself, resumes, and ends with the features
of an uninterrupted run, its log showing both attempts; finetune.sbatch checkpoints on
the same signal and its resumed run equals an uninterrupted one bit for bit. While each
job runs, `r50worker status --json` names it running in its SLURM job.

usage: test_slurm.py R50WORKER MODEL_TOOL REPO_ROOT
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import jobutil as J  # noqa: E402
from jobutil import check, run  # noqa: E402

BIN, TOOL, ROOT = sys.argv[1], sys.argv[2], sys.argv[3]
CLUSTER = os.path.join(ROOT, "tests", "slurm", "cluster.sh")


def sh(*cmd, env, timeout=60):
    return subprocess.run(list(cmd), env=env, capture_output=True, text=True, timeout=timeout)


def job_info(jid, env):
    out = sh("scontrol", "show", "job", str(jid), env=env).stdout
    state = re.search(r"JobState=(\S+)", out)
    restarts = re.search(r"Restarts=(\d+)", out)
    code = re.search(r"ExitCode=(\S+)", out)
    return (state.group(1) if state else "?", int(restarts.group(1)) if restarts else -1,
            code.group(1) if code else "?")


def wait_job(jid, env, timeout=300, want_restarts=0):
    """Polls until the job has ended (after want_restarts requeues). A requeued job
    waits for its old credential to expire (cred_expire, 5 s in tests/slurm/cluster.sh)
    and then SLURM may still hold it back a while: it is made eligible 8 s after it
    went back to PENDING, when a new launch can no longer meet the revoked credential
    ("Job credential revoked")."""
    t = time.time()
    nudged, pending_since = False, None
    while time.time() - t < timeout:
        state, restarts, code = job_info(jid, env)
        if state == "PENDING" and restarts > 0 and not nudged:
            pending_since = pending_since or time.time()
            if time.time() - pending_since >= 8:
                sh("scontrol", "update", f"JobId={jid}", "StartTime=now", env=env)
                nudged = True
        if state in ("COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL") and \
                restarts >= want_restarts:
            return state, restarts, code
        time.sleep(1)
    return "TIMEOUT(test)", -1, "?"


def sbatch(env, tmp, script, *args, extra=()):
    p = sh("sbatch", "--parsable", "-o", os.path.join(tmp, "job-%j.log"), *extra,
           os.path.join(ROOT, "slurm", script), *map(str, args), env=env)
    if p.returncode != 0:
        print(p.stderr)
        return None
    return int(p.stdout.strip().split(";")[0])


def status_of(path, jid, what):
    """`r50worker status --json PATH` from outside the job, as on a login node: running,
    held by SLURM job jid."""
    p = run(0, BIN, "status", "--json", path)
    try:
        j = json.loads(p.stdout.splitlines()[0])
    except (ValueError, IndexError):
        j = {}
    lock = j.get("lock") or {}
    check(p.returncode == 3 and j.get("state") == "running" and
          lock.get("slurm_job") == str(jid),
          f"{what}: status says running in SLURM job {jid} ({p.stdout.strip()[:300]})")


def log_of(tmp, jid):
    with open(os.path.join(tmp, f"job-{jid}.log"), errors="replace") as f:
        return f.read()


def main():
    tmp = tempfile.mkdtemp(prefix="r50-slurm-")
    cdir = os.path.join(tmp, "cluster")
    p = subprocess.run([CLUSTER, "start", cdir], capture_output=True, text=True)
    if p.returncode == 77:
        print(p.stdout + p.stderr)
        return 77
    if p.returncode != 0:
        print(p.stdout + p.stderr)
        return 1
    env = dict(J.ENV, SLURM_CONF=os.path.join(cdir, "slurm.conf"), R50_HOME=ROOT,
               R50WORKER=BIN)
    try:
        test_extract(tmp, env)
        test_requeue(tmp, env)
        test_finetune(tmp, env)
    finally:
        subprocess.run([CLUSTER, "stop", cdir])
    rc = J.finish("test_slurm")
    if rc == 0:
        shutil.rmtree(tmp, ignore_errors=True)
    return rc


def model_file(tmp):
    m = os.path.join(tmp, "m.npz")
    if not os.path.exists(m):
        subprocess.run([TOOL, "init", "5", m], check=True)
    return m


def test_extract(tmp, env):
    model = model_file(tmp)
    data = os.path.join(tmp, "tree")
    J.make_tree(data, n_photos=12)
    opts = ["--model", model, "--size", "64", "--layers", "pool5,res5"]
    ref = os.path.join(tmp, "ref.h5")
    run(2, BIN, "extract", data, "-o", ref, "--threads", "1", *opts)
    out = os.path.join(tmp, "slurm.h5")
    jid = sbatch(env, tmp, "extract.sbatch", data, "-o", out, *opts)
    state, _, code = wait_job(jid, env) if jid else ("not submitted", 0, "?")
    check(state == "COMPLETED" and code == "0:0",
          f"sbatch extract.sbatch (2 tasks, ImageFolder tree): {state} exit {code}")
    if state == "COMPLETED":
        J.same_file(J.read(out, ("pool5", "res5")), J.read(ref, ("pool5", "res5")),
                    "srun (2 tasks) vs mpirun -np 2", ("pool5", "res5"))
        check("srun --mpi=pmix" in log_of(tmp, jid) or "srun --mpi=pmi2" in log_of(tmp, jid),
              "the step ran through srun with PMIx or PMI2")
        check("--cpus-per-task=1 " in log_of(tmp, jid),
              "srun is given the job's --cpus-per-task (SLURM 22.05+ steps do not inherit it)")
    job = os.path.join(tmp, "x.ini")
    with open(job, "w") as f:
        f.write(f"[extract]\ndataset = {data}\noutput = {tmp}/job.h5\nmodel = {model}\n"
                "size = 64\nlayers = pool5,res5\n")
    jid = sbatch(env, tmp, "extract.sbatch", "--job", job)
    state, _, code = wait_job(jid, env) if jid else ("not submitted", 0, "?")
    check(state == "COMPLETED", f"sbatch extract.sbatch --job x.ini: {state} exit {code}")
    if state == "COMPLETED":
        J.same_file(J.read(f"{tmp}/job.h5", ("pool5",)), J.read(ref, ("pool5",)),
                    "sbatch with a job file vs mpirun")


def test_requeue(tmp, env):
    model = model_file(tmp)
    data = os.path.join(tmp, "many")
    J.make_many(data, 1200)
    opts = ["--model", model, "--size", "64"]
    ref = os.path.join(tmp, "ref_many.h5")
    run(2, BIN, "extract", data, "-o", ref, "--threads", "1", *opts)
    out = os.path.join(tmp, "requeued.h5")
    jid = sbatch(env, tmp, "extract.sbatch", data, "-o", out, *opts)
    check(jid is not None and J.wait_for_rows(out, 40, 120), "the job is under way")
    status_of(out, jid, "extract.sbatch")
    sh("scancel", "--batch", "--signal=USR1", str(jid), env=env)
    state, restarts, code = wait_job(jid, env, want_restarts=1)
    log = log_of(tmp, jid)
    check(state == "COMPLETED" and restarts == 1,
          f"signalled mid-way: requeued once and completed ({state}, {restarts} restarts)")
    check("attempt 1 of job" in log and "attempt 2 of job" in log and
          "requeueing job" in log and "--resume" in log and "paused by SIGUSR1" in log,
          "the log (--open-mode=append) shows both attempts, the pause and the resume")
    if state == "COMPLETED":
        J.same_file(J.read(out), J.read(ref), "paused, requeued and resumed vs uninterrupted")
        check(run(0, BIN, "status", out).returncode == 0, "status after: complete, exit 0")


def test_finetune(tmp, env):
    model = model_file(tmp)
    data = os.path.join(tmp, "train")
    J.make_tree(data, n_photos=24)
    opts = ["--model", model, "--size", "64", "--crop", "56", "--batch", "2", "--steps", "40",
            "--lr", "0.001", "--checkpoint-every", "5", "--log-every", "1"]
    straight = os.path.join(tmp, "run_straight")
    run(2, BIN, "finetune", data, "--out", straight, "--threads", "1", *opts)
    out = os.path.join(tmp, "run_slurm")
    jid = sbatch(env, tmp, "finetune.sbatch", data, "--out", out, *opts)
    log = os.path.join(out, "log.jsonl")
    t = time.time()
    while time.time() - t < 120 and not (os.path.exists(log) and os.path.getsize(log) > 200):
        time.sleep(0.2)
    status_of(out, jid, "finetune.sbatch")
    sh("scancel", "--batch", "--signal=USR1", str(jid), env=env)
    state, restarts, code = wait_job(jid, env, want_restarts=1)
    text = log_of(tmp, jid)
    check(state == "COMPLETED" and restarts == 1 and "stopped by a signal" in text,
          f"finetune.sbatch: checkpointed on USR1, requeued, completed ({state}, {restarts})")
    a, b = os.path.join(out, "model.npz"), os.path.join(straight, "model.npz")
    if os.path.exists(a) and os.path.exists(b):
        import numpy as np
        za, zb = np.load(a), np.load(b)
        same = all(za[k].tobytes() == zb[k].tobytes() for k in zb.files)
        check(same, "the requeued run's model equals the uninterrupted run's bit for bit")
    else:
        check(False, "both runs wrote model.npz")


if __name__ == "__main__":
    sys.exit(main())
