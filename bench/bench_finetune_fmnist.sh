#!/usr/bin/env bash
# Convergence benchmark of `r50worker finetune`: Fashion-MNIST (Debian's
# dataset-fashion-mnist: 60,000 training and 10,000 test 28x28 product photos, 10
# classes) as PNG ImageFolder trees (bench/fashion_mnist_png.py, once), ResNet-50 from
# random init, 2 ranks x 1 thread, resized to 40x40, random 32x32 crops and mirrors,
# validated on the test split after every epoch. Prints the time of every epoch, the
# test top-1 of every epoch (log.jsonl), and leaves RUN_DIR/curves.svg.
#
# Usage: bench/bench_finetune_fmnist.sh [BUILD_DIR] [WORK_DIR] [EPOCHS] [extra finetune options]
#   (defaults: <repo>/build, /tmp/r50-fmnist, 3)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${1:-$root/build}
work=${2:-/tmp/r50-fmnist}
epochs=${3:-3}
shift $(($# < 3 ? $# : 3))
if [[ ! -d /usr/share/datasets/fashion-mnist ]]; then
  echo "bench_finetune_fmnist.sh: install Debian's dataset-fashion-mnist" >&2
  exit 1
fi
/usr/bin/python3 "$root/bench/fashion_mnist_png.py" "$work/data"
run=$work/run-$(date +%Y%m%d-%H%M%S)
cmd=(mpirun --allow-run-as-root --oversubscribe -np 2 "$build/r50worker" finetune
     "$work/data/train" --val "$work/data/test" --model none --size 40 --crop 32
     --batch 32 --threads 1 --epochs "$epochs" --lr 0.02 --lr-schedule cosine
     --warmup-epochs 0.1 --log-every 100 --out "$run" "$@")
echo "\$ ${cmd[*]}"
start=$(date +%s)
"${cmd[@]}"
end=$(date +%s)
echo "total: $((end - start)) s for $epochs epochs"
/usr/bin/python3 - "$run/log.jsonl" <<'PY'
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
prev = 0.0
for r in recs:
    if "validation/main/accuracy" in r:
        t = r["elapsed_time"]
        print(f"epoch {r['epoch']}: test top-1 {r['validation/main/accuracy']:.4f} "
              f"(top-5 {r['validation/main/top5']:.4f}, loss {r['validation/main/loss']:.4f}, "
              f"{r['validation/main/count']} images) at {t:.0f} s, epoch took {t - prev:.0f} s")
        prev = t
PY
echo "curves: $run/curves.svg"
