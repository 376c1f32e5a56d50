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
# BUDGET - 60 s (its rows not run print "-"), and no profile run within 40 s of the
# end, so a run with timeout_s = BUDGET + 60 returns everything it measured.
# CHECK_PARTS (default "parity bench profile") chooses the parts and their order;
# PARITY_TIMEOUT (default 240 s) bounds cuda_parity (its CPU side runs on the CPUs given).
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
# Each part is a function; CHECK_PARTS (default "parity bench profile") says which run,
# in which order: a second lease may want the profile before the table, or no parity.
parity=0 bench=0
run_parity() {
  timeout "${PARITY_TIMEOUT:-240}" "$bin/cuda_parity" "$photos" "$n" >"$out/parity.txt" 2>&1
  parity=$?
  echo "cuda_parity exit $parity after $(($(date +%s) - start)) s" >>"$out/parity.txt"
}
run_bench() {
  BENCH_DEADLINE=$((start + budget - 60)) \
    timeout $((budget - 10 - ($(date +%s) - start))) \
    "$root/bench/bench_gpu.sh" "$bin/r50worker" "$seconds" "$rounds" >"$out/bench_log.txt" 2>&1
  bench=$?
  # (every round's line too: a run cut by the budget has no medians)
  { grep -a -E '^round ' "$out/bench_log.txt"; grep -a -A 20 '^medians' "$out/bench_log.txt"; } \
    >"$out/bench.txt"
  echo "bench_gpu.sh exit $bench after $(($(date +%s) - start)) s" >>"$out/bench.txt"
}
# Where the time goes (R50_CUDA_PROFILE: GPU time per engine op, cuDNN's choices; the
# same for PyTorch's kernels), and training with the fastest backward algorithms rather
# than deterministic ones; each run only while the budget lasts.
in_time() { # LABEL: whether there are 40 s left for one more run
  if (($(date +%s) + 40 > start + budget)); then
    echo "== $1: not run (BUDGET)"
    return 1
  fi
  echo "== $1"
}
profile() { # LABEL ENV... -- ARGS...: one bench run, if there is time for it
  in_time "$1" || return 0
  shift
  local env=()
  while [[ $1 != -- ]]; do
    env+=("$1")
    shift
  done
  shift
  env "${env[@]}" timeout 60 "$bin/r50worker" bench --device cuda --model none "$@" 2>&1 |
    tr '\r' '\n' | grep -a -v '^ *$'
}
torch_profile() { # LABEL ARGS...: PyTorch's kernels, the busiest first
  in_time "$1" || return 0
  shift
  timeout 60 "${PYTHON:-python3}" "$root/bench/torch_gpu_peer.py" --profile "$@" 2>&1
}
run_profile() {
  {
    # (Chainer's MSRA network, the default; the bench runs torchvision's, as its peer)
    profile "profile, training fp32 128" R50_CUDA_PROFILE=1 -- --precision fp32 --batch 128 --seconds 3 --train
    profile "profile, training bf16 128" R50_CUDA_PROFILE=1 -- --precision bf16 --batch 128 --seconds 3 --train
    profile "profile, inference fp32 256" R50_CUDA_PROFILE=1 -- --precision fp32 --batch 256 --seconds 3
    torch_profile "PyTorch, training fp32 128" --mode train --precision fp32 --batch 128 --seconds 2
    torch_profile "PyTorch, training bf16 128" --mode train --precision bf16 --batch 128 --seconds 2
    torch_profile "PyTorch, inference fp32 256" --mode infer --precision fp32 --batch 256 --seconds 2
    for run in fp32:1 fp32:0 bf16:0; do # (bf16 deterministic: the bench's row)
      profile "training ${run%:*} 128, R50_CUDNN_DETERMINISTIC=${run#*:}" \
        R50_CUDNN_DETERMINISTIC="${run#*:}" -- --precision "${run%:*}" --batch 128 --seconds 4 \
        --train | grep -a -E '^==|img_per_s'
    done
    echo "profile runs done after $(($(date +%s) - start)) s"
  } >"$out/profile.txt" 2>&1
}
for part in ${CHECK_PARTS:-parity bench profile}; do
  "run_$part"
done
[[ -f $out/parity.txt ]] && grep -a -v '^PASS' "$out/parity.txt" | head -40
[[ -f $out/bench.txt ]] && cat "$out/bench.txt"
[[ $parity == 0 && $bench == 0 ]]
