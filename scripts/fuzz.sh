#!/usr/bin/env bash
# Fuzz every harness (tests/fuzz/: libFuzzer harnesses of the config JSON, .npy, weights-file and app
# spec parsers, built with clang -fsanitize=fuzzer,address,undefined; the atheris harness of the
# Python loader and passes) for SECONDS each (default 60). Prints the inputs executed and the
# crashes per harness; a crash's input is saved under fuzz-out/crashes/ (the corpora grow in
# fuzz-out/corpus/) and makes the exit status 1. Needs clang (bash scripts/setup.sh --fuzz).
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_EACH=${1:-60}
case $SECONDS_EACH in
  ''|*[!0-9]*) echo "error: SECONDS must be a whole number, got '$SECONDS_EACH' (usage: scripts/fuzz.sh [SECONDS])" >&2; exit 2 ;;
esac
[ -x .venv/bin/python ] || { echo "error: no .venv: run bash scripts/setup.sh --fuzz first" >&2; exit 2; }
exec .venv/bin/python tests/fuzz/harnesses.py --seconds "$SECONDS_EACH" --out "${FUZZ_OUT:-fuzz-out}"
