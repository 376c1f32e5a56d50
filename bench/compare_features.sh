#!/usr/bin/env bash
# Features of two r50worker builds on the real test photos, compared bit for bit:
# every layer that `extract` can store, MSRA and FB, with seeded random weights (and
# the pretrained ResNet-50 too when it is installed). For checking that a rebuild or
# a refactoring changed no result.
#
# usage: bench/compare_features.sh OLD_R50WORKER NEW_R50WORKER
set -euo pipefail
# shellcheck disable=SC2034 # read by name below (${!b})
old=$1 new=$2
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
/usr/bin/python3 -c "import sys; sys.path.insert(0, '$root/tests'); import photos; \
photos.make_dataset('$tmp/photos', 40)"
models=(none)
weights=${CHAINER_DATASET_ROOT:-$HOME/.chainer/dataset}/pfnet/chainer/models/ResNet-50-model.npz
[[ -f $weights ]] && models+=(auto)
status=0
for model in "${models[@]}"; do
  for fb in "" --downsample-fb; do
    for b in old new; do
      bin=${!b}
      "$bin" extract --model "$model" $fb --layers conv1,pool1,res2,res3,res4,res5,pool5,fc6,prob \
        --batch 5 --threads 2 "$tmp/photos" -o "$tmp/$b.h5" --overwrite 2>"$tmp/$b.log" ||
        { cat "$tmp/$b.log"; exit 1; }
    done
    /usr/bin/python3 - "$tmp/old.h5" "$tmp/new.h5" "$model ${fb:-MSRA}" <<'PY' || status=1
import sys, h5py
a, b = h5py.File(sys.argv[1], "r"), h5py.File(sys.argv[2], "r")
same = all(a[f"features/{k}"][()].tobytes() == b[f"features/{k}"][()].tobytes()
           for k in a["features"])
rows = int((a["images/status"][()] == 1).sum())
print(f"{sys.argv[3]}: {'bit-identical' if same else 'DIFFERENT'} on every layer, "
      f"{rows} photos")
sys.exit(0 if same else 1)
PY
  done
done
exit $status
