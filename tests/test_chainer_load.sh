#!/usr/bin/env bash
# A model r50worker saves loads in Chainer (chainer.serializers.load_npz into
# ResNet{50,101}Layers), for MSRA and FB. Run through with_chainer.sh.
# usage: test_chainer_load.sh MODEL_TOOL ORACLE_CHAINER_PY
set -euo pipefail
tool=$1
oracle=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for arch in 50 101; do
  for fb in 0 1; do
    "$tool" init 5 "$tmp/m.npz" "$arch" "$fb"
    fbflag=()
    [[ $fb == 1 ]] && fbflag=(--fb)
    python3 "$oracle" --arch "$arch" "${fbflag[@]}" --load "$tmp/m.npz"
  done
done
echo "test_chainer_load: Chainer loads every model r50worker saved"
