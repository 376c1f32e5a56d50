#!/usr/bin/env bash
# CPU benchmark: r50worker vs. PyTorch (bench/torch_peer.py), ResNet-50 up to pool5,
# batch 16, 2 threads. Runs r50, torch, r50, torch back to back, takes the last line
# `img_per_s=<float>` of each, and prints every figure, the median per engine and
# ratio=<r50/torch>.
#
# Usage: bench/bench_cpu.sh [BUILD_DIR] [SECONDS]   (defaults: <repo>/build, 20)
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${1:-$root/build}
secs=${2:-20}

r50=$build/r50worker
peer=$root/bench/torch_peer.py
if [[ ! -x $r50 ]]; then
  echo "bench_cpu.sh: $r50 not found or not executable; build first (cmake --build $build)" >&2
  exit 1
fi
if [[ ! -x /usr/bin/python3 ]]; then
  echo "bench_cpu.sh: /usr/bin/python3 not found" >&2
  exit 1
fi

# torchvision's ResNet-50 strides on the 3x3 conv, i.e. Chainer's downsample_fb=True
# (4.09 GMAC/image against 3.86 for the MSRA default): bench the same network.
r50_cmd=("$r50" bench --model none --arch 50 --downsample-fb --batch 16 --threads 2
         --layers pool5 --seconds "$secs")
torch_cmd=(/usr/bin/python3 "$peer" --batch 16 --threads 2 --seconds "$secs")

# Runs a command with its output shown on stderr; echoes the figure of its last line.
run_one() {
  local out last
  out=$("$@") || { echo "bench_cpu.sh: failed: $*" >&2; exit 1; }
  printf '%s\n' "$out" >&2
  last=$(printf '%s\n' "$out" | tail -n 1)
  if [[ ! $last =~ ^img_per_s=([0-9]+(\.[0-9]*)?([eE][-+]?[0-9]+)?)$ ]]; then
    echo "bench_cpu.sh: last line of '$*' is not img_per_s=<float>: $last" >&2
    exit 1
  fi
  echo "${BASH_REMATCH[1]}"
}

declare -a r50_ips torch_ips
for i in 1 2; do
  echo "== r50worker run $i" >&2
  r50_ips+=("$(run_one "${r50_cmd[@]}")")
  echo "== torch run $i" >&2
  torch_ips+=("$(run_one "${torch_cmd[@]}")")
done

echo "r50worker: ${r50_cmd[*]}"
echo "torch:     ${torch_cmd[*]}"
for i in 0 1; do
  echo "run $((i + 1)): r50_img_per_s=${r50_ips[i]} torch_img_per_s=${torch_ips[i]}"
done
awk -v a1="${r50_ips[0]}" -v a2="${r50_ips[1]}" -v b1="${torch_ips[0]}" -v b2="${torch_ips[1]}" '
  BEGIN {
    r = (a1 + a2) / 2; t = (b1 + b2) / 2
    printf "median r50_img_per_s=%.3f torch_img_per_s=%.3f\n", r, t
    if (t <= 0) { print "bench_cpu.sh: torch figure is zero" > "/dev/stderr"; exit 1 }
    printf "ratio=%.3f\n", r / t
  }'
