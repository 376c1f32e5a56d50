"""Shared helpers of the job tests: running r50worker (alone or under mpirun), the
dataset shapes users have (ImageFolder trees with class subfolders, flat folders,
list files), reading the HDF5 output as a user's script would, and check()."""
import os
import shutil
import signal
import subprocess
import sys
import time

os.environ["HDF5_USE_FILE_LOCKING"] = "FALSE"  # this process reads files jobs write
import h5py  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import photos  # noqa: E402

ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
           OMPI_MCA_rmaps_base_oversubscribe="1", HDF5_USE_FILE_LOCKING="FALSE")
# run() (jobs run to their end): mpirun gives the ranks of a job that exited non-zero
# 1 s after SIGTERM and 1 s after SIGKILL (odls_base_sigkill_timeout), 2 s a failing run
# even when every rank has already exited; 0 drops the wait. start() keeps it: a
# signalled job's ranks use that second to checkpoint.
RUN_ENV = dict(ENV, OMPI_MCA_odls_base_sigkill_timeout="0")
FAILS = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        FAILS.append(what)
    return cond


def finish(name):
    if FAILS:
        print(f"{name}: {len(FAILS)} failure(s):")
        for f in FAILS:
            print("  " + f)
        return 1
    print(f"{name}: all checks passed")
    return 0


def command(np_, args):
    """The command line: mpirun for np_ >= 1, the program alone for np_ == 0."""
    return (["mpirun", "-np", str(np_)] if np_ else []) + list(args)


def run(np_, *args, timeout=300, env=None, cwd=None):
    cmd = command(np_, args)
    t = time.time()
    try:
        p = subprocess.run(cmd, env=env or RUN_ENV, cwd=cwd, capture_output=True, text=True,
                           errors="surrogateescape", timeout=timeout, start_new_session=True)
    except subprocess.TimeoutExpired as e:
        print(f"  $ {' '.join(cmd)}  -> TIMEOUT after {timeout}s", flush=True)
        kill_tree_of(cmd)
        return subprocess.CompletedProcess(cmd, -999, e.stdout or "", e.stderr or "")
    p.seconds = time.time() - t
    print(f"  $ {' '.join(cmd)}  -> exit {p.returncode} in {p.seconds:.1f}s", flush=True)
    return p


def kill_tree_of(cmd):
    subprocess.run(["pkill", "-KILL", "-f", " ".join(cmd)], capture_output=True)


def start(np_, *args, env=None):
    cmd = command(np_, args)
    print(f"  $ {' '.join(cmd)} &", flush=True)
    return subprocess.Popen(cmd, env=env or ENV, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, errors="surrogateescape",
                            start_new_session=True)


def wait(p, timeout):
    """Waits for a started job; kills its whole session after `timeout` seconds.
    Returns (exit code, stderr, seconds, timed_out)."""
    t = time.time()
    try:
        _, err = p.communicate(timeout=timeout)
        timed_out = False
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        _, err = p.communicate()
        timed_out = True
    return p.returncode, err, time.time() - t, timed_out


def rank_pids(p):
    """The rank processes of an mpirun started with start()."""
    out = subprocess.run(["pgrep", "-P", str(p.pid)], capture_output=True, text=True).stdout
    return [int(x) for x in out.split()]


def wait_for_rows(path, want, timeout, every=0.2):
    """Polls the output every `every` seconds until at least `want` rows are done (or
    timeout)."""
    t = time.time()
    while time.time() - t < timeout:
        try:
            with h5py.File(path, "r") as f:
                if int((f["images/status"][()] == 1).sum()) >= want:
                    return True
        except (OSError, KeyError):
            pass
        time.sleep(every)
    return False


def signal_all(pids, sig):
    """Sends sig to each of pids that still runs."""
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def proc_status(pid):
    """The fields of /proc/PID/status, or None when the process is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            return dict(line.split(":", 1) for line in f if ":" in line)
    except OSError:
        return None


def suspend(pids, timeout=10):
    """SIGSTOP to each of pids, and waits until each is stopped (or gone): kill()
    returns before the stop takes effect, and a signal sent in between would be
    taken at once instead of waiting for SIGCONT."""
    signal_all(pids, signal.SIGSTOP)
    t = time.time()
    while time.time() - t < timeout:
        states = [proc_status(pid) for pid in pids]
        if all(st is None or st["State"].split()[0] in ("T", "Z", "X") for st in states):
            return
        time.sleep(0.005)


def queued(pid, sig):
    """Whether sig waits for the suspended process (/proc: sent while it was stopped),
    or the process is no longer stopped (something continued it), or has ended."""
    st = proc_status(pid)
    return (st is None or st["State"].split()[0] != "T" or
            any(int(st[k], 16) >> (sig - 1) & 1 for k in ("SigPnd", "ShdPnd")))


def errors(f):
    """The cause of every row as bytes (b"" for rows not failed), from the /errors
    table of failed rows."""
    out = np.array([b""] * len(f["images/status"]), dtype=object)
    if "errors" in f and len(f["errors/row"]):
        for r, m in zip(f["errors/row"][()], f["errors/message"][()]):
            out[r] = m if isinstance(m, bytes) else m.encode()
    return out


def read(path, layers=("pool5",)):
    with h5py.File(path, "r") as f:
        d = {k: f[k][()] for k in ["images/path", "images/label", "images/status"]}
        d["images/error"] = errors(f)
        for layer in layers:
            d[f"features/{layer}"] = f[f"features/{layer}"][()]
        d["attrs"] = dict(f.attrs)
        d["classes"] = f["classes"].asstr()[()].tolist() if "classes" in f else []
    return d


def same_file(a, b, what, layers=("pool5",)):
    for layer in layers:
        k = f"features/{layer}"
        check(a[k].tobytes() == b[k].tobytes(), f"{what}: {k} bit-identical")
    for k in ["images/path", "images/label", "images/status"]:
        check(np.array_equal(a[k], b[k]), f"{what}: {k} identical")


def make_tree(dest, n_photos=36, classes=("cat", "dog", "zebra fish")):
    """An ImageFolder tree: the photos dealt into class subfolders (one class name with
    a space, one class with a nested folder), broken files inside two classes, and a
    README beside the classes, as datasets come (not part of the dataset). Returns
    {relative path: label} of every image file and the set of broken ones."""
    os.makedirs(dest, exist_ok=True)
    with open(os.path.join(dest, "README.txt"), "w") as f:
        f.write("photos by class\n")
    rows, bad = {}, set()
    for i, src in enumerate(photos.real_photos()[:n_photos]):
        c = i % len(classes)
        sub = os.path.join(classes[c], "nested") if c == 0 and i % 2 else classes[c]
        os.makedirs(os.path.join(dest, sub), exist_ok=True)
        rel = os.path.join(sub, f"{i:03d}_{os.path.basename(src)}")
        shutil.copy(src, os.path.join(dest, rel))
        rows[rel] = c
    for c, (name, data) in enumerate([("zz_text.jpg", b"not an image\n"), ("zz_empty.png", b"")]):
        rel = os.path.join(classes[c + 1], name)
        with open(os.path.join(dest, rel), "wb") as f:
            f.write(data)
        rows[rel] = c + 1
        bad.add(rel)
    return rows, bad


def remove_group(path):
    """Removes a control group made for a test: it empties as its last process is reaped,
    so the removal is tried for up to 5 s."""
    for _ in range(50):
        try:
            os.rmdir(path)
            return
        except OSError:
            time.sleep(0.1)


def make_list(dest_dir, name, rows):
    """A 'path label' list file of rows [(path, label)]; returns its path."""
    path = os.path.join(dest_dir, name)
    with open(path, "w") as f:
        f.write("# path label\n")
        for p, label in rows:
            f.write(f"{p} {label}\n")
    return path


def make_many(dest, n):
    """A flat folder of n symlinks to the real photos: a job long enough to stop."""
    os.makedirs(dest, exist_ok=True)
    real = photos.real_photos()
    for i in range(n):
        src = real[i % len(real)]
        os.symlink(src, os.path.join(dest, f"{i:05d}{os.path.splitext(src)[1]}"))
