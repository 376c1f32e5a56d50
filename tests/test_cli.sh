#!/usr/bin/env bash
# CLI contract: --help for every command, --version, exit code 2 with a one-line error
# for unknown options, bad values and unknown commands, `info` parameter counts,
# `bench` last line, the message when no pretrained weights are installed, and the
# default --threads (OMP_NUM_THREADS, SLURM_CPUS_PER_TASK, the affinity mask).
# usage: test_cli.sh R50WORKER
set -u
bin=$1
fails=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

check() { # check DESCRIPTION WANT_RC CMD... ; output in $tmp/out, $tmp/err
  local what=$1 want=$2
  shift 2
  "$@" >"$tmp/out" 2>"$tmp/err"
  local rc=$?
  if [[ $rc != "$want" ]]; then
    echo "FAIL: $what: exit $rc, want $want: $*"; cat "$tmp/err"; fails=$((fails + 1))
  fi
}
contains() { # contains DESCRIPTION FILE TEXT
  if ! grep -qF -- "$3" "$2"; then
    echo "FAIL: $1: '$3' not in $2:"; cat "$2"; fails=$((fails + 1))
  fi
}
one_line_err() {
  if [[ $(wc -l <"$tmp/err") != 1 ]]; then
    echo "FAIL: $1: error is not one line:"; cat "$tmp/err"; fails=$((fails + 1))
  fi
}

check "--version" 0 "$bin" --version
contains "--version" "$tmp/out" "r50worker "
check "--help" 0 "$bin" --help
contains "--help" "$tmp/out" "commands:"
for cmd in info bench extract predict convert; do
  check "$cmd --help" 0 "$bin" $cmd --help
  contains "$cmd --help" "$tmp/out" "usage: r50worker $cmd"
  contains "$cmd --help" "$tmp/out" "--arch"
  check "$cmd unknown option" 2 "$bin" $cmd --frobnicate
  one_line_err "$cmd unknown option"
  contains "$cmd unknown option" "$tmp/err" "--frobnicate"
  check "$cmd bad arch" 2 "$bin" $cmd --arch 34
  one_line_err "$cmd bad arch"
  contains "$cmd bad arch" "$tmp/err" "'34'"
  check "$cmd missing value" 2 "$bin" $cmd --threads
  one_line_err "$cmd missing value"
  check "$cmd bad threads" 2 "$bin" $cmd --threads two
  one_line_err "$cmd bad threads"
  check "$cmd stray argument" 2 "$bin" $cmd extra1 extra2 extra3
  one_line_err "$cmd stray argument"
done
check "unknown command" 2 "$bin" frobnicate
one_line_err "unknown command"
check "no command" 2 "$bin"

check "info 50" 0 "$bin" info --model none
contains "info 50" "$tmp/out" "25,557,096"
contains "info 50" "$tmp/out" "(1, 2048, 7, 7)"
contains "info 50" "$tmp/out" "(1, 64, 56, 56)"
check "info 101 fb" 0 "$bin" info --model none --arch 101 --downsample-fb
contains "info 101" "$tmp/out" "44,549,224"
check "info 152" 0 "$bin" info --model none --arch=152
contains "info 152" "$tmp/out" "60,192,872"

CHAINER_DATASET_ROOT=$tmp/empty check "auto without weights" 1 "$bin" info
contains "auto without weights" "$tmp/err" "$tmp/empty/pfnet/chainer/models/ResNet-50-model.npz"
contains "auto without weights" "$tmp/err" "--model none"
check "missing npz" 1 "$bin" info --model "$tmp/nope.npz"
contains "missing npz" "$tmp/err" "$tmp/nope.npz"

check "bench" 0 "$bin" bench --model none --batch 1 --threads 1 --seconds 0 --layers pool5,res2
contains "bench" "$tmp/out" "res2"
# more threads than the CPUs the process may use: a warning; --threads 0: none
check "bench oversubscribed" 0 taskset -c 0 "$bin" bench --model none --batch 1 --threads 3 \
  --seconds 0
contains "bench oversubscribed" "$tmp/err" "3 compute threads on the 1 CPU this process may use"
check "bench threads 0" 0 taskset -c 0 "$bin" bench --model none --batch 1 --threads 0 --seconds 0
if grep -q "compute threads on" "$tmp/err"; then
  echo "FAIL: --threads 0 warned: $(cat "$tmp/err")"; fails=$((fails + 1))
fi
check "bench spaced layers" 0 "$bin" bench --model none --batch 1 --threads 1 --seconds 0 \
  --layers "pool5, res2 "
contains "bench spaced layers" "$tmp/out" "res2"
if ! tail -n 1 "$tmp/out" | grep -qE '^img_per_s=[0-9]+\.[0-9]+$'; then
  echo "FAIL: bench last line: $(tail -n 1 "$tmp/out")"; fails=$((fails + 1))
fi
check "predict unreadable labels" 2 "$bin" predict --model none --labels "$tmp/nope.txt" "$tmp"
one_line_err "predict unreadable labels"
contains "predict unreadable labels" "$tmp/err" "$tmp/nope.txt"
check "extract without -o" 2 "$bin" extract --model none "$tmp"
one_line_err "extract without -o"
check "extract bad size" 2 "$bin" extract --model none --size 10x10 "$tmp" -o "$tmp/x.h5"
one_line_err "extract bad size"
check "extract bad layer" 2 "$bin" extract --model none --layers pool5,fc7 "$tmp" -o "$tmp/x.h5"
one_line_err "extract bad layer"
check "bench bad layer" 2 "$bin" bench --model none --layers pool6
one_line_err "bench bad layer"

# --engine and --precision: unknown values refused; every CPU engine runs; bf16 runs
# where the CPU has it, and is fp32 with a warning elsewhere
check "bench bad engine" 2 "$bin" bench --model none --engine fast
one_line_err "bench bad engine"
check "bench bad precision" 2 "$bin" bench --model none --precision fp16
one_line_err "bench bad precision"
engines=$("$bin" info --model none --engine onednn >/dev/null 2>&1 && echo "reference onednn" || echo reference)
for e in $engines; do
  check "info --engine $e" 0 "$bin" info --model none --engine "$e"
  contains "info --engine $e" "$tmp/out" "engine    $e, fp32"
  check "bench --engine $e" 0 "$bin" bench --model none --batch 1 --threads 1 --seconds 0 --engine "$e"
  contains "bench --engine $e" "$tmp/out" "$e engine, fp32"
done
check "info bf16" 0 "$bin" info --model none --precision bf16
if grep -qE 'amx_bf16|avx512_bf16' /proc/cpuinfo && [[ $engines == *onednn* ]]; then
  contains "info bf16" "$tmp/out" "onednn, bf16"
else
  contains "info bf16" "$tmp/out" ", fp32"
  contains "info bf16" "$tmp/err" "bf16 was asked for"
fi
if [[ $engines == *onednn* ]]; then
  # ONEDNN_MAX_CPU_ISA held below bf16 and AVX-512: fp32 with the warning, on oneDNN's
  # AVX2 kernels (blocked for them), never its reference ones
  check "bf16 under ONEDNN_MAX_CPU_ISA=AVX2" 0 env ONEDNN_MAX_CPU_ISA=AVX2 ONEDNN_VERBOSE=1 \
    "$bin" bench --model none --precision bf16 --batch 2 --threads 1 --seconds 0 --size 64
  contains "bf16 under ONEDNN_MAX_CPU_ISA=AVX2" "$tmp/out" "onednn engine, fp32"
  contains "bf16 under ONEDNN_MAX_CPU_ISA=AVX2" "$tmp/err" "ONEDNN_MAX_CPU_ISA"
  contains "bf16 under ONEDNN_MAX_CPU_ISA=AVX2" "$tmp/out" "jit_1x1:avx2"
  if grep -q "ref:any" "$tmp/out"; then
    echo "FAIL: bf16 under ONEDNN_MAX_CPU_ISA=AVX2: a convolution on oneDNN's reference kernel"
    fails=$((fails + 1))
  fi
fi
check "info bf16 reference" 0 "$bin" info --model none --precision bf16 --engine reference
contains "info bf16 reference" "$tmp/out" "reference, fp32"
contains "info bf16 reference" "$tmp/err" "bf16 was asked for"
check "finetune bad engine" 2 "$bin" finetune "$tmp/nope.txt" --engine fast
one_line_err "finetune bad engine"
check "finetune --size below the crop" 2 "$bin" finetune "$tmp/nope.txt" --size 64
one_line_err "finetune --size below the crop"
contains "finetune --size below the crop" "$tmp/err" "--crop 224 must not exceed --size 64"
# a 'path,label' list not named .csv: read as text lists are, with a warning
printf 'img/a.jpg,3\nimg/b.jpg,4\n' >"$tmp/commas.txt"
# (these two start MPI, whose allocations LeakSanitizer cannot be told about: memory
# errors only, as in threads_case below)
no_leaks="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
check "comma list" 3 env ASAN_OPTIONS="$no_leaks" "$bin" extract --model none --threads 1 \
  "$tmp/commas.txt" -o "$tmp/c.h5"
contains "comma list" "$tmp/err" "commas.txt:1: 'img/a.jpg,3' looks like CSV (path,label)"
# a copy a launcher started as rank 1 or above leaves a usage error to rank 0
for var in OMPI_COMM_WORLD_RANK PMIX_RANK PMI_RANK SLURM_PROCID; do
  check "usage error on $var=1" 2 env "$var=1" "$bin" extract --bogus x -o y.h5
  [[ ! -s $tmp/err ]] || { echo "FAIL: $var=1 printed:"; cat "$tmp/err"; fails=$((fails + 1)); }
  check "usage error on $var=0" 2 env "$var=0" "$bin" extract --bogus x -o y.h5
  one_line_err "usage error on $var=0"
done
: >"$tmp/afile" # --out naming a file, not a folder: said so, the file untouched
check "finetune --out a file" 1 env ASAN_OPTIONS="$no_leaks" "$bin" finetune "$tmp" \
  --model none --out "$tmp/afile"
contains "finetune --out a file" "$tmp/err" "$tmp/afile exists and is not a folder"
[[ -f $tmp/afile && ! -s $tmp/afile ]] || { echo "FAIL: --out file changed"; fails=$((fails + 1)); }

# --threads 0 (the default): the CPUs this rank may use, never more than its mask
mkdir -p "$tmp/one"
echo "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==" |
  base64 -d >"$tmp/one/pixel.png"
threads_case() { # threads_case DESCRIPTION WANT CMD...
  local what=$1 want=$2
  shift 2
  rm -f "$tmp/t.h5"
  # extract initialises MPI, whose allocations LeakSanitizer cannot be told about:
  # as for every MPI test, memory errors only (tests/CMakeLists.txt)
  check "threads: $what" 0 env -u OMP_NUM_THREADS -u SLURM_CPUS_PER_TASK \
    ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" "$@" "$bin" extract \
    --model none --size 32 "$tmp/one" -o "$tmp/t.h5"
  contains "threads: $what" "$tmp/err" "rank x $want thread"
}
threads_case "one CPU in the mask" 1 taskset -c 0
threads_case "OMP_NUM_THREADS=1" 1 env OMP_NUM_THREADS=1
threads_case "SLURM_CPUS_PER_TASK=1" 1 env SLURM_CPUS_PER_TASK=1
threads_case "OMP_NUM_THREADS=64 on one CPU: never more than the mask" 1 \
  env OMP_NUM_THREADS=64 taskset -c 0
if (($(nproc) >= 2)); then
  threads_case "two CPUs in the mask" 2 taskset -c 0,1
  threads_case "OMP_NUM_THREADS wins over SLURM_CPUS_PER_TASK" 1 \
    env OMP_NUM_THREADS=1 SLURM_CPUS_PER_TASK=2 taskset -c 0,1
fi

if [[ $fails != 0 ]]; then
  echo "test_cli: $fails failure(s)"; exit 1
fi
echo "test_cli: all checks passed"
