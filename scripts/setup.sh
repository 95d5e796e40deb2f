#!/usr/bin/env bash
# Set up everything onnx2cedr needs in ./.venv: the locked test/demo environment (requirements.lock)
# and the package (non-editable, so the CLI works from any folder with the kernels inside the wheel).
# Idempotent. --aarch64 also installs the aarch64 cross toolchain and qemu-user (convert --target
# aarch64-linux-gnu, the runtime's cross build, tests/test_deploy.py), --fuzz clang with libFuzzer
# (tests/fuzz/, scripts/fuzz.sh): apt-get when root, else the command to run is printed and the
# set-up fails.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
AARCH64=0
FUZZ=0
for arg in "$@"; do
  case $arg in
    --aarch64) AARCH64=1 ;;
    --fuzz) FUZZ=1 ;;
    *) echo "error: unknown option '$arg' (usage: scripts/setup.sh [--aarch64] [--fuzz])" >&2; exit 2 ;;
  esac
done
if [ "$AARCH64" = 1 ] && ! { command -v aarch64-linux-gnu-g++ && command -v qemu-aarch64; } >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq && apt-get install -y -qq g++-aarch64-linux-gnu qemu-user >/dev/null
  else
    echo "error: the aarch64 cross tools are missing: run  sudo apt-get install -y g++-aarch64-linux-gnu qemu-user" >&2
    exit 2
  fi
fi
if [ "$FUZZ" = 1 ] && ! command -v clang++ >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq && apt-get install -y -qq clang >/dev/null
  else
    echo "error: clang is missing (the fuzz harnesses need it with libFuzzer): run  sudo apt-get install -y clang" >&2
    exit 2
  fi
fi
command -v g++ >/dev/null || command -v c++ >/dev/null || {
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq && apt-get install -y -qq g++ >/dev/null
  else
    echo "error: no C++ compiler found; install g++" >&2; exit 2
  fi
}
# the lock is resolved for one Python (its header says which): another needs its own lock
want=$(sed -n 's/^# Resolved for CPython \([0-9]*\.[0-9]*\).*/\1/p' requirements.lock)
have=$("$PY" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")' 2>/dev/null || echo none)
if [ "$have" != "$want" ]; then
  echo "error: requirements.lock is resolved for Python $want, $PY is $have: set PYTHON=python$want, or run scripts/lock.sh with PYTHON=$PY" >&2
  exit 2
fi
[ -x .venv/bin/python ] || "$PY" -m venv .venv
mkdir -p .venv/log
# Every package comes from requirements.lock at its exact version (scripts/lock.sh regenerates it):
# pip itself first, then the lock without resolving anything, then onnx2cedr built with the locked
# setuptools/wheel. torch 2.13.0+cpu is the CPU wheel this machine provides.
install() {  # install ARGS...: pip quietly, its log kept, the tail shown on failure
  if ! .venv/bin/python -m pip install --disable-pip-version-check "$@" >> .venv/log/pip-install.log 2>&1; then
    tail -n 30 .venv/log/pip-install.log >&2
    echo "error: installing into .venv failed (pip install $*; full log: .venv/log/pip-install.log)" >&2
    exit 2
  fi
}
: > .venv/log/pip-install.log
install "$(grep -E '^pip==' requirements.lock)"
install --no-deps -r requirements.lock
install --no-deps --no-build-isolation .
.venv/bin/python scripts/check_lock.py || exit 2
.venv/bin/python -m pip check > .venv/log/pip-check.log 2>&1 || {
  sed 's/^/error: pip check: /' .venv/log/pip-check.log >&2; exit 2; }
.venv/bin/python -c "import onnx2cedr, onnxruntime, torch" || { echo "error: set-up failed" >&2; exit 2; }
