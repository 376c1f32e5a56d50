#!/usr/bin/env bash
# End-to-end extraction throughput on real photos next to the forward-only figure:
#   1. r50worker bench (forward only, random input), batch 16, 2 threads
#   2. r50worker extract, 1 rank x 2 threads
#   3. mpirun -np 2 r50worker extract, 2 ranks x 1 thread
# The photos (python3-skimage and python3-sklearn's) are repeated COPIES times under
# other names, so the run is long enough. Prints each img/s and end-to-end / forward.
#
# usage: bench/bench_extract.sh [BUILD_DIR] [COPIES]     (defaults: build, 8)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${1:-$root/build}
copies=${2:-8}
bin=$build/r50worker
[[ -x $bin ]] || { echo "bench_extract.sh: $bin not found; build first" >&2; exit 1; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

/usr/bin/python3 -c "
import os, sys
sys.path.insert(0, '$root/tests')
import photos
dest, copies = '$tmp/photos', $copies
os.makedirs(dest)
for c in range(copies):
    for i, p in enumerate(photos.real_photos()):
        if os.path.basename(p) != 'truncated.jpg':
            os.symlink(p, os.path.join(dest, f'{c}_{i:03d}_{os.path.basename(p)}'))
print(len(os.listdir(dest)), 'photos', file=sys.stderr)
"
n=$(find "$tmp/photos" -mindepth 1 -maxdepth 1 | wc -l)

rate() { grep -oE "$1" | tail -n 1 | grep -oE '[0-9]+\.[0-9]+'; }

fwd_cmd=("$bin" bench --model none --batch 16 --threads 2 --layers pool5 --seconds 20)
e1_cmd=("$bin" extract --model none --batch 16 --chunk 32 --threads 2 "$tmp/photos" -o "$tmp/e1.h5")
e2_cmd=(mpirun -np 2 "$bin" extract --model none --batch 16 --chunk 32 --threads 1
        "$tmp/photos" -o "$tmp/e2.h5")

fwd=$("${fwd_cmd[@]}" 2>&1 | rate 'img_per_s=[0-9.]+')
e1=$("${e1_cmd[@]}" 2>&1 | rate '[0-9.]+ img/s after set-up')
e2=$("${e2_cmd[@]}" 2>&1 | rate '[0-9.]+ img/s after set-up')

echo "forward only:        ${fwd_cmd[*]}"
echo "1 rank x 2 threads:  ${e1_cmd[*]}"
echo "2 ranks x 1 thread:  ${e2_cmd[*]}"
echo "images: $n real photos (decode + resize + forward + HDF5 write)"
echo "forward_img_per_s=$fwd"
echo "extract_1x2_img_per_s=$e1"
echo "extract_2x1_img_per_s=$e2"
awk -v f="$fwd" -v a="$e1" -v b="$e2" 'BEGIN {
  printf "ratio_1x2=%.3f\nratio_2x1=%.3f\n", a / f, b / f }'
