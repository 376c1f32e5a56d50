#!/usr/bin/env bash
# Does pinning the compute threads pay on this machine? Runs each workload with the
# OpenMP threads free (the scheduler places them within the rank's affinity mask) and
# pinned one per core (OMP_PROC_BIND=close OMP_PLACES=cores, which libgomp, and so
# oneDNN and OpenBLAS, honour), back to back, ROUNDS times interleaved:
#   1. r50worker bench, forward, batch 16        (--threads THREADS)
#   2. r50worker bench, forward, batch 1
#   3. r50worker bench --train, batch 8 (forward + backward + MomentumSGD)
#   4. r50worker extract of the real test photos (COPIES times), 1 rank
# Prints every figure, then the medians and pinned / free for each.
#
# Under OMP_PROC_BIND libgomp binds the first thread to the first place when the first
# parallel region starts, and every thread it creates afterwards (the prefetch reader,
# MPI's and HDF5's) inherits that one core: workload 4 shows what that costs.
#
# usage: bench/bench_pin.sh [BUILD_DIR] [SECONDS] [ROUNDS] [THREADS] [COPIES]
#        (defaults: build, 10, 3, 2, 6)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${1:-$root/build}
seconds=${2:-10}
rounds=${3:-3}
threads=${4:-2}
copies=${5:-6}
bin=$build/r50worker
[[ -x $bin ]] || { echo "bench_pin.sh: $bin not found; build first" >&2; exit 1; }
unset OMP_PROC_BIND OMP_PLACES
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

/usr/bin/python3 "$root/tests/photos.py" link "$tmp/photos" "$copies" >/dev/null

rate() { grep -oE "$1" | tail -n 1 | grep -oE '[0-9]+\.[0-9]+'; }
common=(--model none --arch 50 --downsample-fb --threads "$threads" --engine onednn)
run() { # run WORKLOAD: prints its img/s
  case $1 in
  fwd16) "$bin" bench "${common[@]}" --batch 16 --seconds "$seconds" 2>&1 |
           rate 'img_per_s=[0-9.]+' ;;
  fwd1) "$bin" bench "${common[@]}" --batch 1 --seconds "$seconds" 2>&1 |
          rate 'img_per_s=[0-9.]+' ;;
  train8) "$bin" bench "${common[@]}" --train --batch 8 --seconds "$seconds" 2>&1 |
            rate 'img_per_s=[0-9.]+' ;;
  extract) "$bin" extract "${common[@]}" --batch 16 "$tmp/photos" -o "$tmp/x.h5" \
             --overwrite 2>&1 | rate '[0-9.]+ img/s after set-up' ;;
  esac
}

workloads=(fwd16 fwd1 train8 extract)
declare -A got
for ((r = 1; r <= rounds; r++)); do
  for w in "${workloads[@]}"; do
    free=$(run "$w")
    pinned=$(OMP_PROC_BIND=close OMP_PLACES=cores run "$w")
    got[$w.free]+="$free " got[$w.pinned]+="$pinned "
    echo "round $r $w: free $free, pinned $pinned img/s"
  done
done

median() { printf '%s\n' "$@" | sort -g | awk '{v[NR] = $1} END {
  print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }
echo "medians of $rounds rounds, $threads threads, $(nproc) CPUs in this process's mask:"
for w in "${workloads[@]}"; do
  # shellcheck disable=SC2086
  f=$(median ${got[$w.free]}) p=$(median ${got[$w.pinned]})
  awk -v w="$w" -v f="$f" -v p="$p" 'BEGIN {
    printf "%-8s free %7.2f  pinned %7.2f img/s  pinned/free %.3f\n", w, f, p, p / f }'
done
