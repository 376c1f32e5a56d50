#!/usr/bin/env python3
"""sha256.c against Python's hashlib on random files of every length around the
64-byte block and its padding boundary (0..200 bytes), and a few large ones.

usage: test_sha256_hashlib.py TEST_SHA256
"""
import hashlib
import os
import random
import shutil
import subprocess
import sys
import tempfile


def main():
    tool = sys.argv[1]
    tmp = tempfile.mkdtemp(prefix="r50-sha-")
    rng = random.Random(1)
    lengths = list(range(201)) + [1000, 4095, 65536, 65537, 1 << 20, 3 * (1 << 20) + 17]
    files, want = [], {}
    for n in lengths:
        p = os.path.join(tmp, f"f{n}")
        data = rng.randbytes(n)
        with open(p, "wb") as f:
            f.write(data)
        files.append(p)
        want[p] = hashlib.sha256(data).hexdigest()
    out = subprocess.run([tool, *files], capture_output=True, text=True)
    got = dict(reversed(line.split("  ", 1)) for line in out.stdout.splitlines())
    bad = [p for p in files if got.get(p) != want[p]]
    shutil.rmtree(tmp)
    if out.returncode or bad:
        print(f"FAIL: {len(bad)} of {len(files)} digests differ from hashlib "
              f"(first: {bad[:3]}); {out.stderr}")
        return 1
    print(f"test_sha256_hashlib: {len(files)} files equal hashlib's digests")
    return 0


if __name__ == "__main__":
    sys.exit(main())
