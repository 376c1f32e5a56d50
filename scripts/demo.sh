#!/usr/bin/env bash
# The main job on built-in sample data: installs what is missing, builds, lays out a
# sample dataset (real photos from Debian's python3-skimage and python3-sklearn, plus
# three broken files), extracts pool5 features with `mpirun -np 2`, and reads the
# result back with h5py. Uses the pretrained ResNet-50 when it is installed (see
# README, "Weights"), random weights otherwise — r50worker says which.
#
# usage: scripts/demo.sh
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$root/scripts/setup.sh" "$root/build"
cd "$root/build"
rm -rf sample
/usr/bin/python3 -c "import sys; sys.path.insert(0, '$root/tests'); import photos; photos.make_dataset('sample', 40)"

model=none
weights=${CHAINER_DATASET_ROOT:-$HOME/.chainer/dataset}/pfnet/chainer/models/ResNet-50-model
if [[ -f $weights.npz || -f $weights.caffemodel ]]; then
  model=auto
else
  echo "== no pretrained ResNet-50 installed: this demo uses random weights (--model none)"
fi
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
echo "== mpirun -np 2 r50worker extract --model $model --layers pool5 sample/ -o sample.h5"
mpirun --oversubscribe -np 2 "$root/build/r50worker" extract --model "$model" \
  --layers pool5 --threads 1 --overwrite sample/ -o sample.h5
echo "== reading build/sample.h5 with h5py"
/usr/bin/python3 - <<'PY'
import h5py
f = h5py.File("sample.h5", "r")
print(f["features/pool5"].shape, f["images/path"][0].decode(), f["images/status"][:].tolist())
PY
