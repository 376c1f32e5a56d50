#!/usr/bin/env bash
# The test command: installs what is missing, builds twice — release and
# AddressSanitizer+UBSan — and runs the whole ctest suite on each.
#
# usage: scripts/test.sh
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
jobs=$(nproc)

"$root/scripts/setup.sh" "$root/build"
(cd "$root/build" && ctest --output-on-failure -j "$jobs")

"$root/scripts/setup.sh" "$root/build-asan" -DR50_SANITIZE=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo
(cd "$root/build-asan" && ASAN_OPTIONS=detect_leaks=1 ctest --output-on-failure -j "$jobs")
