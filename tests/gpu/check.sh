#!/usr/bin/env bash
# The CUDA engine's proof on a GPU machine (prepared here by tests/gpu/prepare.sh, run
# there as ../shared/device/README.md describes), in one run of under 8 minutes:
#   1. tests/gpu/cuda_parity: fp32 layers within 1e-4 of the reference CPU engine,
#      tf32/bf16 pool5 cosine >= 0.999 and top-1 on >= 99% of the real photos, every
#      training op (every conv shape, BN, pooling, fc6, loss, MomentumSGD) on the same
#      operands within 1e-4 / 1e-3 (bf16 2e-2), a training step's loss, fc6 gradients
#      and BN averages, a 20-step fine-tune's loss curve, NCCL on one rank;
#   2. bench/bench_gpu.sh: inference (batch 256) and training (batch 128) img/s next to
#      PyTorch on the same GPU, 2 interleaved rounds, medians and ratios.
# Results go to OUT_DIR (default $OUT, else ./out): info.txt, parity.txt, bench.txt
# (the table), bench_log.txt (every run's output), nvidia-smi.txt.
#
# usage: tests/gpu/check.sh [OUT_DIR] [BENCH_SECONDS]
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
out=${1:-${OUT:-$root/out}}
seconds=${2:-5}
mkdir -p "$out"
if [[ ! -d $root/gpu-bundle ]]; then
  tar -C "$root" -xJf "$root/gpu-bundle.tar.xz" || { echo "no gpu-bundle: run tests/gpu/prepare.sh first" >&2; exit 2; }
fi
# shellcheck source=/dev/null
. "$root/gpu-bundle/env.sh"
# (env.sh finds the CUDA libraries by name; a debugger's or perf's cache of them, a
# folder of the same name, must not shadow them)
LD_LIBRARY_PATH=$(tr ':' '\n' <<<"$LD_LIBRARY_PATH" | grep -v '/\.debug/' | paste -sd:)
export LD_LIBRARY_PATH
bin=$root/gpu-bundle/bin
start=$(date +%s)
nvidia-smi >"$out/nvidia-smi.txt" 2>&1
"$bin/r50worker" info --model none --device cuda >"$out/info.txt" 2>&1
photos=$root/gpu-bundle/photos.f32
n=$(($(stat -c %s "$photos") / (3 * 224 * 224 * 4)))
timeout 240 "$bin/cuda_parity" "$photos" "$n" >"$out/parity.txt" 2>&1
parity=$?
echo "cuda_parity exit $parity after $(($(date +%s) - start)) s" >>"$out/parity.txt"
timeout 330 "$root/bench/bench_gpu.sh" "$bin/r50worker" "$seconds" 2 >"$out/bench_log.txt" 2>&1
bench=$?
grep -a -A 20 '^medians' "$out/bench_log.txt" >"$out/bench.txt"
echo "bench_gpu.sh exit $bench after $(($(date +%s) - start)) s" >>"$out/bench.txt"
cat "$out/info.txt" "$out/parity.txt" "$out/bench.txt"
[[ $parity == 0 && $bench == 0 ]]
