#!/usr/bin/env python3
"""Shares out this process's CPUs for bench/device/run.sh, printed as shell assignments:

  BENCH_CPUS  the first CPU of two different cores: the 2-core machine the CPU
              benchmarks stand for (their siblings are left idle)
  TEST_CPUS   three sets of two CPUs for the bf16 checks, side by side
  GPU_CPUS    the rest, for the GPU check (at least two)

Cores are told apart by /sys's physical_package_id and core_id; where those cannot be
read, every CPU counts as a core of its own.
"""
import os


def main():
    cores = {}  # (package, core) -> its CPUs, in the order first seen
    for c in sorted(os.sched_getaffinity(0)):
        t = f"/sys/devices/system/cpu/cpu{c}/topology/"
        try:
            key = (open(t + "physical_package_id").read().strip(),
                   open(t + "core_id").read().strip())
        except OSError:
            key = ("cpu", str(c))
        cores.setdefault(key, []).append(c)
    order = list(cores.values())
    if len(order) < 2:
        raise SystemExit("cpus.py: fewer than two cores")
    bench = [order[0][0], order[1][0]]
    rest = [c for cpus in order[2:] for c in cpus]  # siblings kept together
    tests, gpu = [], []
    for i in range(3):
        pair = rest[2 * i:2 * i + 2]
        tests.append(pair if len(pair) == 2 else bench)
    gpu = rest[6:] if len(rest) >= 8 else (rest[-2:] if len(rest) >= 2 else bench)
    print(f"BENCH_CPUS={bench[0]},{bench[1]}")
    print('TEST_CPUS="' + " ".join(f"{a},{b}" for a, b in tests) + '"')
    print("GPU_CPUS=" + ",".join(map(str, gpu)))


if __name__ == "__main__":
    main()
