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
cmake -S "$root" -B "$build" -DR50_CUDA=ON -DR50_MPI=OFF -DR50_ONEDNN=OFF \
  -DCMAKE_CUDA_ARCHITECTURES=90 -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" -j "$(nproc)" --target r50worker cuda_parity image_tool
rm -rf "$bundle" "$root/gpu-bundle.tar.xz"
"$root/../shared/device/bundle.sh" "$bundle" "$build/r50worker" "$build/tests/cuda_parity"
R50_ROOT=$root /usr/bin/python3 - "$build/tests/image_tool" "$bundle/photos.f32" <<'PY'
import os, subprocess, sys, tempfile
import numpy as np
sys.path.insert(0, os.environ["R50_ROOT"] + "/tests")
import photos
files = photos.good_photos()
with tempfile.TemporaryDirectory() as tmp:
    subprocess.run([sys.argv[1], "prepare", "224", "224", f"{tmp}/p.npz"] + files, check=True,
                   stdout=subprocess.DEVNULL)
    z = np.load(f"{tmp}/p.npz")
    x = np.stack([z[str(i)] for i in range(len(files))]).astype(np.float32)
x.tofile(sys.argv[2])
print(f"{len(files)} photos prepared into {sys.argv[2]}", file=sys.stderr)
PY
tar -C "$root" -cJf "$root/gpu-bundle.tar.xz" gpu-bundle
stat -c %s "$root/gpu-bundle.tar.xz" |
  awk '{printf "gpu-bundle.tar.xz: %.1f MiB (a device run carries at most 64)\n", $1 / 1048576}'
