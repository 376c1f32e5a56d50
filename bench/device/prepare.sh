#!/usr/bin/env bash
# Prepares the CPU benchmark for a lent GPU machine's processor (an Intel Xeon with
# AMX-BF16: the kind of CPU the fast CPU engine's targets are set on, which the
# development machines here, AMD ones, lack). bench/device/cpu_check.sh runs it there.
#
# Builds r50worker with the oneDNN and CUDA engines, no MPI and no HEIF (that machine
# has no MPI, HDF5, OpenBLAS or image libraries; libheif's codecs would not fit),
# peak_fma, the bf16 test programs and cuda_parity (its `--peer onednn` checks bf16 on
# the real photos), bundles them with the libraries
# a bare machine lacks (../shared/device/bundle.sh) and GNU time, adds the real test
# photos (tests/photos.py f32) and OpenVINO for that machine's Python 3.12 (its CPU
# plugin and ONNX reader only: the wheel is 59 MiB, a run carries at most 64), and packs
# it all into cpu-bundle.tar.xz (git-ignored). That machine has ONNX Runtime, PyTorch
# and torchvision in its python3 already.
#
# usage: bench/device/prepare.sh [BUILD_DIR]     (default: build-dev)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=${1:-$root/build-dev}
bundle=$root/cpu-bundle
openvino=${OPENVINO_VERSION:-2026.4.1}
cmake -S "$root" -B "$build" -DR50_CUDA=ON -DR50_MPI=OFF -DR50_ONEDNN=ON -DR50_HEIF=OFF \
  -DCMAKE_CUDA_ARCHITECTURES=90 -DCMAKE_BUILD_TYPE=Release >/dev/null
tests=(test_invariance test_precision test_train_bf16 test_train_layouts cuda_parity)
cmake --build "$build" -j "$(nproc)" --target r50worker peak_fma image_tool "${tests[@]}"
rm -rf "$bundle" "$root/cpu-bundle.tar.xz"
"$root/../shared/device/bundle.sh" "$bundle" "$build/r50worker" "$build/bench/peak_fma" \
  /usr/bin/time "${tests[@]/#/$build/tests/}"
mkdir -p "$bundle/bin/bench" # (bench/bench_cpu.sh's BUILD_DIR layout)
mv "$bundle/bin/peak_fma" "$bundle/bin/bench/"
echo "$(/usr/bin/python3 "$root/tests/photos.py" f32 "$build/tests/image_tool" \
  "$bundle/photos.f32") photos prepared into $bundle/photos.f32" >&2

# OpenVINO's wheel for CPython 3.12 on x86-64, installed into cpu-bundle/site without
# its GPU and NPU plugins and the readers of other formats than ONNX.
whl=$(mktemp -d)
trap 'rm -rf "$whl"' EXIT
tags=(--only-binary=:all: --python-version 3.12 --implementation cp
      --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64)
python3 -m pip download -q --no-deps "${tags[@]}" -d "$whl" "openvino==$openvino" openvino-telemetry
python3 -m pip install -q --no-deps --no-compile "${tags[@]}" --target "$bundle/site" "$whl"/*.whl
ov=$bundle/site/openvino
rm -f "$ov"/libs/libopenvino_intel_{gpu,npu}_plugin.so \
  "$ov"/libs/libopenvino_{tensorflow,tensorflow_lite,pytorch,paddle,jax,gguf}_frontend.so.*
rm -rf "$ov"/frontend/{tensorflow,pytorch,paddle,jax} "$bundle/site/bin"
tar -C "$root" -cJf "$root/cpu-bundle.tar.xz" cpu-bundle
stat -c %s "$root/cpu-bundle.tar.xz" |
  awk '{printf "cpu-bundle.tar.xz: %.1f MiB (a device run carries at most 64, gpu-bundle.tar.xz too)\n", $1 / 1048576}'
