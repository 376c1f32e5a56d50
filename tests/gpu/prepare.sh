#!/usr/bin/env bash
# Prepares the GPU check on this (GPU-less) machine, as ../shared/device/README.md
# describes: builds r50worker and cuda_parity for the H200 (sm_90; no MPI, no oneDNN:
# the bundle must stay under 64 MiB), bundles them with the libraries a bare GPU
# machine lacks (../shared/device/bundle.sh), adds the real test photos prepared at
# 224x224 (Chainer's prepare, raw float32 NCHW: photos.f32) and packs it all into
# gpu-bundle.tar.xz (git-ignored). Then, on the GPU machine:
#   run(command="bash tests/gpu/check.sh", carry=["gpu-bundle.tar.xz"], timeout_s=540)
#
# usage: tests/gpu/prepare.sh [BUILD_DIR]     (default: build-gpu)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=${1:-$root/build-gpu}
bundle=$root/gpu-bundle
cmake -S "$root" -B "$build" -DR50_CUDA=ON -DR50_MPI=OFF -DR50_ONEDNN=OFF -DR50_HEIF=OFF \
  -DCMAKE_CUDA_ARCHITECTURES=90 -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" -j "$(nproc)" --target r50worker cuda_parity image_tool
rm -rf "$bundle" "$root/gpu-bundle.tar.xz"
"$root/../shared/device/bundle.sh" "$bundle" "$build/r50worker" "$build/tests/cuda_parity"
echo "$(/usr/bin/python3 "$root/tests/photos.py" f32 "$build/tests/image_tool" \
  "$bundle/photos.f32") photos prepared into $bundle/photos.f32" >&2
tar -C "$root" -cJf "$root/gpu-bundle.tar.xz" gpu-bundle
stat -c %s "$root/gpu-bundle.tar.xz" |
  awk '{printf "gpu-bundle.tar.xz: %.1f MiB (a device run carries at most 64)\n", $1 / 1048576}'
