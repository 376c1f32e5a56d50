#!/usr/bin/env bash
# The main job on built-in data: installs what is missing, builds, shows the network and
# runs a short forward benchmark on random input with random weights (no pretrained
# model needs to be installed).
#
# usage: scripts/demo.sh
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$root/scripts/setup.sh" "$root/build"
bin=$root/build/r50worker
echo "== r50worker info --model none   (random weights: no pretrained model needed)"
"$bin" info --model none
echo "== r50worker bench --model none --batch 8 --threads 2 --seconds 5"
"$bin" bench --model none --batch 8 --threads 2 --seconds 5
