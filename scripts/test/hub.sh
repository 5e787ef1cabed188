#!/usr/bin/env bash
# scripts/test/hub.sh — `make hub`: the wsmachine-hub tests that need more than cargo:
# the demo chat in headless Chromium (hub/tests/browser/chat.test.mjs), started through
# `make demo`'s own script. (The hub's Rust unit and integration tests run in `cargo test`.)
#
# Installs what it needs like `make interop`: the pinned npm packages of tests/interop/node
# (scripts/setup/node-interop.sh) and the Debian `chromium` package when missing
# (scripts/setup/chromium.sh, system-wide). Screenshots: target/hub-browser/*.png.
# Time limit HUB_TIMEOUT seconds (default 600); the test stops the hubs it starts by PID.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
LIMIT=${HUB_TIMEOUT:-600}
cd "$REPO"
cargo build --quiet --release -p wsmachine-hub
bash scripts/setup/node-interop.sh | tail -n1
bash scripts/setup/chromium.sh | tail -n1
echo "hub: the demo chat in headless Chromium (node --test)"
status=0
HUB_ARTIFACTS=${CARGO_TARGET_DIR:-$REPO/target}/hub-browser \
    timeout --kill-after=10 "$LIMIT" node --test --test-reporter=spec \
    hub/tests/browser/chat.test.mjs || status=$?
echo "hub: exit $status (screenshots in ${CARGO_TARGET_DIR:-target}/hub-browser)"
exit "$status"
