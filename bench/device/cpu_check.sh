#!/usr/bin/env bash
# The fast CPU engine's proof on an Intel Xeon with AMX-BF16 (a lent GPU machine's
# processor; prepared here by bench/device/prepare.sh), as a user of a 2-core share
# of such a machine would measure it:
#   1. what the CPU has and what oneDNN runs on it (r50worker info, the kernel of
#      each convolution, peak_fma: the float32 FMA and the bf16 dot-product peaks);
#   2. the bf16 checks, each on 2 CPUs of its own, in parallel: batch invariance of
#      bf16 (test_invariance), bf16 against fp32 per op and per model (test_precision,
#      test_train_bf16), the AVX-512 training bodies' bits (test_train_layouts), and
#      `cuda_parity --peer onednn` on the 35 real photos (pool5 cosine >= 0.999, the
#      same top-1, every training op in bf16 and fp32);
#   3. bench/bench_cpu.sh under `taskset` on BENCH_CPUS (2 CPUs of different cores):
#      r50worker fp32 and bf16 against ONNX Runtime, OpenVINO f32 and bf16, PyTorch,
#      batch 16 and 1, ROUNDS rounds interleaved; then r50worker's modes: fp32 with
#      per-image primitives (R50_ONEDNN_BATCHED=0) against its default (whole-batch
#      direct convolutions), bf16 with whole-batch ones (=1) against its per-image
#      default, and bf16 on blocked activations (R50_ONEDNN_LAYOUT=blocked) against
#      NHWC (AMX's default);
#   4. training steps (r50worker bench --train, batch 16, 224 x 224) against PyTorch
#      (bench/torch_train_peer.py, the same network), fp32 and bf16 (autocast),
#      ROUNDS rounds interleaved, on the same 2 CPUs.
# Results: OUT_DIR/cpu.txt (1), cpu_tests.txt (2), cpu_bench.txt (3), cpu_train.txt (4).
# BENCH_CPUS (default: two CPUs of different cores) and TEST_CPUS (three pairs) say
# where each part runs (defaults: bench/device/cpus.py). No part starts after BUDGET s.
#
# usage: bench/device/cpu_check.sh [OUT_DIR] [SECONDS] [ROUNDS] [BUDGET]  (6, 2, 480)
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
out=${1:-${OUT:-$root/out}}
secs=${2:-6}
rounds=${3:-2}
budget=${4:-480}
py=${PYTHON:-python3}
start=$(date +%s)
mkdir -p "$out"
if [[ ! -d $root/cpu-bundle ]]; then
  tar -C "$root" -xJf "$root/cpu-bundle.tar.xz" || { echo "no cpu-bundle: run bench/device/prepare.sh first" >&2; exit 2; }
fi
# shellcheck source=/dev/null
. "$root/cpu-bundle/env.sh"
LD_LIBRARY_PATH=$(tr ':' '\n' <<<"$LD_LIBRARY_PATH" | grep -v '/\.debug/' | paste -sd:)
export LD_LIBRARY_PATH PYTHONPATH=$root/cpu-bundle/site${PYTHONPATH:+:$PYTHONPATH}
bin=$root/cpu-bundle/bin
# Where each part runs (bench/device/cpus.py), unless BENCH_CPUS and TEST_CPUS say
want_bench=${BENCH_CPUS:-} want_test=${TEST_CPUS:-}
share=$("$py" "$root/bench/device/cpus.py") || exit 2
eval "$share"
bench_cpus=${want_bench:-$BENCH_CPUS}
read -r -a test_cpus <<<"${want_test:-$TEST_CPUS}"
left() { echo $((start + budget - $(date +%s))); }

{
  echo "== this process's CPUs: $(taskset -pc $$ | sed 's/.*: //'); benchmarks on $bench_cpus; tests on ${test_cpus[*]}"
  lscpu 2>&1 | grep -E 'Model name|^CPU\(s\)|Thread|Core|Socket|NUMA node|L2|L3|MHz|Flags'
  echo "== r50worker info --device cpu"
  taskset -c "$bench_cpus" "$bin/r50worker" info --model none --device cpu --engine onednn 2>&1
  for p in fp32 bf16; do # which oneDNN kernels each convolution runs on (AMX: nhwc only)
    echo "== oneDNN's convolution kernels, $p, batch 1: calls, kernel, source format"
    ONEDNN_VERBOSE=1 taskset -c "$bench_cpus" "$bin/r50worker" bench --device cpu \
      --engine onednn --model none --downsample-fb --threads 2 --batch 1 --seconds 0 \
      --precision "$p" 2>&1 | grep 'exec,cpu,convolution' | cut -d, -f5,7 |
      sed 's/::blocked//g' | sort | uniq -c | sort -rn
  done
  echo "== peak_fma 2 2 (on $bench_cpus)"
  taskset -c "$bench_cpus" "$bin/bench/peak_fma" 2 2 2>&1
  echo "== versions"
  "$py" -c 'import torch, onnxruntime, openvino; print("torch", torch.__version__, "onnxruntime", onnxruntime.__version__, "openvino", openvino.__version__)' 2>&1
} >"$out/cpu.txt"

# 2. the bf16 checks, three at once, each on its own pair of CPUs
t0=$(date +%s)
(
  (taskset -c "${test_cpus[0]}" sh -c "R50_ENGINE=onednn R50_TEST_PRECISION=bf16 timeout 300 '$bin/test_invariance' > '$out/t_inv.txt' 2>&1; echo \"test_invariance (onednn, bf16) exit \$?\" >> '$out/t_inv.txt';
     timeout 300 '$bin/test_precision' > '$out/t_prec.txt' 2>&1; echo \"test_precision exit \$?\" >> '$out/t_prec.txt';
     timeout 300 '$bin/test_train_layouts' > '$out/t_lay.txt' 2>&1; echo \"test_train_layouts exit \$?\" >> '$out/t_lay.txt'") &
  (taskset -c "${test_cpus[1]}" sh -c "timeout 300 '$bin/test_train_bf16' > '$out/t_train.txt' 2>&1; echo \"test_train_bf16 exit \$?\" >> '$out/t_train.txt'") &
  (taskset -c "${test_cpus[2]}" sh -c "timeout 300 '$bin/cuda_parity' --peer onednn '$root/cpu-bundle/photos.f32' > '$out/t_parity.txt' 2>&1; echo \"cuda_parity --peer onednn exit \$?\" >> '$out/t_parity.txt'") &
  wait
)
for f in t_inv t_prec t_lay t_train t_parity; do
  echo "==== $f"
  cat "$out/$f.txt"
  rm -f "$out/$f.txt"
done >"$out/cpu_tests.txt"
echo "bf16 checks done in $(($(date +%s) - t0)) s" >>"$out/cpu_tests.txt"

# 3. inference against the peers
if (($(left) > 120)); then
  BENCH_PEER_PY=$(command -v "$py") BENCH_TORCH_PY=$(command -v "$py") BENCH_TIME=$bin/time \
    BENCH_WORK=/tmp/r50-bench timeout "$(left)" taskset -c "$bench_cpus" \
    bash "$root/bench/bench_cpu.sh" "$bin" "$secs" "$rounds" >"$out/cpu_bench.txt" 2>&1
  echo "bench_cpu.sh exit $? after $(($(date +%s) - start)) s" >>"$out/cpu_bench.txt"
else
  echo "bench_cpu.sh not run (BUDGET)" >"$out/cpu_bench.txt"
fi

# 3b. the engine's modes against its defaults on this ISA, interleaved: per-image and
# whole-batch primitives (R50_ONEDNN_BATCHED=0, 2 (fp32's default: its direct
# convolutions whole-batch) and 1: whether bf16 on AMX would pay for giving up
# per-image ones), and bf16 on blocked activations (R50_ONEDNN_LAYOUT=blocked: oneDNN 2.6's
# AVX512-BF16 kernels) against the NHWC default on AMX (its AMX kernels), and the
# residual as a sum post-op (R50_ONEDNN_RESIDUAL=sum: brgconv for those convolutions)
modes=("fp32 16 R50_ONEDNN_BATCHED=0" "fp32 16 R50_ONEDNN_BATCHED=2"
  "bf16 16 R50_ONEDNN_BATCHED=0" "bf16 16 R50_ONEDNN_BATCHED=1"
  "bf16 16 R50_ONEDNN_LAYOUT=blocked" "bf16 16 R50_ONEDNN_RESIDUAL=sum"
  "bf16 1 R50_ONEDNN_BATCHED=0"
  "bf16 1 R50_ONEDNN_LAYOUT=blocked")
{
  for ((r = 1; r <= rounds; r++)); do
    for m in "${modes[@]}"; do
      read -r p b setting <<<"$m"
      if (($(left) < secs + 30)); then echo "$p batch $b $setting: not run (BUDGET)"; continue; fi
      v=$(env "$setting" timeout 120 taskset -c "$bench_cpus" "$bin/r50worker" bench \
        --device cpu --engine onednn --model none --downsample-fb --threads 2 --batch "$b" \
        --precision "$p" --seconds "$secs" 2>&1 | grep -oE 'img_per_s=[0-9.]+' | tail -n 1)
      echo "round $r $p batch $b $setting: ${v:-img_per_s=-}"
    done
  done
} >>"$out/cpu_bench.txt" 2>&1

# 4. training steps against PyTorch
rate() { grep -oE 'img_per_s=[0-9.]+' | tail -n 1 | cut -d= -f2; }
{
  echo "r50worker: $bin/r50worker bench --device cpu --engine onednn --model none --train --batch 16 --threads 2 --precision P --seconds $((2 * secs))"
  echo "PyTorch: $py bench/torch_train_peer.py --batch 16 --threads 2 --crop 224 --classes 1000 --seconds $((2 * secs)) [--bf16]"
  for ((r = 1; r <= rounds; r++)); do
    for p in fp32 bf16; do
      if (($(left) < 3 * secs + 20)); then echo "round $r $p: not run (BUDGET)"; continue; fi
      flag=()
      [[ $p == bf16 ]] && flag=(--bf16)
      a=$(timeout 120 taskset -c "$bench_cpus" "$bin/r50worker" bench --device cpu --engine onednn --model none --train \
        --batch 16 --threads 2 --precision "$p" --seconds $((2 * secs)) 2>&1 | tr '\r' '\n' | rate)
      b=$(timeout 120 taskset -c "$bench_cpus" "$py" "$root/bench/torch_train_peer.py" --batch 16 --threads 2 \
        --crop 224 --classes 1000 --seconds $((2 * secs)) "${flag[@]}" 2>&1 | rate)
      echo "round $r $p: r50worker ${a:--} img/s, PyTorch ${b:--} img/s"
    done
  done
  echo "training done after $(($(date +%s) - start)) s"
} >"$out/cpu_train.txt" 2>&1
ratios=$(awk '/^round/ && $4 == "r50worker" && $5 != "-" && $8 != "-" { s[$3] = s[$3] " " sprintf("%.3f", $5 / $8) } END { for (p in s) print p, "ratios r50worker/PyTorch:" s[p] }' \
  "$out/cpu_train.txt")
echo "$ratios" >>"$out/cpu_train.txt"
