#!/usr/bin/env bash
# One lent-GPU call for both device checks at once, on separate CPUs
# (bench/device/cpus.py): the CPU check (bench/device/cpu_check.sh, the fast CPU
# engine on the machine's Intel CPU) and the GPU check (tests/gpu/check.sh, pinned to
# the CPUs the first leaves free). Both bundles are prepared here first
# (bench/device/prepare.sh, tests/gpu/prepare.sh) and carried:
#   run(command="bash bench/device/run.sh $OUT 540 520 5 2",
#       carry=["cpu-bundle.tar.xz", "gpu-bundle.tar.xz"], timeout_s=590)
# GPU_PARTS (default "bench parity profile": the table first, then cuda_parity,
# whose CPU side then shares the machine with the CPU benchmarks, each on its own
# CPUs) is the GPU check's CHECK_PARTS; GPU_BUDGET 0
# leaves the GPU out. OUT_DIR gets cpu.txt, cpu_tests.txt, cpu_bench.txt,
# cpu_train.txt, and gpu.txt (the GPU check's files, one after another) and
# gpu_bench_log.txt: within a call's eight files.
#
# usage: bench/device/run.sh OUT_DIR CPU_BUDGET GPU_BUDGET [SECONDS] [ROUNDS]
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
out=$1 cpu_budget=$2 gpu_budget=$3 secs=${4:-6} rounds=${5:-2}
mkdir -p "$out"
eval "$("${PYTHON:-python3}" "$root/bench/device/cpus.py")"
echo "CPUs: benchmarks $BENCH_CPUS, bf16 checks $TEST_CPUS, GPU check $GPU_CPUS"
if ((gpu_budget > 0)); then
  mkdir -p "$out/g"
  # (cuda_parity's CPU side gets fewer CPUs than alone: more time)
  (CHECK_PARTS=${GPU_PARTS:-bench parity profile} PARITY_TIMEOUT=${PARITY_TIMEOUT:-320} \
    taskset -c "$GPU_CPUS" \
    bash "$root/tests/gpu/check.sh" "$out/g" 4 1 "$gpu_budget" >"$out/g/check.log" 2>&1) &
fi
BENCH_CPUS=$BENCH_CPUS TEST_CPUS=$TEST_CPUS bash "$root/bench/device/cpu_check.sh" "$out" "$secs" "$rounds" "$cpu_budget"
wait
if [[ -d $out/g ]]; then
  for f in check.log info.txt parity.txt bench.txt profile.txt nvidia-smi.txt; do
    [[ -f $out/g/$f ]] && { echo "======== $f"; cat "$out/g/$f"; }
  done >"$out/gpu.txt"
  mv "$out/g/bench_log.txt" "$out/gpu_bench_log.txt" 2>/dev/null
  rm -rf "$out/g"
fi
# what to read first: the figures, and every check's verdict but the PASSes
for f in cpu.txt cpu_tests.txt cpu_bench.txt cpu_train.txt; do
  echo "======== $f"
  grep -a -E 'FAIL|exit|cosine|top-1|medians|ratios|peak|GMAC|^round|BATCHED|LAYOUT|^cpu |^ *[0-9]+ [a-z_0-9]+:|^build|Model name|checks done' "$out/$f" |
    cut -c1-300 | head -40
done
