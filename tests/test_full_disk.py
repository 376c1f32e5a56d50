#!/usr/bin/env python3
"""A full disk, on 1, 2 and 3 ranks: the output lies on a small tmpfs mounted here.

* Too small to create the file at all; room to start but not for the list; room for
  the list but not for the features (the disk fills mid-run). Each ends within 30 s
  with exit 1 (never a hang, never a crash at exit) and a message naming the cause,
  "no space left on device"; a failed creation leaves nothing behind, not even its
  lock.
* What a mid-run failure wrote is resumable, and the job says so: moved to a disk with
  room, `--resume` completes it into the file an uninterrupted run makes. So too when
  the disk fills while `--reuse` copies rows (2 ranks).
* finetune whose next checkpoint does not fit (room for one of ResNet-50's, ~200 MB):
  exit 1 naming the cause and the checkpoint kept, no torn one left; moved to a disk
  with room, `--resume` trains on to the model an uninterrupted run makes. On 2 ranks,
  no room for the final model.npz: every rank ends (no hang); `--resume` writes it.

Mounting needs root (or CAP_SYS_ADMIN); where it is not permitted the test reports
SKIP (exit 77) with the reason.

usage: test_full_disk.py R50WORKER MODEL_TOOL
"""
import os
import random
import shutil
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from jobutil import check, finish, make_list, make_many, read, run, same_file  # noqa: E402

BIN, TOOL = sys.argv[1], sys.argv[2]
BOTH = ("pool5", "res5")


def mount(path, size):
    os.makedirs(path, exist_ok=True)
    p = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", path],
                       capture_output=True, text=True)
    return p.returncode == 0, p.stderr.strip()


def umount(path):
    subprocess.run(["umount", "-l", path], capture_output=True)


def leftovers(d, name):
    return sorted(f for f in os.listdir(d) if f.startswith(name) and f != name)


def case(tmp, mnt, np_, what, args, want_file):
    out = os.path.join(mnt, "out.h5")
    for f in os.listdir(mnt):
        os.remove(os.path.join(mnt, f))
    p = run(np_, BIN, *args, "-o", out, timeout=60)
    ok = p.returncode == 1 and getattr(p, "seconds", 99) < 30
    check(ok, f"{what}, np {np_}: exit 1 within 30 s (exit {p.returncode}, "
              f"{getattr(p, 'seconds', -1):.1f}s)")
    check("no space left on device" in p.stderr,
          f"{what}, np {np_}: the cause is named: "
          f"{[x for x in p.stderr.splitlines() if 'error' in x][:2]}")
    check("Segmentation" not in p.stderr and "signal" not in p.stderr.lower(),
          f"{what}, np {np_}: no crash")
    rest = leftovers(mnt, "out.h5")
    check(rest == [], f"{what}, np {np_}: no lock or temporary file left ({rest})")
    check(os.path.exists(out) == want_file,
          f"{what}, np {np_}: output {'kept' if want_file else 'not created'}")
    hint = f"the rows finished are kept in {out}: once the cause is fixed, the same " \
        "command with --resume continues"
    check((hint in p.stderr) == want_file,
          f"{what}, np {np_}: --resume {'offered' if want_file else 'not offered'}")
    return out


def finetune_full(tmp, mnt, many):
    tree = os.path.join(tmp, "classes")
    for i, name in enumerate(sorted(os.listdir(many))[:8]):
        os.makedirs(os.path.join(tree, "ab"[i % 2]), exist_ok=True)
        os.symlink(os.readlink(os.path.join(many, name)), os.path.join(tree, "ab"[i % 2], name))
    args = ["finetune", tree, "--model", "none", "--size", "32", "--crop", "32", "--steps",
            "4", "--checkpoint-every", "1", "--batch", "2", "--threads", "1"]
    straight = os.path.join(tmp, "ft_straight")
    check(run(1, BIN, *args, "--out", straight).returncode == 0, "finetune: reference run")
    ok, why = mount(mnt, "300m")
    check(ok, f"a 300 MB tmpfs ({why})")
    out = os.path.join(mnt, "run")
    p = run(1, BIN, *args, "--out", out, timeout=120)
    ck = os.path.join(out, "checkpoints")
    left = sorted(os.listdir(ck)) if os.path.isdir(ck) else []
    check(p.returncode == 1 and "the checkpoint of iteration 2 was not written" in p.stderr
          and "No space left on device" in p.stderr and "iter-00000001, is kept" in p.stderr,
          f"finetune, disk full at its 2nd checkpoint: exit 1, the cause and the kept "
          f"checkpoint named ({p.returncode}: {p.stderr[-300:]})")
    check(left == ["iter-00000001"] and
          os.path.exists(os.path.join(ck, "iter-00000001", "DONE")),
          f"the complete checkpoint stays, no torn one ({left})")
    moved = os.path.join(tmp, "ft_moved")
    shutil.copytree(out, moved, symlinks=True)
    umount(mnt)
    r = run(1, BIN, *args, "--out", moved, "--resume")
    check(r.returncode == 0, f"moved to a disk with room, --resume: exit {r.returncode}")
    a, b = (np.load(os.path.join(d, "model.npz")) for d in (straight, moved))
    check(sorted(a.files) == sorted(b.files) and
          all(np.array_equal(a[k], b[k]) for k in a.files),
          "finetune resumed after a full disk: the uninterrupted run's model, bit for bit")
    # room for the last checkpoint, not for model.npz beside it, on 2 ranks: rank 0's
    # failed save ends every rank (it once left rank 1 waiting for ever)
    ok, why = mount(mnt, "250m")
    check(ok, f"a 250 MB tmpfs ({why})")
    two = ["finetune", tree, "--model", "none", "--size", "32", "--crop", "32", "--steps",
           "2", "--batch", "2", "--threads", "1"]  # one checkpoint, at the end
    p = run(2, BIN, *two, "--out", out, timeout=120)
    check(p.returncode not in (0, -999) and "the final model was not written" in p.stderr
          and "No space left on device" in p.stderr,
          f"finetune -np 2, no room for model.npz: ends (exit {p.returncode}, not a hang), "
          f"naming the cause ({p.stderr[-300:]})")
    moved = os.path.join(tmp, "ft_moved2")
    shutil.copytree(out, moved, symlinks=True)
    umount(mnt)
    r = run(2, BIN, *two, "--out", moved, "--resume")
    ck = os.path.join(moved, "checkpoints", "iter-00000002", "model.npz")
    a, b = np.load(ck), (np.load(os.path.join(moved, "model.npz"))
                         if r.returncode == 0 else None)
    check(b is not None and all(np.array_equal(a[k], b[k]) for k in a.files),
          f"--resume writes model.npz, the last checkpoint's weights (exit {r.returncode})")


def main():
    tmp = tempfile.mkdtemp(prefix="r50-disk-")
    mnt = os.path.join(tmp, "mnt")
    ok, why = mount(mnt, "16k")
    if not ok:
        print(f"SKIP: cannot mount a tmpfs here ({why}); the full-disk cases need root")
        shutil.rmtree(tmp, ignore_errors=True)
        return 77
    try:
        model = os.path.join(tmp, "m.npz")
        subprocess.run([TOOL, "init", "6", model], check=True)
        data = os.path.join(tmp, "many")
        make_many(data, 120)
        # 64x64 inputs: the content does not matter here, and they are cheap
        common = ["extract", "--model", model, "--threads", "1", "--layers", "pool5,res5",
                  "--size", "64"]
        for np_ in (1, 2, 3):
            case(tmp, mnt, np_, "no room to create", [*common, data], False)
        umount(mnt)

        # Room for the reserve, not for 40,000 long paths (random ones: the paths are
        # deflated, and 'xxx...' would shrink to nothing)
        mount(mnt, "2m")
        rng = random.Random(0)
        rows = [(f"{rng.getrandbits(600):0150x}/{i:06d}.jpg", -1) for i in range(40000)]
        lst = make_list(tmp, "long.txt", rows)
        for np_ in (1, 2, 3):
            case(tmp, mnt, np_, "disk full while creating", [*common, lst], False)
        umount(mnt)

        ref = os.path.join(tmp, "ref.h5")
        p = run(2, BIN, *common, data, "-o", ref, "--batch", "4")
        check(p.returncode == 0, "reference run")
        mount(mnt, "2m")  # the list fits; 120 rows of pool5 and res5 (4.8 MB) do not
        for np_ in (1, 2, 3):
            out = case(tmp, mnt, np_, "disk full mid-run", [*common, data, "--batch", "4"],
                       True)
            moved = os.path.join(tmp, f"moved{np_}.h5")
            shutil.copy(out, moved)
            d = read(moved, BOTH)
            done = int((d["images/status"] == 1).sum())
            check(0 < done < 120 and d["attrs"]["complete"] == 0,
                  f"disk full mid-run, np {np_}: {done} rows done, not complete")
            r = run(np_, BIN, *common, data, "-o", moved, "--batch", "3", "--resume")
            check(r.returncode == 0, f"moved to a disk with room, --resume, np {np_}: exit "
                                     f"{r.returncode} {r.stderr[-300:]}")
            same_file(read(ref, BOTH), read(moved, BOTH), f"np {np_}: resumed after a full "
                                                          "disk", BOTH)
        # the disk fills while --reuse copies: the rows each rank copied are kept
        out = case(tmp, mnt, 2, "disk full while --reuse copies",
                   [*common, data, "--reuse", ref], True)
        moved = os.path.join(tmp, "moved_reuse.h5")
        shutil.copy(out, moved)
        done = int((read(moved, BOTH)["images/status"] == 1).sum())
        copyable = int((read(ref, BOTH)["images/status"] == 1).sum())
        r = run(2, BIN, *common, data, "-o", moved, "--resume", "--reuse", ref)
        check(0 < done < copyable and r.returncode == 0 and
              f"--reuse {ref}: {copyable - done} rows copied" in r.stderr,
              f"--reuse on a full disk: {done} rows kept, --resume --reuse copies the "
              f"others (exit {r.returncode}) {r.stderr[-300:]}")
        same_file(read(ref, BOTH), read(moved, BOTH), "--reuse resumed after a full disk",
                  BOTH)
        umount(mnt)
        finetune_full(tmp, mnt, data)
    finally:
        umount(mnt)
    rc = finish("test_full_disk")
    if rc == 0:
        shutil.rmtree(tmp)
    return rc


if __name__ == "__main__":
    sys.exit(main())
