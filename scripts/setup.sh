#!/usr/bin/env bash
# Set up everything onnx2cedr needs in ./.venv: the package (non-editable, so the CLI works from any
# folder with the kernels inside the wheel) and the test/demo extras. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
command -v g++ >/dev/null || command -v c++ >/dev/null || {
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq && apt-get install -y -qq g++ >/dev/null
  else
    echo "error: no C++ compiler found; install g++" >&2; exit 2
  fi
}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip >/dev/null 2>&1 || true
# torch 2.13.0 is pinned exactly: that CPU wheel is what this machine provides
mkdir -p .venv/log
if ! .venv/bin/python -m pip install ".[test]" > .venv/log/pip-install.log 2>&1; then
  tail -n 30 .venv/log/pip-install.log >&2
  echo "error: installing onnx2cedr into .venv failed (full log: .venv/log/pip-install.log)" >&2
  exit 2
fi
.venv/bin/python -c "import onnx2cedr, onnxruntime, torch" || { echo "error: set-up failed" >&2; exit 2; }
