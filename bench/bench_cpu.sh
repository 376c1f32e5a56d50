#!/usr/bin/env bash
# CPU inference benchmark: r50worker against the engines a user would pick instead —
# ONNX Runtime, OpenVINO (f32 and bf16 precision hints) and Debian's PyTorch — on
# torchvision's ResNet-50 up to pool5 (r50worker --downsample-fb: the same network,
# 4.09 GMAC/image), 2 threads, batch 16 and batch 1, random weights and inputs.
#
# The first time, it makes a venv with onnxruntime and openvino from PyPI
# (BENCH_VENV, default <repo>/.venv-bench) and exports torchvision's resnet50 to ONNX
# with Debian's PyTorch (bench/onnx_peer.py). Then it runs every engine back to back,
# ROUNDS times interleaved, each under /usr/bin/time -v, and prints every figure
# (img_per_s and peak RSS), the medians, the ratios against the peers, this machine's
# FMA peak (build/bench/peak_fma) and the share of it r50worker reaches.
#
# Usage: bench/bench_cpu.sh [BUILD_DIR] [SECONDS] [ROUNDS]   (defaults: <repo>/build, 15, 2)
#
# Elsewhere (bench/device/cpu_check.sh, on a machine without Debian's packages or a
# network): BENCH_PEER_PY is a python with onnxruntime and openvino (no venv is made),
# BENCH_TORCH_PY one with torch and torchvision (default /usr/bin/python3), BENCH_TIME
# GNU time (default /usr/bin/time). Run it under `taskset` to give it a machine's share.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${1:-$root/build}
secs=${2:-15}
rounds=${3:-2}
venv=${BENCH_VENV:-$root/.venv-bench}
work=${BENCH_WORK:-/tmp/r50-bench}
r50=$build/r50worker
torch_py=${BENCH_TORCH_PY:-/usr/bin/python3}
time_bin=${BENCH_TIME:-/usr/bin/time}
for f in "$r50" "$build/bench/peak_fma" "$(command -v "$torch_py")" "$time_bin"; do
  if [[ ! -x $f ]]; then
    echo "bench_cpu.sh: $f not found or not executable (build first; /usr/bin/time is Debian's 'time')" >&2
    exit 1
  fi
done
if [[ -n ${BENCH_PEER_PY:-} ]]; then
  peer_py=$BENCH_PEER_PY
  "$peer_py" -c 'import onnxruntime, openvino' ||
    { echo "bench_cpu.sh: BENCH_PEER_PY=$peer_py cannot import onnxruntime and openvino" >&2; exit 1; }
else
  peer_py=$venv/bin/python
  if [[ ! -x $peer_py ]] || ! "$peer_py" -c 'import onnxruntime, openvino' 2>/dev/null; then
    echo "== making $venv with onnxruntime and openvino from PyPI" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q onnxruntime openvino numpy
  fi
fi
mkdir -p "$work"
onnx=$work/resnet50-torchvision.onnx
if [[ ! -s $onnx ]]; then
  "$torch_py" "$root/bench/onnx_peer.py" export "$onnx" >&2
fi
bf16_cpu=no
grep -qE 'amx_bf16|avx512_bf16' /proc/cpuinfo && bf16_cpu=yes

peer=$root/bench/onnx_peer.py
# name: command (batch and seconds appended)
declare -A cmd
r50_args="bench --device cpu --model none --arch 50 --downsample-fb --threads 2 --layers pool5 --engine onednn"
cmd[r50_fp32]="$r50 $r50_args --precision fp32"
cmd[r50_bf16]="$r50 $r50_args --precision bf16"
cmd[ort_fp32]="$peer_py $peer ort $onnx --threads 2"
cmd[ov_f32]="$peer_py $peer openvino $onnx --threads 2 --precision f32"
cmd[ov_bf16]="$peer_py $peer openvino $onnx --threads 2 --precision bf16"
cmd[torch_fp32]="$torch_py $root/bench/torch_peer.py --threads 2"
names=(r50_fp32 ort_fp32 ov_f32 torch_fp32)
if [[ $bf16_cpu == yes ]]; then
  names+=(r50_bf16 ov_bf16)
fi

log=$work/bench_cpu-$(date +%Y%m%d-%H%M%S).log
: >"$log"
# run_one NAME BATCH: appends "NAME BATCH IMG_PER_S RSS_KB" to $log
run_one() {
  local name=$1 batch=$2 out last rss argv
  read -r -a argv <<<"${cmd[$name]}"
  out=$("$time_bin" -v "${argv[@]}" --batch "$batch" --seconds "$secs" 2>&1) || {
    printf '%s\n' "$out" >&2; echo "bench_cpu.sh: $name failed" >&2; exit 1; }
  printf '%s\n' "$out" | grep -vE '^\s+[A-Z].*: ' >&2 || true
  last=$(printf '%s\n' "$out" | grep -E '^img_per_s=' | tail -n 1)
  rss=$(printf '%s\n' "$out" | sed -n 's/^\s*Maximum resident set size (kbytes): //p')
  if [[ ! $last =~ ^img_per_s=([0-9.]+)$ ]]; then
    echo "bench_cpu.sh: $name printed no img_per_s" >&2; exit 1
  fi
  echo "$name $batch ${BASH_REMATCH[1]} $rss" | tee -a "$log"
}

for round in $(seq "$rounds"); do
  for batch in 16 1; do
    for name in "${names[@]}"; do
      echo "== round $round, batch $batch: $name" >&2
      run_one "$name" "$batch"
    done
  done
done
peak_out=$("$build/bench/peak_fma" 2 2) || echo "bench_cpu.sh: peak_fma failed: no share of the peak" >&2
printf '%s\n' "$peak_out" >&2
peak=$(printf '%s\n' "$peak_out" | sed -n 's/^peak_gmac_per_s=//p')
bf16_peak=$(printf '%s\n' "$peak_out" | sed -n 's/^bf16_peak_gmac_per_s=//p')

echo
for name in "${names[@]}"; do echo "$name: ${cmd[$name]}"; done
echo "bf16 on this CPU (AMX-BF16 or AVX512-BF16): $bf16_cpu"
awk -v peak="${peak:-0}" -v bf16_peak="${bf16_peak:-0}" '
  function median(k,   n, i, j, t, a) {
    n = cnt[k]; for (i = 1; i <= n; i++) a[i] = v[k, i]
    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
    return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
  }
  { k = $1 " " $2; cnt[k]++; v[k, cnt[k]] = $3; if ($4 > rss[k]) rss[k] = $4; seen[$1] = 1; batches[$2] = 1 }
  END {
    for (b in batches) {
      printf "batch %s medians (img/s, peak RSS MiB):", b
      for (n in seen) { m[n, b] = median(n " " b); printf " %s=%.2f (%.0f)", n, m[n, b], rss[n " " b] / 1024 }
      printf "\n"
      best = m["ort_fp32", b] > m["ov_f32", b] ? m["ort_fp32", b] : m["ov_f32", b]
      printf "batch %s ratios: r50_fp32/best_of_ort_ov_fp32=%.3f r50_fp32/ort=%.3f r50_fp32/ov_f32=%.3f r50_fp32/torch=%.3f",
             b, m["r50_fp32", b] / best, m["r50_fp32", b] / m["ort_fp32", b], m["r50_fp32", b] / m["ov_f32", b],
             m["r50_fp32", b] / m["torch_fp32", b]
      if (("r50_bf16", b) in m) printf " r50_bf16/ov_bf16=%.3f", m["r50_bf16", b] / m["ov_bf16", b]
      printf "\n"
      if (peak > 0)
        printf "batch %s r50_fp32: %.1f GMAC/s of direct convolution = %.0f%% of the %.1f GMAC/s FMA peak (its Winograd kernels multiply less: above 100%% is possible)\n", b,
               m["r50_fp32", b] * 4.09, 100 * m["r50_fp32", b] * 4.09 / peak, peak
      if (("r50_bf16", b) in m && bf16_peak > 0)
        printf "batch %s r50_bf16: %.1f GMAC/s = %.0f%% of the %.1f GMAC/s bf16 dot-product peak\n", b,
               m["r50_bf16", b] * 4.09, 100 * m["r50_bf16", b] * 4.09 / bf16_peak, bf16_peak
    }
  }' "$log"
echo "figures: $log"
