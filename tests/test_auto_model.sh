#!/usr/bin/env bash
# --model auto with only the caffemodel in the cache: 4 processes started together
# (auto_model_driver's barrier) convert it exactly once, all compute the same pool5,
# equal to a run on the expected npz; the cached npz equals the expected one; a second
# start loads the cache without converting; with an empty cache the error says where
# to download and put the caffemodel and that --model none gives random weights.
#
# usage: test_auto_model.sh R50WORKER DRIVER PYTHON CAFFE_FIXTURE_PY FIXTURE_DIR WORKDIR
# FIXTURE_DIR holds ResNet-50-model.caffemodel and expected.npz (caffe_fixture.py make).
set -u
bin=$1 driver=$2 py=$3 fixture=$4 src=$5 work=$6
nproc=4
fail=0
say() { echo "$*"; }
bad() { echo "FAIL: $*"; fail=1; }

rm -rf "$work"
models=$work/root/pfnet/chainer/models
mkdir -p "$models" "$work/barrier" "$work/out"
ln "$src/ResNet-50-model.caffemodel" "$models/" 2>/dev/null ||
  cp "$src/ResNet-50-model.caffemodel" "$models/"

t0=$(date +%s.%N)
pids=()
for i in $(seq 1 $nproc); do
  CHAINER_DATASET_ROOT=$work/root "$driver" "$work/out/pool5_$i.npz" auto \
    "$work/barrier" $nproc 2>"$work/out/log_$i" &
  pids+=($!)
done
for i in $(seq 1 $nproc); do
  wait "${pids[$((i - 1))]}" || bad "process $i exited with $?: $(cat "$work/out/log_$i")"
done
say "$nproc processes done in $(echo "$(date +%s.%N) - $t0" | bc) s"
cat "$work"/out/log_*

n=$(cat "$work"/out/log_* | grep -c "info: converted ")
[ "$n" = 1 ] || bad "the caffemodel was converted $n times, expected once"
say "$(cat "$work"/out/log_* | grep -c "made by another process while this one waited")" \
  "of the other $((nproc - 1)) processes waited on the lock (the rest found the npz)"
for i in $(seq 2 $nproc); do
  cmp -s "$work/out/pool5_1.npz" "$work/out/pool5_$i.npz" ||
    bad "process $i's pool5 differs from process 1's"
done
"$driver" "$work/out/pool5_ref.npz" "$src/expected.npz" 2>"$work/out/log_ref" ||
  bad "reference run on expected.npz: $(cat "$work/out/log_ref")"
cmp -s "$work/out/pool5_1.npz" "$work/out/pool5_ref.npz" ||
  bad "pool5 from --model auto differs from pool5 with the expected npz loaded directly"
"$py" "$fixture" compare "$src/expected.npz" "$models/ResNet-50-model.npz" ||
  bad "the cached npz differs from the expected one"
if compgen -G "$models/*tmp*" >/dev/null; then
  bad "a temporary file was left in $models: $(echo "$models"/*)"
fi

# A second start finds the cache.
CHAINER_DATASET_ROOT=$work/root "$bin" info >/dev/null 2>"$work/out/log_info" ||
  bad "info with the cached npz: $(cat "$work/out/log_info")"
grep -q "converted" "$work/out/log_info" && bad "the cached npz was converted again"

# A lock file that cannot be created (here: a directory in its place; in practice a
# read-only folder): the caffemodel is loaded directly, nothing is cached.
ro=$work/ro/pfnet/chainer/models
mkdir -p "$ro/ResNet-50-model.npz.lock"
ln "$src/ResNet-50-model.caffemodel" "$ro/" 2>/dev/null || cp "$src/ResNet-50-model.caffemodel" "$ro/"
CHAINER_DATASET_ROOT=$work/ro "$driver" "$work/out/pool5_ro.npz" auto 2>"$work/out/log_ro" ||
  bad "auto without a usable lock file: $(cat "$work/out/log_ro")"
grep -q "without caching" "$work/out/log_ro" || bad "no warning about the uncached load"
[ -e "$ro/ResNet-50-model.npz" ] && bad "an npz was cached without the lock"
cmp -s "$work/out/pool5_ro.npz" "$work/out/pool5_ref.npz" ||
  bad "pool5 from the uncached caffemodel load differs"

# Nothing there: the message says where to download and put it, and --model none.
mkdir -p "$work/empty"
CHAINER_DATASET_ROOT=$work/empty "$bin" info >/dev/null 2>"$work/out/log_empty"
rc=$?
[ $rc = 1 ] || bad "empty cache: exit $rc, expected 1"
for want in "$work/empty/pfnet/chainer/models/ResNet-50-model.caffemodel" \
  "$work/empty/pfnet/chainer/models/ResNet-50-model.npz" \
  "https://github.com/KaimingHe/deep-residual-networks" "--model none"; do
  grep -qF -- "$want" "$work/out/log_empty" || bad "empty-cache message lacks '$want'"
done
cat "$work/out/log_empty"

# Under mpirun: 4 ranks of `extract --model auto` start together on a cache holding only
# the caffemodel; R50_LOG=debug makes every rank log, so the conversions can be counted;
# the features equal those computed with the expected npz.
mroot=$work/mroot/pfnet/chainer/models
mkdir -p "$mroot" "$work/photos"
cp "$src/ResNet-50-model.caffemodel" "$mroot/"
"$py" -c "import sys; sys.path.insert(0, '$(dirname "$0")'); import photos
photos.make_dataset('$work/photos', 6, broken=False)"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
CHAINER_DATASET_ROOT=$work/mroot R50_LOG=debug ASAN_OPTIONS=detect_leaks=0 \
  mpirun --oversubscribe -np 4 "$bin" extract --model auto --batch 1 --chunk 1 --threads 1 \
  "$work/photos" -o "$work/auto.h5" 2>"$work/out/log_mpi" ||
  bad "mpirun -np 4 extract --model auto: $(tail -5 "$work/out/log_mpi")"
n=$(grep -c "info: converted " "$work/out/log_mpi")
[ "$n" = 1 ] || bad "4 ranks converted the caffemodel $n times, expected once"
ASAN_OPTIONS=detect_leaks=0 "$bin" extract --model "$src/expected.npz" --threads 1 \
  "$work/photos" -o "$work/ref.h5" 2>"$work/out/log_mpi_ref" ||
  bad "extract with the expected npz: $(tail -3 "$work/out/log_mpi_ref")"
"$py" -c "import h5py, sys
a, b = (h5py.File(p, 'r')['features/pool5'][()] for p in sys.argv[1:])
sys.exit(0 if a.tobytes() == b.tobytes() else 1)" "$work/auto.h5" "$work/ref.h5" ||
  bad "features of the 4-rank --model auto run differ from the expected npz's"
say "mpirun -np 4 --model auto: converted $n time(s); features equal the expected npz's"

[ $fail = 0 ] && rm -rf "$work" && say "auto model: all checks passed"
exit $fail
