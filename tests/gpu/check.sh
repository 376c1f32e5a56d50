#!/usr/bin/env bash
# The CUDA engine's proof on a GPU machine (prepared here by tests/gpu/prepare.sh, run
# there as ../shared/device/README.md describes), in one run of under 8 minutes:
#   1. tests/gpu/cuda_parity: fp32 layers within 1e-4 of the reference CPU engine,
#      tf32/bf16 pool5 cosine >= 0.999 and top-1 on >= 99% of the real photos, every
#      training op (every conv shape, BN, pooling, fc6, loss, MomentumSGD) on the same
#      operands within 1e-4 / 1e-3 (bf16 2e-2), a training step's loss, fc6 gradients
#      and BN averages, a 20-step fine-tune's loss curve, NCCL on one rank;
#   2. bench/bench_gpu.sh: inference (batch 256) and training (batch 128) img/s next to
#      PyTorch on the same GPU, ROUNDS interleaved rounds, medians and ratios;
#   3. per-op GPU times and cuDNN's choices (R50_CUDA_PROFILE=1), and training steps
#      with deterministic backward algorithms or the fastest (R50_CUDNN_DETERMINISTIC).
# Results go to OUT_DIR (default $OUT, else ./out): info.txt, parity.txt, bench.txt
# (the table), bench_log.txt (every run's output), profile.txt, nvidia-smi.txt.
# BUDGET (seconds, default 480) bounds the whole check: no benchmark run starts after
# BUDGET - 150 s (its rows not run print "-"), and no profile run within 40 s of the
# end, so a run with timeout_s = BUDGET + 60 returns everything it measured.
#
# usage: tests/gpu/check.sh [OUT_DIR] [BENCH_SECONDS] [ROUNDS] [BUDGET]
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
out=${1:-${OUT:-$root/out}}
seconds=${2:-5}
rounds=${3:-2}
budget=${4:-480}
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
BENCH_DEADLINE=$((start + budget - 150)) \
  timeout $((budget - ($(date +%s) - start))) \
  "$root/bench/bench_gpu.sh" "$bin/r50worker" "$seconds" "$rounds" >"$out/bench_log.txt" 2>&1
bench=$?
grep -a -A 20 '^medians' "$out/bench_log.txt" >"$out/bench.txt"
echo "bench_gpu.sh exit $bench after $(($(date +%s) - start)) s" >>"$out/bench.txt"
# Where the time goes (R50_CUDA_PROFILE: GPU time per engine op, cuDNN's choices), and
# training with the fastest backward algorithms rather than deterministic ones; each
# run only while the budget lasts.
profile() { # LABEL ENV... -- ARGS...: one bench run, if there is time for it
  local label=$1
  shift
  if (($(date +%s) + 40 > start + budget)); then
    echo "== $label: not run (BUDGET)"
    return
  fi
  echo "== $label"
  local env=()
  while [[ $1 != -- ]]; do
    env+=("$1")
    shift
  done
  shift
  env "${env[@]}" timeout 60 "$bin/r50worker" bench --device cuda --model none "$@" 2>&1 |
    tr '\r' '\n' | grep -a -v '^ *$'
}
{
  profile "profile, inference fp32 256" R50_CUDA_PROFILE=1 -- --precision fp32 --batch 256 --seconds 3
  profile "profile, training fp32 128" R50_CUDA_PROFILE=1 -- --precision fp32 --batch 128 --seconds 3 --train
  profile "profile, training bf16 128" R50_CUDA_PROFILE=1 -- --precision bf16 --batch 128 --seconds 3 --train
  for prec in fp32 bf16; do
    for det in 1 0; do
      profile "training $prec 128, R50_CUDNN_DETERMINISTIC=$det" R50_CUDNN_DETERMINISTIC=$det -- \
        --precision "$prec" --batch 128 --seconds 4 --train | grep -a -E '^==|img_per_s'
    done
  done
} >"$out/profile.txt" 2>&1
echo "profile runs done after $(($(date +%s) - start)) s" >>"$out/profile.txt"
grep -a -v '^PASS' "$out/parity.txt" | head -40
cat "$out/bench.txt"
[[ $parity == 0 && $bench == 0 ]]
