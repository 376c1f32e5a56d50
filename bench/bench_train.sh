#!/usr/bin/env bash
# Training speed: `r50worker finetune` against PyTorch (bench/torch_train_peer.py) on
# the same network (Chainer's ResNet-50 definition, 10-class fc6), the same global
# batch and the same CPU threads, interleaved r50, torch, r50, torch. r50worker runs
# the Fashion-MNIST recipe of bench_finetune_fmnist.sh (PNG decode, resize, random crop
# and mirror included) for STEPS steps and its img/s is read from its log; the peer
# trains on tensors made once (compute only). Prints each figure, the medians and
# ratio=<r50/torch>.
#
# Usage: bench/bench_train.sh [BUILD_DIR] [STEPS] [RANKS] [BATCH_PER_RANK] [SIZE] [CROP]
#   (defaults: <repo>/build, 60, 2, 32, 40, 32; torch gets RANKS threads, RANKS x BATCH
#   and CROP x CROP inputs). ImageNet-sized steps: bench_train.sh build 20 2 8 256 224
#   (global batch 16 of 224 x 224). PRECISION=bf16 in the environment: r50worker with
#   --precision bf16 (bf16 convolutions where the CPU has AMX-BF16 or AVX512-BF16, else
#   fp32 and a warning) against the peer under torch.autocast bf16.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${1:-$root/build}
steps=${2:-60}
ranks=${3:-2}
batch=${4:-32}
size=${5:-40}
crop=${6:-32}
precision=${PRECISION:-fp32}
peer_flags=()
[ "$precision" = bf16 ] && peer_flags=(--bf16)
log_every=$((steps >= 20 ? 10 : 1))
work=${R50_BENCH_WORK:-/tmp/r50-fmnist}
/usr/bin/python3 "$root/bench/fashion_mnist_png.py" "$work/data" >&2
r50_once() {
  local run
  run=$(mktemp -d /tmp/r50-bench-train-XXXXXX)
  mpirun --allow-run-as-root --oversubscribe -np "$ranks" "$build/r50worker" finetune \
    "$work/data/train" --model none --size "$size" --crop "$crop" --batch "$batch" --threads 1 \
    --precision "$precision" --steps "$steps" --lr 0.02 --log-every "$log_every" --out "$run/run" 2>"$run/err" >&2 ||
    { cat "$run/err" >&2; exit 1; }
  # img/s over the log records after the first (warm-up) one
  /usr/bin/python3 - "$run/run/log.jsonl" "$((ranks * batch))" <<'PY'
import json, sys
r = [json.loads(l) for l in open(sys.argv[1]) if "main/loss" in l]
gb = int(sys.argv[2])
a, b = r[0], r[-1]
print(f"{(b['iteration'] - a['iteration']) * gb / (b['elapsed_time'] - a['elapsed_time']):.3f}")
PY
  rm -rf "$run"
}
torch_once() {
  /usr/bin/python3 "$root/bench/torch_train_peer.py" --batch "$((ranks * batch))" \
    --threads "$ranks" --crop "$crop" --classes 10 --seconds 40 "${peer_flags[@]}" | tail -n 1 | sed 's/img_per_s=//'
}
r=() t=()
for _ in 1 2; do
  r+=("$(r50_once)"); echo "r50worker finetune -np $ranks --batch $batch --precision $precision: ${r[-1]} img/s"
  t+=("$(torch_once)"); echo "torch $((ranks * batch)) x $ranks threads: ${t[-1]} img/s"
done
/usr/bin/python3 - "${r[@]}" "${t[@]}" <<'PY'
import statistics, sys
v = [float(x) for x in sys.argv[1:]]
r, t = v[:len(v) // 2], v[len(v) // 2:]
print(f"r50 median {statistics.median(r):.2f} img/s, torch median {statistics.median(t):.2f} img/s")
print(f"ratio={statistics.median(r) / statistics.median(t):.3f}")
PY
