#!/usr/bin/env bash
# Installs what a fresh Debian 12 machine lacks to build and test r50worker (apt, as
# root or through sudo), then configures and builds.
#
# usage: scripts/setup.sh [BUILD_DIR [CMAKE_ARGS...]]     (default BUILD_DIR: build)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${1:-$root/build}
shift || true

packages=(
  build-essential cmake pkg-config clang libclang-rt-14-dev
  libopenblas-openmp-dev zlib1g-dev libjpeg62-turbo-dev libpng-dev libwebp-dev libtiff-dev
  libopenjp2-7-dev libopenjp2-tools libheif-dev libheif-examples libjxl-dev libjxl-tools
  openmpi-bin libopenmpi-dev libhdf5-openmpi-dev
  python3 python3-numpy python3-torch python3-torchvision python3-h5py
  python3-mpi4py python3-pil python3-venv python3-skimage python3-sklearn
  python3-protobuf python3-tifffile libinih-dev slurm-wlm munge shellcheck
  libarchive-dev python3-xarray python3-h5netcdf libdnnl-dev
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
    missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}" >&2
  sudo=""
  [[ $(id -u) == 0 ]] || sudo=sudo
  $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends \
    "${missing[@]}"
fi

# Chainer itself (PyPI) is the reference of the interop and parity tests.
venv=$root/.venv-chainer
if ! "$venv/bin/python" -c "import chainer" 2>/dev/null; then
  echo "setup: installing Chainer 7.8.1 into $venv" >&2
  /usr/bin/python3 -m venv --system-site-packages "$venv" &&
    "$venv/bin/pip" install -q chainer==7.8.1 ||
    echo "setup: warning: could not install Chainer; its tests will be skipped" >&2
fi

cmake -S "$root" -B "$build" "$@" >/dev/null
cmake --build "$build" -j "$(nproc)"
