#!/usr/bin/env bash
# `make demo-echo`: starts the Rust echo server on loopback, has the Rust client send a few messages
# (ASCII, multi-byte text, binary) through it, prints what comes back, and stops the server.
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build --quiet --release -p wsmachine-examples
bin=target/release
log=$(mktemp)
"$bin/echo-server" --host 127.0.0.1 --port "${DEMO_PORT:-0}" --subprotocol chat --verbose >"$log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true; cat "$log"; rm -f "$log"' EXIT
port=
for _ in $(seq 100); do
    port=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$log")
    [ -n "$port" ] && break
    sleep 0.1
done
[ -n "$port" ] || { echo "demo: the echo server did not start" >&2; exit 1; }
echo "== echo-server listening on ws://127.0.0.1:$port (pid $server)"
echo "== echo-client: three messages, then a clean close"
"$bin/echo-client" send --url "ws://127.0.0.1:$port/demo" --subprotocol chat \
    --text "hello, wsmachine" --text "κόσμε — ünïcödé ✓" --binary-hex 00ff10fe
sleep 0.2
echo "== done; the server's log:"
