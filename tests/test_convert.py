#!/usr/bin/env python3
"""`r50worker convert` against caffe_fixture.py's expected npz, and its errors.

  exact  R50WORKER FIXTURE_PY DIR ARCH FORMAT SEED [--infer] [--no-double] [--cleanup]
         makes DIR's fixture, converts it (--arch ARCH, or inferred with --infer) and
         requires DIR/converted.npz to equal DIR/expected.npz bit for bit; --cleanup
         removes the (large) files when it passes.
  errors R50WORKER DIR
         with DIR from `exact ... 50 new`: truncated and bit-flipped copies of the
         caffemodel, a renamed layer, two swapped layers, a wrong --arch, a missing
         file and a non-caffemodel give exit 1 and a message naming the file (and the
         layer), never a crash; random bit flips give exit 0 or 1, never a crash.
"""

import os
import random
import subprocess
import sys
import time

failures = []


def check(ok, what):
    print(f"{'ok  ' if ok else 'FAIL'} {what}")
    if not ok:
        failures.append(what)


def run(cmd):
    """(exit code, stderr); a sanitizer report counts as a crash (exit 99)."""
    p = subprocess.run(cmd, capture_output=True, text=True)
    if "Sanitizer" in p.stderr or "runtime error:" in p.stderr:
        print(p.stderr)
        return 99, p.stderr
    return p.returncode, p.stderr


def cmd_exact(argv):
    r50, fixture, d, arch, fmt, seed = argv[:6]
    flags = argv[6:]
    make = [sys.executable, fixture, "make", "--arch", arch, "--format", fmt, "--seed", seed,
            "--outdir", d] + (["--no-double"] if "--no-double" in flags else [])
    subprocess.run(make, check=True)
    model = os.path.join(d, f"ResNet-{arch}-model.caffemodel")
    out = os.path.join(d, "converted.npz")
    if os.path.exists(out):  # a previous run's
        os.remove(out)
    t0 = time.perf_counter()
    rc, err = run([r50, "convert", model, out] + ([] if "--infer" in flags else ["--arch", arch]))
    print(err, end="")
    check(rc == 0, f"convert exit {rc} ({time.perf_counter() - t0:.1f} s)")
    if rc == 0:
        rc = subprocess.run([sys.executable, fixture, "compare",
                             os.path.join(d, "expected.npz"), out]).returncode
        check(rc == 0, "converted npz == expected npz")
    if not failures and "--cleanup" in flags:
        for f in (model, out, os.path.join(d, "expected.npz")):
            os.remove(f)


def expect_error(r50, model, out, what, want=(), args=()):
    rc, err = run([r50, "convert", model, out] + list(args))
    ok = rc == 1 and model in err and all(w in err for w in want)
    check(ok, f"{what}: exit {rc}" + ("" if ok else f", stderr: {err.strip()[:300]}"))


def layer_offsets(data):
    """Byte offsets of the top-level `layer` fields (field 100: a 2-byte tag)."""
    offs, i = [], 0
    while i < len(data):
        tag, k = varint_at(data, i)
        j = i + k
        if tag & 7 == 2:
            length, k = varint_at(data, j)
            nxt = j + k + length
        elif tag & 7 == 0:
            nxt = j + varint_at(data, j)[1]
        else:
            nxt = j + (8 if tag & 7 == 1 else 4)
        if tag >> 3 == 100:
            offs.append(i)
        i = nxt
    return offs


def varint_at(data, i):
    """(value, size) of the varint at data[i]."""
    value, shift, start = 0, 0, i
    while True:
        b = data[i]
        value |= (b & 0x7F) << shift
        i += 1
        shift += 7
        if not b & 0x80:
            return value, i - start


def cmd_errors(argv):
    r50, d = argv
    src = os.path.join(d, "ResNet-50-model.caffemodel")
    data = open(src, "rb").read()
    bad = os.path.join(d, "damaged.caffemodel")
    out = os.path.join(d, "damaged.npz")
    t0 = time.perf_counter()

    def write(blob):
        with open(bad, "wb") as f:
            f.write(blob)

    n = len(data)
    cuts = sorted({1, 2, 5, 100, 1000, 40_000, n // 3, n // 2, n - 5_000_000, n - 1000,
                   n - 10, n - 1} | {random.Random(5).randrange(n) for _ in range(8)})
    for cut in cuts:
        write(data[:cut])
        expect_error(r50, bad, out, f"truncated to {cut} of {n} bytes")

    # A bit flipped in the length varint after a layer tag so that the layer no longer
    # fits in the file (possible for the last layers, whose rest is short).
    offs = layer_offsets(data)
    rng = random.Random(7)
    n_flipped = 0
    for off in offs[-12:]:
        length, size = varint_at(data, off + 2)
        rest = n - (off + 2 + size)
        flips = [(i, b) for i in range(size) for b in range(7)
                 if length ^ (1 << (7 * i + b)) > rest]
        if not flips:
            continue
        i, b = flips[0]
        flipped = bytearray(data)
        flipped[off + 2 + i] ^= 1 << b
        write(bytes(flipped))
        expect_error(r50, bad, out, f"layer length at byte {off + 2 + i} flipped from "
                     f"{length} to {length ^ (1 << (7 * i + b))}", ["longer than the rest"])
        n_flipped += 1
    check(n_flipped >= 4, f"{n_flipped} layer lengths flipped")
    # A layer tag turned into a group tag.
    flipped = bytearray(data)
    flipped[offs[3]] = 0xa3
    write(bytes(flipped))
    expect_error(r50, bad, out, "layer tag made a group", ["group"])

    # Random flips anywhere: values change or the structure breaks; never a crash.
    for k in range(12):
        flipped = bytearray(data)
        pos = rng.randrange(n)
        flipped[pos] ^= 1 << rng.randrange(8)
        write(bytes(flipped))
        rc, err = run([r50, "convert", bad, out])
        check(rc in (0, 1) and (rc == 0 or bad in err),
              f"random flip at byte {pos}: exit {rc} {err.strip()[-200:] if rc else ''}")
        if os.path.exists(out):
            os.remove(out)

    write(data.replace(b"res3b_branch2b", b"res3b_branch2X"))
    expect_error(r50, bad, out, "renamed layer", ["layer 'res3b_branch2b' is missing",
                                                  "res3/b1/conv2"])
    # Names of equal length, so the encoding stays valid.
    swapped = data.replace(b"res2a_branch2a", b"res2a_branch2#")
    swapped = swapped.replace(b"res2a_branch2b", b"res2a_branch2a")
    write(swapped.replace(b"res2a_branch2#", b"res2a_branch2b"))
    expect_error(r50, bad, out, "swapped layers",
                 ["layer 'res2a_branch2a' blob 0 (weights) has shape (64, 64, 3, 3), "
                  "expected (64, 64, 1, 1) for res2/a/conv1/W"])
    expect_error(r50, src, out, "--arch 101 on a ResNet-50 caffemodel",
                 ["ResNet-50", "res4f_branch2a", "ResNet-101"], ["--arch", "101"])
    expect_error(r50, os.path.join(d, "nonexistent.caffemodel"), out, "missing file")
    expect_error(r50, os.path.join(d, "expected.npz"), out, "an npz given as caffemodel")
    rc, err = run([r50, "convert", src])
    check(rc == 2, f"one argument: usage error, exit {rc}")
    rc, err = run([r50, "convert", src, out, "--arch", "34"])
    check(rc == 2 and "--arch" in err, f"--arch 34: usage error, exit {rc}")
    check(not os.path.exists(out), "no npz is left behind by a failed conversion")
    with open(out, "wb") as f:
        f.write(b"precious")
    rc, err = run([r50, "convert", src, out])
    with open(out, "rb") as f:
        kept = f.read() == b"precious"
    check(rc == 1 and "--overwrite" in err and out in err and kept,
          f"an existing OUT.npz is refused without --overwrite: exit {rc}, kept {kept}")
    rc, err = run([r50, "convert", src, out, "--overwrite"])
    with open(out, "rb") as f:
        zipped = f.read(4) == b"PK\x03\x04"
    check(rc == 0 and zipped, f"--overwrite replaces it with the npz: exit {rc}")
    for f in (bad, out):
        if os.path.exists(f):
            os.remove(f)
    print(f"error cases: {time.perf_counter() - t0:.1f} s")


def main():
    if len(sys.argv) < 2 or sys.argv[1] not in ("exact", "errors"):
        sys.exit(__doc__)
    {"exact": cmd_exact, "errors": cmd_errors}[sys.argv[1]](sys.argv[2:])
    if failures:
        sys.exit(f"test_convert: {len(failures)} failure(s)")
    print("test_convert: all checks passed")


if __name__ == "__main__":
    main()
