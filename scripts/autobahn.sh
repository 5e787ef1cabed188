#!/usr/bin/env bash
# scripts/autobahn.sh — RFC 6455 conformance with Autobahn|Testsuite.
#
#   scripts/autobahn.sh [all|server|client]      (default: all)
#
# 1. installs wstest into .tools/autobahn (scripts/autobahn-install.sh; ~30 s
#    the first time, ~1 s after);
# 2. builds the Rust examples (cargo build --release -p wsmachine-examples);
# 3. server mode: starts `echo-server` on a free 127.0.0.1 port and runs
#    `wstest -m fuzzingclient` against it;
# 4. client mode: starts `wstest -m fuzzingserver` on a free 127.0.0.1 port and
#    runs `echo-client autobahn` against it;
# 5. prints a per-group summary for each mode (scripts/autobahn_summary.py).
#
# Exit status: 0 when every mode passes; 1 when a mode has a FAILED behaviour
# or close behaviour, or a NON-STRICT case in groups 1-10 (see the summary
# script); 2 when a mode produced no report; 3 on a setup problem.
#
# Environment:
#   AUTOBAHN_CASES     comma-separated case patterns to run (default "*": all 517)
#   AUTOBAHN_EXCLUDE   comma-separated case patterns to skip (default none)
#   AUTOBAHN_REPORTS   report directory (default <repo>/autobahn-reports); each
#                      mode writes <dir>/server or <dir>/client (HTML + JSON)
#   AUTOBAHN_TIMEOUT   limit for each mode in seconds (default 900)
#   AUTOBAHN_PREFIX    where wstest is installed (default <repo>/.tools/autobahn)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
MODES=${1:-all}
case $MODES in
  all) MODES="server client" ;;
  server | client) ;;
  *) sed -n '2,26p' "$0" | sed 's/^# \{0,1\}//'; exit 3 ;;
esac
CASES=${AUTOBAHN_CASES:-*}
EXCLUDE=${AUTOBAHN_EXCLUDE:-}
REPORTS=${AUTOBAHN_REPORTS:-$REPO/autobahn-reports}
TIMEOUT=${AUTOBAHN_TIMEOUT:-900}
AGENT=wsmachine

say() { printf 'autobahn: %s\n' "$*"; }

# --- setup -------------------------------------------------------------------
WSTEST=$("$HERE/autobahn-install.sh" | sed -n 's/^wstest: //p')
[[ -x $WSTEST ]] || { say "wstest installation failed"; exit 3; }
say "building the Rust examples (release)"
(cd "$REPO" && cargo build --quiet --release -p wsmachine-examples --bins) || exit 3
BIN=${CARGO_TARGET_DIR:-$REPO/target}/release

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# JSON spec for wstest: write_spec FILE KEY=VALUE... (values are JSON)
write_spec() {
  local file=$1; shift
  CASES="$CASES" EXCLUDE="$EXCLUDE" python3 - "$file" "$@" <<'EOF'
import json, os, sys
split = lambda s: [c.strip() for c in s.split(",") if c.strip()]
spec = {
    "options": {},
    "cases": split(os.environ["CASES"]) or ["*"],
    "exclude-cases": split(os.environ["EXCLUDE"]),
    "exclude-agent-cases": {},
}
for kv in sys.argv[2:]:
    k, v = kv.split("=", 1)
    spec[k] = json.loads(v)
with open(sys.argv[1], "w") as f:
    json.dump(spec, f, indent=2)
EOF
}

# Waits (up to $2 seconds) until something listens on 127.0.0.1:$1.
wait_listening() {
  local i
  for ((i = 0; i < $2 * 10; i++)); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}

# Kills a process we started (by PID), politely first.
stop_pid() {
  local pid=$1 i
  kill "$pid" 2>/dev/null || return 0
  for ((i = 0; i < 50; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

PIDS=()
cleanup() { local p; for p in "${PIDS[@]}"; do stop_pid "$p"; done; }
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- server mode: wstest fuzzingclient -> echo-server --------------------------
run_server_mode() {
  local out=$REPORTS/server port spid t0 rc
  rm -rf "$out"; mkdir -p "$out"
  port=$(free_port)
  "$BIN/echo-server" --host 127.0.0.1 --port "$port" --max-seconds "$((TIMEOUT + 60))" \
    >"$out/echo-server.log" 2>&1 &
  spid=$!; PIDS+=("$spid")
  wait_listening "$port" 10 || { cat "$out/echo-server.log"; say "echo-server did not start"; return 3; }
  write_spec "$out/spec.json" "outdir=\"$out\"" \
    "servers=[{\"agent\": \"$AGENT\", \"url\": \"ws://127.0.0.1:$port\"}]"
  say "server mode: wstest fuzzingclient -> echo-server on 127.0.0.1:$port, cases [$CASES] exclude [$EXCLUDE]"
  t0=$SECONDS
  set +e
  (cd "$out" && timeout --kill-after=10 "$TIMEOUT" "$WSTEST" -m fuzzingclient -s spec.json >wstest.log 2>&1)
  rc=$?
  set -e
  stop_pid "$spid"
  SERVER_SECONDS=$((SECONDS - t0))
  say "server mode: wstest exited $rc after ${SERVER_SECONDS} s"
  [[ $rc == 0 ]] || tail -n 15 "$out/wstest.log"
  return 0
}

# --- client mode: echo-client -> wstest fuzzingserver --------------------------
run_client_mode() {
  local out=$REPORTS/client port wpid t0 rc
  rm -rf "$out"; mkdir -p "$out"
  port=$(free_port)
  write_spec "$out/spec.json" "outdir=\"$out\"" "url=\"ws://127.0.0.1:$port\""
  say "client mode: echo-client -> wstest fuzzingserver on 127.0.0.1:$port, cases [$CASES] exclude [$EXCLUDE]"
  t0=$SECONDS
  # -u 0: no embedded web server. WSTEST_LISTEN_INTERFACE: the launcher written
  # by autobahn-install.sh binds 127.0.0.1 only (upstream binds 0.0.0.0).
  (cd "$out" && WSTEST_LISTEN_INTERFACE=127.0.0.1 exec timeout --kill-after=10 "$((TIMEOUT + 60))" \
    "$WSTEST" -m fuzzingserver -s spec.json -u 0 >wstest.log 2>&1) &
  wpid=$!; PIDS+=("$wpid")
  wait_listening "$port" 30 || { cat "$out/wstest.log"; say "fuzzingserver did not start"; return 3; }
  set +e
  timeout --kill-after=10 "$TIMEOUT" "$BIN/echo-client" autobahn \
    --url "ws://127.0.0.1:$port" --agent "$AGENT" >"$out/echo-client.log" 2>&1
  rc=$?
  set -e
  stop_pid "$wpid"
  CLIENT_SECONDS=$((SECONDS - t0))
  say "client mode: echo-client exited $rc after ${CLIENT_SECONDS} s"
  [[ $rc == 0 ]] || tail -n 15 "$out/echo-client.log"
  return 0
}

STATUS=0
LAST_LINES=()
for mode in $MODES; do
  "run_${mode}_mode" || { STATUS=3; continue; }
  set +e
  python3 "$HERE/autobahn_summary.py" "$REPORTS/$mode" --label "$mode" | tee "$REPORTS/$mode/summary.txt"
  rc=${PIPESTATUS[0]}
  set -e
  LAST_LINES+=("$(tail -n1 "$REPORTS/$mode/summary.txt")")
  say "$mode mode report: $REPORTS/$mode/index.html"
  ((rc > STATUS)) && STATUS=$rc
done
echo
for line in "${LAST_LINES[@]}"; do echo "$line"; done
say "wall time: server ${SERVER_SECONDS:--} s, client ${CLIENT_SECONDS:--} s; exit $STATUS"
exit "$STATUS"
