#!/usr/bin/env python3
"""r50worker's float32 -> float16 conversion against numpy's astype(np.float16), bit
for bit: every float32 exponent with the mantissas around each rounding boundary (ties
to even and odd, just above and below), every subnormal boundary, zeros, infinities,
NaNs, the overflow edge, and 2^24 random bit patterns; and all 65,536 halves back to
float32 against numpy.

usage: test_half_numpy.py HALF_TOOL
"""
import subprocess
import sys

import numpy as np

TOOL = sys.argv[1]


def ours(x):
    out = subprocess.run([TOOL], input=x.astype("<f4").tobytes(), capture_output=True,
                         check=True).stdout
    return np.frombuffer(out, "<u2")


def main():
    fails = 0
    exp = np.arange(256, dtype=np.uint32) << 23
    lows = np.array([0, 1, 0xFFF, 0x1000, 0x1001, 0x1FFF, 0x2000, 0x3000, 0x7FF000,
                     0x7FFFFF, 0x7FE000, 0x7FEFFF, 0x7FF001, 0x400000, 0x401000],
                    dtype=np.uint32)
    # subnormal halves: the discarded bits' boundaries at every shift 14..24
    shifts = []
    for s in range(1, 25):
        for d in (-1, 0, 1):
            v = (1 << (s - 1)) + d
            if 0 <= v <= 0x7FFFFF:
                shifts.append(v)
            v = (3 << (s - 1)) + d
            if 0 <= v <= 0x7FFFFF:
                shifts.append(v)
    mans = np.unique(np.concatenate([lows, np.array(shifts, dtype=np.uint32)]))
    grid = (exp[:, None] | mans[None, :]).ravel()
    rng = np.random.default_rng(7)
    rand = rng.integers(0, 1 << 32, size=1 << 24, dtype=np.uint64).astype(np.uint32)
    bits = np.concatenate([grid, grid | np.uint32(0x80000000), rand])
    x = bits.view(np.float32)
    with np.errstate(all="ignore"):
        want = x.astype(np.float16).view(np.uint16)
    got = ours(x)
    # NaN payloads: numpy keeps the top 10 bits and forces a NaN; compare exactly too
    bad = np.nonzero(got != want)[0]
    print(f"{len(x)} float32 values: {len(bad)} differ from numpy's astype(float16)")
    for i in bad[:10]:
        print(f"  0x{bits[i]:08x} ({x[i]!r}): ours 0x{got[i]:04x}, numpy 0x{want[i]:04x}")
    fails += len(bad) > 0
    h = np.arange(1 << 16, dtype=np.uint16)
    back = np.frombuffer(subprocess.run([TOOL, "--back"], input=h.tobytes(), capture_output=True,
                                        check=True).stdout, "<f4")
    want_back = h.view(np.float16).astype(np.float32)
    same = (back.view(np.uint32) == want_back.view(np.uint32)) | (np.isnan(back) &
                                                                  np.isnan(want_back))
    print(f"65536 halves back to float32: {int((~same).sum())} differ")
    fails += int((~same).sum()) > 0
    print("half: " + ("FAIL" if fails else "all checks passed"))
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
