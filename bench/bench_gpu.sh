#!/usr/bin/env bash
# The GPU benchmark: r50worker's CUDA engine next to PyTorch on the same GPU
# (bench/torch_gpu_peer.py: torchvision's ResNet-50, channels_last, cudnn.benchmark,
# autocast bf16), ROUNDS times interleaved, every figure printed, then the medians and
# the ratios r50worker / PyTorch. Both run the same network: r50worker's
# --downsample-fb is torchvision's layout (the stride on the 3x3 conv; 4.09 GMAC an
# image, where Chainer's MSRA layout, r50worker's default, has 3.86). Rows:
#   inference to pool5, batch 256: fp32 (no TF32 anywhere), tf32, bf16
#   training steps (BN in training mode, backward, SGD with momentum), batch 128: fp32,
#   tf32, bf16 (PyTorch's autocast; r50worker's bfloat16 activations, float32 master
#   weights)
# Both sides take their input from host memory every iteration.
# With BENCH_DEADLINE=<epoch seconds> no run starts after that time: the rows not run
# print "-" (a lent GPU's minutes are few; tests/gpu/check.sh sets it).
#
# usage: bench/bench_gpu.sh [R50WORKER] [SECONDS] [ROUNDS]   (build/r50worker, 10, 2)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bin=${1:-$root/build/r50worker}
seconds=${2:-10}
rounds=${3:-2}
py=${PYTHON:-python3}
[[ -x $bin ]] || { echo "bench_gpu.sh: $bin not found" >&2; exit 1; }

rows=(infer:fp32:256 infer:tf32:256 infer:bf16:256 train:fp32:128 train:tf32:128 train:bf16:128)
declare -A r50 torch
failed=0
deadline=${BENCH_DEADLINE:-0}
limit=$((4 * seconds + 120)) # one run, its start (cuDNN's search, PyTorch's import) too

figure() { grep -oE 'img_per_s=[0-9.]+' | tail -n 1 | cut -d= -f2; }

for ((r = 1; r <= rounds; r++)); do
  for row in "${rows[@]}"; do
    if ((deadline && $(date +%s) >= deadline)); then
      echo "bench_gpu.sh: BENCH_DEADLINE reached in round $r: no more runs"
      break 2
    fi
    IFS=: read -r mode prec batch <<<"$row"
    train_flag=()
    [[ $mode == train ]] && train_flag=(--train)
    cmd=("$bin" bench --device cuda --model none --downsample-fb --precision "$prec" --batch "$batch"
         --layers pool5 --seconds "$seconds" "${train_flag[@]}")
    # (each run's output goes to stderr whole: tee /dev/stderr would reopen, and so
    # truncate, a log file that stderr is redirected to)
    log=$(timeout "$limit" "${cmd[@]}" 2>&1 | tr '\r' '\n') || true
    printf '%s\n' "$log" >&2
    a=$(figure <<<"$log") || a=
    log=$(timeout "$limit" "$py" "$root/bench/torch_gpu_peer.py" --mode "$mode" \
          --precision "$prec" --batch "$batch" --seconds "$seconds" 2>&1) || true
    printf '%s\n' "$log" >&2
    b=$(figure <<<"$log") || b=
    echo "round $r $mode $prec batch $batch: r50worker ${a:-failed} img/s, PyTorch ${b:-failed} img/s"
    [[ -n $a && -n $b ]] || failed=1
    r50[$row]+="${a:-0} " torch[$row]+="${b:-0} "
  done
done

median() { tr ' ' '\n' | awk NF | sort -g | awk '{v[NR] = $1} END {
  if (NR == 0) print "-"; else print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }
echo
echo "medians of up to $rounds rounds (img/s), $(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1)"
printf '%-6s %-5s %6s %12s %12s %7s\n' mode prec batch r50worker PyTorch ratio
for row in "${rows[@]}"; do
  IFS=: read -r mode prec batch <<<"$row"
  a=$(median <<<"${r50[$row]:-}") b=$(median <<<"${torch[$row]:-}")
  if [[ $a == - ]]; then
    printf '%-6s %-5s %6d %12s %12s %7s\n' "$mode" "$prec" "$batch" - - -
    continue
  fi
  awk -v m="$mode" -v p="$prec" -v n="$batch" -v a="$a" -v b="$b" 'BEGIN {
    printf "%-6s %-5s %6d %12.1f %12.1f %7.2f\n", m, p, n, a, b, (b > 0 ? a / b : 0) }'
done
if ((failed)); then
  echo "bench_gpu.sh: some runs failed (their figures count as 0 above)" >&2
  exit 1
fi
