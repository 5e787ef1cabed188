#!/usr/bin/env bash
# scripts/tools/demo.sh — `make demo`: the wsmachine-hub chat on 127.0.0.1.
#
# Builds wsmachine-hub (release) and runs it in the foreground with the embedded defaults
# (in-process broker and history, no Redis) and the demo login (any name), then prints
#   demo: http://127.0.0.1:8080/
# Open that URL in two tabs (or two browsers) and chat. Ctrl-C stops it (with a drain).
#
# Environment: PORT (default 8080; 0 picks a free one), HUB_SECRET (default: a fresh random
# key per run, so logins do not survive a restart unless you set it), HUB_ARGS (more flags,
# see `wsmachine-hub --help` and docs/hub.md).
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build --quiet --release -p wsmachine-hub
bin=${CARGO_TARGET_DIR:-target}/release/wsmachine-hub
export PORT=${PORT:-8080}
# The hub prints "wsmachine-hub: listening on http://HOST:PORT/" first; the demo line follows.
# shellcheck disable=SC2086
exec "$bin" --demo-login ${HUB_ARGS:-} > >(sed -u 's|^wsmachine-hub: listening on \(http://[^ ]*\)$|&\ndemo: \1|')
