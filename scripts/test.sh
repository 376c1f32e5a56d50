#!/usr/bin/env bash
# The test command: installs what is missing, builds three times and runs ctest on each:
#   build/       release: the whole suite
#   build-asan/  AddressSanitizer + UBSan: the suite but the tests named below
#   build-fuzz/  clang + libFuzzer: every fuzz target for R50_FUZZ_SECONDS (20) each
#
# usage: scripts/test.sh
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cores=$(nproc)
# ctest runs one test more than there are cores: the job tests wait on mpirun, SLURM and
# their polls part of the time (on 2 cores: a release pass kept 1.77 busy at -j 2, an
# ASan pass 1.85 at -j 3)
jobs=$((cores + 1))
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

"$root/scripts/setup.sh" "$root/build"
(cd "$root/build" && ctest --output-on-failure -j "$jobs")

"$root/scripts/setup.sh" "$root/build-asan" -DR50_SANITIZE=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo
# Under the sanitizers, all but the tests whose time is an oracle's (Chainer's, torch's)
# or a cluster's and whose code paths other tests run here: finetune_chainer (Chainer's
# float64 steps; the finetune_* runs), slurm (the mpirun tests' paths), chainer_extract
# and extract_torch (extract on photos; distributed, robust_*, image_formats),
# chainer_convert_50 (convert_*, caffe_parity_50), precision_photos* (bf16 inference;
# test_precision*), grad_parity_50_0 (its training step; grad_parity_avx2_50_0,
# grad_parity_reference_50_0), finetune_bf16 (the fp32 finetune_* runs' job code on
# bf16 ops; test_train_bf16 runs those ops), finetune_best (the best model's bookkeeping:
# finetune_val's validations, finetune_resume's checkpoints and resumes).
(cd "$root/build-asan" && ASAN_OPTIONS=detect_leaks=1 ctest --output-on-failure -j "$jobs" \
  -E '^(finetune_chainer|slurm|chainer_extract|extract_torch|chainer_convert_50|precision_photos|precision_photos_nhwc|grad_parity_50_0|finetune_bf16|finetune_best)$')

CC=clang "$root/scripts/setup.sh" "$root/build-fuzz" -DR50_FUZZ=ON -DR50_CUDA=OFF \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo
(cd "$root/build-fuzz" && ctest -L fuzz --output-on-failure -j "$cores")
