#!/usr/bin/env bash
# extract --reuse at scale: the time to copy ROWS rows of pool5 (float16, 4 KiB a row)
# from an older file, on 1 rank and on RANKS ranks, in the two shapes a copy takes:
#   runs  — the rows OLD holds are in the same order (a dataset that grew): long runs
#           of consecutive rows, I/O-bound;
#   single — every row from a different place in OLD (a list shuffled since): each row
#           a run of its own, the worst case per row.
# Each case runs with BIN (this build) and, if given, OTHER (another build of
# r50worker, e.g. an older commit), interleaved, twice; every figure is printed.
#
# The fixtures: 4 photos made with PIL, a 4-row OLD computed from them, then one
# file of ROWS rows, all done, made by --reuse from it (every row of the 4 paths);
# its path list is then rewritten with h5py to ROWS distinct names (the `runs` OLD).
# The lists' rows are not read as images: a copied row is never decoded.
#
# Usage: bench/bench_reuse.sh [BUILD_DIR] [WORK_DIR] [ROWS] [RANKS] [OTHER_BIN]
#   (defaults: <repo>/build, /tmp/r50-reuse, 500000, 2, none)
# Needs about 3 x ROWS x 4 KiB of disk in WORK_DIR.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=$(cd "${1:-$root/build}" && pwd)
work=${2:-/tmp/r50-reuse}
rows=${3:-500000}
ranks=${4:-2}
other=${5:-}
bin=$build/r50worker
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
opts=(extract --model none --threads 1 --size 32 --layers pool5 --dtype float16)
mkdir -p "$work"
cd "$work"

/usr/bin/python3 - "$rows" <<'PY'
import os, sys
from PIL import Image
rows = int(sys.argv[1])
os.makedirs("img", exist_ok=True)
names = [f"img/photo_{c}_with_a_name_as_long_as_a_row.jpg" for c in "abcd"]  # (h5py below)
for i, n in enumerate(names):
    Image.new("RGB", (40, 30), (60 * i, 255 - 60 * i, 128)).save(n)
with open("four.txt", "w") as f:
    f.writelines(n + "\n" for n in names)
order = "acbd"  # no two consecutive rows from consecutive rows of OLD
with open("single.txt", "w") as f:
    f.writelines(names["abcd".index(order[i % 4])] + "\n" for i in range(rows))
with open("cycle.txt", "w") as f:
    f.writelines(names[i % 4] + "\n" for i in range(rows))
with open("runs.txt", "w") as f:  # the names the runs OLD will hold, plus 1% more
    f.writelines(f"img/row_{i:09d}.jpg\n" for i in range(rows + rows // 100))
PY
mpirun -np 1 "$bin" "${opts[@]}" four.txt -o four.h5 --overwrite 2>/dev/null
mpirun -np "$ranks" "$bin" "${opts[@]}" cycle.txt -o runs_old.h5 --overwrite \
  --reuse four.h5 2>/dev/null
/usr/bin/python3 - "$rows" <<'PY'
import sys
import h5py, numpy as np
rows = int(sys.argv[1])
with h5py.File("runs_old.h5", "r+") as f:
    p = f["images/path"]
    names = np.array([f"img/row_{i:09d}.jpg".encode() for i in range(rows)])
    assert names.dtype.itemsize <= p.dtype.itemsize and int((f["images/status"][()] == 1).sum()) == rows
    p[...] = names.astype(p.dtype)
PY

one() { # LABEL BIN NP LIST OLD
  local t0 t1
  rm -f out.h5
  t0=$(date +%s.%N)
  mpirun -np "$3" "$2" "${opts[@]}" "$4" -o out.h5 --reuse "$5" 2>err.txt || {
    cat err.txt >&2
    return 1
  }
  t1=$(date +%s.%N)
  awk -v l="$1" -v a="$t0" -v b="$t1" -v n="$rows" \
    'BEGIN { printf "%-28s %7.2f s  %9.0f rows/s\n", l, b - a, n / (b - a) }'
}
for _ in 1 2; do
  for shape in runs single; do
    old=$([[ $shape == runs ]] && echo runs_old.h5 || echo four.h5)
    for np_ in 1 "$ranks"; do
      one "$shape np$np_ this" "$bin" "$np_" "$shape.txt" "$old"
      [[ -n $other ]] && one "$shape np$np_ other" "$other" "$np_" "$shape.txt" "$old"
    done
  done
done
rm -f out.h5
