#!/usr/bin/env bash
# Refresh requirements.lock: resolve onnx2cedr[test] in a throw-away virtualenv (no cache, so nothing
# already installed leaks in) and freeze every installed package, pip, setuptools and wheel included.
# Packages the current lock pins keep their versions (it is passed as constraints), so a new
# requirement adds only what it needs; `bash scripts/lock.sh --upgrade` resolves everything anew.
# scripts/setup.sh installs exactly these versions; review the diff, run `bash scripts/test.sh`, then
# commit the lock.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
keep=()
if [ "${1:-}" != "--upgrade" ] && [ -f requirements.lock ]; then
  keep=(-c requirements.lock)
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$PY" -m venv "$tmp/venv"
"$tmp/venv/bin/python" -m pip install -q --no-cache-dir --upgrade pip "${keep[@]}"
"$tmp/venv/bin/python" -m pip install -q --no-cache-dir ".[test]" "${keep[@]}"
{
  echo "# Locked environment of onnx2cedr[test], what scripts/setup.sh installs (and so CI)."
  echo "# Resolved for $("$tmp/venv/bin/python" -c 'import platform, sys; print(f"CPython {sys.version.split()[0]} on {platform.machine()}")') on $(date -u +%Y-%m-%d)."
  echo "# Regenerate with: bash scripts/lock.sh   (never edit by hand; pyproject.toml keeps the ranges for users)"
  "$tmp/venv/bin/python" -m pip freeze --all --exclude onnx2cedr | LC_ALL=C sort -f
} > requirements.lock.new
mv requirements.lock.new requirements.lock
echo "wrote requirements.lock ($(grep -vc '^#' requirements.lock) packages)"
