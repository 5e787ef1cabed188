#!/usr/bin/env bash
# scripts/test/interop.sh — interop tests of wsmachine's Rust examples (echo-server,
# echo-client), with and without permessage-deflate, against:
#   1. Python `websockets` (tests/interop/*.py, pytest; <repo>/.venv via
#      scripts/setup/python-venv.sh);
#   2. Node's `ws` (tests/interop/node/ws.test.mjs);
#   3. headless Chromium's own WebSocket, driven by playwright-core
#      (tests/interop/node/chromium.test.mjs).
# 2 and 3 run under `node --test`; scripts/setup/node-interop.sh installs the pinned npm
# packages into tests/interop/node/node_modules, scripts/setup/chromium.sh the Debian
# `chromium` package (system-wide) when it is missing.
#
# Extra arguments go to pytest (e.g. `-k close -v`). INTEROP_NODE=0 skips 2 and 3.
# Each part runs under a time limit (INTEROP_TIMEOUT seconds, default 900); the tests stop the
# servers they start by PID (and the servers exit by themselves after --max-seconds).
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
LIMIT=${INTEROP_TIMEOUT:-900}
PY=$("$REPO/scripts/setup/python-venv.sh" | tail -n1)
cd "$REPO"
cargo build --quiet --release -p wsmachine-examples --bins
BIN=${CARGO_TARGET_DIR:-$REPO/target}/release

status=0
echo "interop: Python websockets (pytest)"
timeout --kill-after=10 "$LIMIT" "$PY" -m pytest tests/interop -q -p no:cacheprovider "$@" ||
    status=$?

if [[ ${INTEROP_NODE:-1} != 0 ]]; then
    bash scripts/setup/node-interop.sh | tail -n1
    CHROMIUM_LINE=$(bash scripts/setup/chromium.sh | tail -n1)
    echo "$CHROMIUM_LINE"
    echo "interop: Node ws and headless Chromium (node --test)"
    ECHO_SERVER=$BIN/echo-server ECHO_CLIENT=$BIN/echo-client \
        timeout --kill-after=10 "$LIMIT" node --test --test-reporter=spec \
        tests/interop/node/ws.test.mjs tests/interop/node/chromium.test.mjs || status=$?
fi
echo "interop: exit $status"
exit "$status"
