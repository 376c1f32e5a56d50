#!/usr/bin/env bash
# A feature file for 10^8 rows (bench/store_bench.c): the time to create it, its size
# on disk and its metadata overhead, then open + a sample of row writes on RANKS ranks
# and the failed-row table. The file is sparse: its features take room only as rows
# are written. It is removed at the end.
#
# Usage: bench/bench_store.sh [BUILD_DIR] [OUT.h5] [ROWS] [RANKS] [float16|float32]
#   (defaults: <repo>/build, /tmp/r50-store-bench.h5, 1e8, 2, float16)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${1:-$root/build}
out=${2:-/tmp/r50-store-bench.h5}
rows=${3:-1e8}
ranks=${4:-2}
dtype=${5:-float16}
mpirun --allow-run-as-root --oversubscribe -np "$ranks" "$build/bench/store_bench" "$out" \
  "$rows" 10000 "$dtype"
ls -ls "$out"
rm -f "$out"
