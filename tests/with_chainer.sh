#!/usr/bin/env bash
# Runs a command with Chainer's Python first on PATH (so `python3` and scripts starting
# `#!/usr/bin/env python3` get Chainer), or skips the test (exit 77) when Chainer is
# not installed (scripts/setup.sh installs it into .venv-chainer).
# usage: with_chainer.sh CHAINER_PYTHON COMMAND...
py=$1
shift
if ! "$py" -c "import chainer" 2>/dev/null; then
  echo "SKIP: Chainer is not installed at $py (scripts/setup.sh installs it)"
  exit 77
fi
PATH="$(dirname "$py"):$PATH" exec "$@"
