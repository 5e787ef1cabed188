#!/usr/bin/env bash
# scripts/tools/build-wheel.sh — build the Python wheel (one abi3 wheel for CPython >= 3.9, import
# name `wsmachine`) into <repo>/dist (git-ignored) with the pinned maturin of the repo venv
# (scripts/setup/python-venv.sh). Prints the wheel's path on its last line.
#   --install   also (re)install the wheel into <repo>/.venv
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
PY=$("$REPO/scripts/setup/python-venv.sh" | tail -n 1)
VENV_BIN=$(dirname "$PY")
mkdir -p "$REPO/dist"
rm -f "$REPO"/dist/wsmachine-*.whl
(cd "$REPO" && "$VENV_BIN/maturin" build --quiet --release -m python/Cargo.toml --out dist >&2)
WHEEL=$(ls "$REPO"/dist/wsmachine-*.whl)
if [[ ${1:-} == --install ]]; then
  PIP_DISABLE_PIP_VERSION_CHECK=1 "$PY" -m pip install -q --force-reinstall --no-deps "$WHEEL" >&2
fi
echo "$WHEEL"
