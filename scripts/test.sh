#!/usr/bin/env bash
# Set up, then run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"
# one worker per core (pytest-xdist), each test file on one worker so module fixtures run once;
# `-n 0` runs serially
exec .venv/bin/python -m pytest -q -p no:cacheprovider -n auto --dist loadfile "$@"
