#!/usr/bin/env bash
# scripts/test/interop.sh — interop tests: wsmachine's Rust examples against Python
# `websockets` (tests/interop). Creates/updates <repo>/.venv (scripts/setup/python-venv.sh),
# builds the examples in release mode, then runs pytest. Extra arguments go to
# pytest (e.g. `-k close -v`).
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
PY=$("$REPO/scripts/setup/python-venv.sh" | tail -n1)
cd "$REPO"
cargo build --quiet --release -p wsmachine-examples --bins
exec "$PY" -m pytest tests/interop -q -p no:cacheprovider "$@"
