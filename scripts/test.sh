#!/usr/bin/env bash
# The test command: installs what is missing, builds three times and runs ctest on each:
#   build/       release: the whole suite
#   build-asan/  AddressSanitizer + UBSan: the whole suite
#   build-fuzz/  clang + libFuzzer: every fuzz target for R50_FUZZ_SECONDS (60) each
#
# usage: scripts/test.sh
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
jobs=$(nproc)
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

"$root/scripts/setup.sh" "$root/build"
(cd "$root/build" && ctest --output-on-failure -j "$jobs")

"$root/scripts/setup.sh" "$root/build-asan" -DR50_SANITIZE=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo
# Under the sanitizers, all but the two slowest end-to-end tests: finetune_chainer's
# time is Chainer's own float64 steps, and slurm runs the same r50worker code paths as
# the mpirun tests (finetune_resume/kill/ranks, distributed) that do run here.
(cd "$root/build-asan" && ASAN_OPTIONS=detect_leaks=1 ctest --output-on-failure -j "$jobs" \
  -E '^(finetune_chainer|slurm)$')

CC=clang "$root/scripts/setup.sh" "$root/build-fuzz" -DR50_FUZZ=ON -DR50_CUDA=OFF \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo
(cd "$root/build-fuzz" && ctest -L fuzz --output-on-failure -j "$jobs")
