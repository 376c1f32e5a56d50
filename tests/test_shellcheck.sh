#!/usr/bin/env bash
# Runs ShellCheck on every shell script of the repository (following sourced files).
# usage: test_shellcheck.sh REPO_ROOT
set -euo pipefail
cd "$1"
command -v shellcheck >/dev/null || { echo "SKIP: shellcheck is not installed"; exit 77; }
mapfile -t files < <(find scripts slurm tests bench .ci -type f \
  \( -name '*.sh' -o -name '*.sbatch' -o -name run \) | sort)
echo "shellcheck on ${#files[@]} scripts"
shellcheck -x "${files[@]}"
echo "shellcheck: clean"
