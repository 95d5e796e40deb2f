#!/usr/bin/env bash
# Set up, then run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
# CI (the CI variable set) also installs the aarch64 cross tools, so tests/test_deploy.py runs there,
# and clang, so tests/fuzz/test_fuzz.py fuzzes there
bash scripts/setup.sh ${CI:+--aarch64} ${CI:+--fuzz}
export PATH="$PWD/.venv/bin:$PATH"
# one worker per core (pytest-xdist), each test file on one worker so module fixtures run once;
# `-n 0` runs serially
exec .venv/bin/python -m pytest -q -p no:cacheprovider -n auto --dist loadfile "$@"
