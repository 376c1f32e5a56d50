#!/usr/bin/env bash
# The dataset list at scale (bench/list_bench.c): listing a folder of 10^6 files
# (1,000 class folders of 1,000 empty .jpg files, made once) and sharing it with 4
# ranks, then a 10^7-line list file the same way: time, and every rank's memory, with
# one shared copy per node and with a private copy per rank.
#
# Usage: bench/bench_list.sh [BUILD_DIR] [WORK_DIR] [RANKS]
#   (defaults: <repo>/build, /tmp/r50-list, 4)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${1:-$root/build}
work=${2:-/tmp/r50-list}
ranks=${3:-4}
mkdir -p "$work"
if [[ ! -f $work/tree.done ]]; then
  echo "making $work/tree: 1,000 folders of 1,000 files" >&2
  /usr/bin/python3 - "$work/tree" <<'PY'
import os, sys
root = sys.argv[1]
for c in range(1000):
    d = os.path.join(root, f"class_{c:04d}")
    os.makedirs(d, exist_ok=True)
    for i in range(1000):
        open(os.path.join(d, f"img_{c:04d}_{i:06d}.jpg"), "wb").close()
PY
  touch "$work/tree.done"
fi
if [[ ! -f $work/list10m.txt ]]; then
  echo "making $work/list10m.txt: 10^7 'path label' lines" >&2
  /usr/bin/python3 - "$work/list10m.txt" <<'PY'
import sys
with open(sys.argv[1], "w") as f:
    for i in range(10_000_000):
        f.write(f"shard_{i // 10000:05d}/img_{i:09d}.jpg {i % 1000}\n")
PY
fi
mpi=(mpirun --allow-run-as-root --oversubscribe -np "$ranks")
echo "== 10^6 files in 1,000 class folders, $ranks ranks"
"${mpi[@]}" "$build/bench/list_bench" "$work/tree"
echo "== a list file of 10^7 paths, $ranks ranks"
"${mpi[@]}" "$build/bench/list_bench" "$work/list10m.txt"
