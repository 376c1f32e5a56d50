#!/usr/bin/env bash
# End-to-end extraction throughput on real photos next to the forward-only figure:
#   1. r50worker bench (forward only, random input), batch 16, 2 threads
#   2. r50worker extract, 1 rank x 2 threads
#   3. mpirun -np 2 r50worker extract, 2 ranks x 1 thread
# The photos (python3-skimage and python3-sklearn's) are repeated COPIES times under
# other names, so the run is long enough. Prints each img/s and end-to-end / forward.
#
# SIZE (default 224) is the network's input (--size of extract, --size of bench): a
# smaller one makes the forward cheaper while decoding costs the same, which is how a
# slow CPU shows the balance of a faster one (at 112, a quarter of the forward's work).
#
# The three run ROUNDS times, interleaved (the machines are shared and noisy); every
# figure is printed, then the medians and their ratios.
#
# usage: bench/bench_extract.sh [BUILD_DIR] [COPIES] [SIZE] [ROUNDS]
#        (defaults: build, 8, 224, 1)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${1:-$root/build}
copies=${2:-8}
size=${3:-224}
rounds=${4:-1}
bin=$build/r50worker
[[ -x $bin ]] || { echo "bench_extract.sh: $bin not found; build first" >&2; exit 1; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

n=$(/usr/bin/python3 "$root/tests/photos.py" link "$tmp/photos" "$copies")
echo "$n photos" >&2

rate() { grep -oE "$1" | tail -n 1 | grep -oE '[0-9]+\.[0-9]+'; }

fwd_cmd=("$bin" bench --model none --batch 16 --threads 2 --layers pool5 --seconds 20
         --size "$size")
e1_cmd=("$bin" extract --model none --batch 16 --chunk 32 --threads 2 --size "$size"
        "$tmp/photos" -o "$tmp/e1.h5")
e2_cmd=(mpirun -np 2 "$bin" extract --model none --batch 16 --chunk 32 --threads 1
        --size "$size" "$tmp/photos" -o "$tmp/e2.h5")

fwd=() e1=() e2=()
for ((r = 1; r <= rounds; r++)); do
  fwd+=("$("${fwd_cmd[@]}" 2>&1 | rate 'img_per_s=[0-9.]+')")
  rm -f "$tmp/e1.h5" "$tmp/e2.h5"
  e1+=("$("${e1_cmd[@]}" 2>&1 | rate '[0-9.]+ img/s after set-up')")
  e2+=("$("${e2_cmd[@]}" 2>&1 | rate '[0-9.]+ img/s after set-up')")
  echo "round $r: forward ${fwd[-1]}, extract 1x2 ${e1[-1]}, extract 2x1 ${e2[-1]} img/s"
done
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR] = $1} END {
  print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }
f=$(median "${fwd[@]}") a=$(median "${e1[@]}") b=$(median "${e2[@]}")

echo "forward only:        ${fwd_cmd[*]}"
echo "1 rank x 2 threads:  ${e1_cmd[*]}"
echo "2 ranks x 1 thread:  ${e2_cmd[*]}"
echo "images: $n real photos (decode + resize + forward + HDF5 write), size $size, medians of $rounds"
echo "forward_img_per_s=$f"
echo "extract_1x2_img_per_s=$a"
echo "extract_2x1_img_per_s=$b"
awk -v f="$f" -v a="$a" -v b="$b" 'BEGIN {
  printf "ratio_1x2=%.3f\nratio_2x1=%.3f\n", a / f, b / f }'
