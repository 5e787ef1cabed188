#!/usr/bin/env bash
# scripts/test/hub.sh — `make hub`: the wsmachine-hub tests with real components:
#   1. scale-out (hub/tests/scaleout.rs): redis-server, two hub processes and nginx running
#      hub/deploy/nginx.conf — kill -9 of an instance, Redis restart;
#   2. the demo chat in headless Chromium (hub/tests/browser/chat.test.mjs), started through
#      `make demo`'s own script, with the Redis broker;
#   3. the load scenarios of `make load` at small scale (scripts/tools/load.sh --quick:
#      idle, fan-out, reconnect storm, slow consumers, descriptor exhaustion; invariants
#      checked: nothing lost or repeated, policies applied, the hub serves again).
# (The hub's other Rust tests run in `cargo test`; there the scale-out test skips itself when
# the tools are missing, here it must run: HUB_REQUIRE_TOOLS=1.)
#
# Installs what it needs: redis-server and nginx unpacked from the Debian packages into
# .tools/hub (scripts/setup/hub-tools.sh: user space, no service started), the pinned npm
# packages of tests/interop/node (scripts/setup/node-interop.sh) and the Debian `chromium`
# package when missing (scripts/setup/chromium.sh, system-wide). Screenshots:
# target/hub-browser/*.png.
# Time limit HUB_TIMEOUT seconds (default 600); the test stops the hubs it starts by PID.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
LIMIT=${HUB_TIMEOUT:-600}
cd "$REPO"
cargo build --quiet --release -p wsmachine-hub
TOOLS=$(bash scripts/setup/hub-tools.sh)
echo "$TOOLS"
HUB_REDIS_SERVER=$(sed -n 's/^redis-server: //p' <<<"$TOOLS")
HUB_NGINX=$(sed -n 's/^nginx: //p' <<<"$TOOLS")
export HUB_REDIS_SERVER HUB_NGINX HUB_REQUIRE_TOOLS=1
echo "hub: scale-out (redis-server, two hubs, nginx)"
status=0
timeout --kill-after=10 "$LIMIT" cargo test --quiet -p wsmachine-hub --test scaleout || status=$?
bash scripts/setup/node-interop.sh | tail -n1
bash scripts/setup/chromium.sh | tail -n1
echo "hub: the demo chat in headless Chromium (node --test)"
HUB_ARTIFACTS=${CARGO_TARGET_DIR:-$REPO/target}/hub-browser \
    timeout --kill-after=10 "$LIMIT" node --test --test-reporter=spec \
    hub/tests/browser/chat.test.mjs || status=$?
echo "hub: load scenarios at small scale"
timeout --kill-after=10 "$LIMIT" bash scripts/tools/load.sh --quick || status=$?
echo "hub: exit $status (screenshots in ${CARGO_TARGET_DIR:-target}/hub-browser)"
exit "$status"
